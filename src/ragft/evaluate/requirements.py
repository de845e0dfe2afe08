"""What the user needs (`[requirements]`) and the per-arm evidence the recommendation rules read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    min_accuracy: float = 0.5
    queries_per_month: int = 0  # 0: not stated (the cost crossover then gives no monthly figure)
    serving_hardware: str = ""  # "": served on this machine; else latency measured here is not checked against the budget

    @classmethod
    def from_config(cls, config: RequirementsConfig, *, corpus_has_acl: bool) -> Requirements:
        """Validate the settings; `restricted_data = "auto"` follows whether any document has an acl."""
        if config.update_frequency not in UPDATE_INTERVAL_S:
            raise ConfigError(
                f"[requirements] update_frequency = {config.update_frequency!r}; choose one of: {', '.join(UPDATE_INTERVAL_S)}"
            )
        choices = {"auto": corpus_has_acl, "yes": True, "no": False}
        if config.restricted_data not in choices:
            raise ConfigError(f"[requirements] restricted_data = {config.restricted_data!r}; choose one of: auto, yes, no")
        return cls(
            config.latency_budget_p95_s,
            config.update_frequency,
            config.citations_required,
            choices[config.restricted_data],
            config.min_accuracy,
            config.queries_per_month,
            config.serving_hardware.strip(),
        )


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
    correct: Mapping[str, bool] = field(default_factory=dict)  # qid -> right; the paired tests read it
    failures: Mapping[str, int] = field(default_factory=dict)  # failure class -> count of wrong answers
    failures_by_kind: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # probe kind -> failure class -> count


def _interval(raw: Mapping[str, Any] | None) -> Interval | None:
    return _measured(raw) if raw else None


def _measured(raw: Mapping[str, Any]) -> Interval:
    return Interval(raw["value"], raw["low"], raw["high"], raw["n"])


def evidence_from_summary(summary: Mapping[str, Any]) -> list[ArmEvidence]:
    """The evidence `CompareResult.evidence()` gives, rebuilt from a summary.json: the report's verdict from results alone."""
    correct = summary.get("paired", {}).get("correct", {})
    out = []
    for arm, raw in summary["arms"].items():
        m = raw["overall"]
        fresh = summary.get("freshness", {}).get(arm)
        refresh = fresh["refresh"] if fresh else None
        leak = _interval(m.get("leak_rate"))
        fresh_after = _interval(fresh.get("fresh_after")) if fresh else None
        out.append(
            ArmEvidence(
                arm,
                _measured(m["accuracy"]),
                _measured(m["latency_p95_s"]),
                _interval(m.get("citation_rate")),
                leak if leak and leak.n else None,
                refresh["seconds"] if refresh and refresh["method"] != "none" else None,
                refresh["method"] if refresh else None,
                refresh["performed"] if refresh else True,
                fresh_after.value if fresh_after and fresh_after.n else None,
                {q: bool(v) for q, v in correct.get(arm, {}).items()},
                dict(raw.get("failures", {})),
                raw.get("failures_by_kind", {}),
            )
        )
    return out
