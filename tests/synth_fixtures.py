"""The small handbook the training-data tests synthesize from (facts with values, two sections)."""

from __future__ import annotations

HANDBOOK_TEXT = (
    "# Handbook\n\nOrrivale was founded in 2017 in Tampere by two engineers. "
    "The standard working week is 37.5 hours for every employee. "
    "Laptops are refreshed every 3 years by the IT desk.\n\n## Travel\n\n"
    "The hotel cap is 180 EUR per night in every city. Rail is preferred for journeys under 4 hours door to door. "
    "Claims must be filed within 30 calendar days of the trip.\n"
)

# Sentences the rules once made no fact of: an old year, a full date, a century, a value in an opening phrase,
# a subject asked for by its predicate, what a verb acts on, a definition ("X is the Y"), a possessive and a name that modifies a noun.
HARBOUR_TEXT = (
    "The Harrow bridge was completed in 1788 by the river guild. "
    "The Quellen Archive is the oldest library of the eastern provinces. "
    "Ingrid Malvik argued that the harbour should stay public, and the council agreed with her in a vote the next spring. "
    "In 1802, the river guild opened a second toll house near the mill, which the town later bought for a school. "
    "The harbour museum reopened on 12 March 2019 after the great flood. "
    "Velmora was settled in the 14th century by fishermen from the north. "
    "The Harrow walls were made of grey granite from the northern quarry. "
    "Storms damaged Velmora's harbour wall and the Kessel pumps twice.\n"
)
