"""What the user needs (`[requirements]`) and the per-arm evidence the recommendation rules read."""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config import ConfigError, RequirementsConfig
from ragft.evaluate.stats import Interval

UPDATE_INTERVAL_S = {"daily": 86_400.0, "weekly": 7 * 86_400.0, "monthly": 30 * 86_400.0, "rarely": None}


@dataclass(frozen=True)
class Requirements:
    """What the user needs, from `[requirements]` in ragft.toml."""

    latency_budget_p95_s: float = 5.0
    update_frequency: str = "weekly"
    citations_required: bool = False
    restricted_data: bool = False

    @classmethod
    def from_config(cls, config: RequirementsConfig, *, corpus_has_acl: bool) -> Requirements:
        """Validate the settings; `restricted_data = "auto"` follows whether any document has an acl."""
        if config.update_frequency not in UPDATE_INTERVAL_S:
            raise ConfigError(f"[requirements] update_frequency = {config.update_frequency!r}; choose one of: {', '.join(UPDATE_INTERVAL_S)}")
        choices = {"auto": corpus_has_acl, "yes": True, "no": False}
        if config.restricted_data not in choices:
            raise ConfigError(f"[requirements] restricted_data = {config.restricted_data!r}; choose one of: auto, yes, no")
        return cls(config.latency_budget_p95_s, config.update_frequency, config.citations_required, choices[config.restricted_data])


@dataclass(frozen=True)
class ArmEvidence:
    """The measurements of one arm that the rules look at."""

    arm: str
    accuracy: Interval
    latency_p95_s: Interval
    citation_rate: Interval | None = None
    leak_rate: Interval | None = None
    refresh_s: float | None = None  # time to become fresh after a corpus update
    refresh_method: str | None = None  # "re-index" | "retrain" | "none"
    refresh_performed: bool = True  # False: the time comes from a manifest; the refresh was not run here
    fresh_after: float | None = None  # share of changed facts answered with the new value after the refresh (measured)
