"""The small handbook the training-data tests synthesize from (facts with values, two sections)."""

from __future__ import annotations

HANDBOOK_TEXT = (
    "# Handbook\n\nOrrivale was founded in 2017 in Tampere by two engineers. "
    "The standard working week is 37.5 hours for every employee. "
    "Laptops are refreshed every 3 years by the IT desk.\n\n## Travel\n\n"
    "The hotel cap is 180 EUR per night in every city. Rail is preferred for journeys under 4 hours door to door. "
    "Claims must be filed within 30 calendar days of the trip.\n"
)
