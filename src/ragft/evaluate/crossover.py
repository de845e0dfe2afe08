"""Cost crossover: after how many questions a trained arm's cheaper answers repay its training.

Costs are machine time on the machine the comparison ran on, all measured in the run:

- build cost (s): training (an adapter arm: the manifest's wall time) plus indexing (a retrieving arm);
- cost per answer (s): the mean answer time over every probe (the mean, not a percentile, because
  costs add up), with the mean prompt tokens beside it: a closed-book arm's prompt carries no
  passages, which is where its answers save;
- cost per corpus update (s): an adapter arm is trained again (its training time, plus a re-index
  when it also retrieves); a retrieving arm re-indexes (its indexing time: a full re-index, an
  upper bound on an incremental one).

For a trained arm a against an untrained arm b, with saving = per-answer(b) - per-answer(a) and
extra = build(a) - build(b):

- saving <= 0: a's answers are not cheaper, so its training **never repays**;
- extra <= 0 < saving: a repays from the first question (0);
- otherwise a repays after ceil(extra / saving) questions.

With documents that change (`[requirements] update_frequency`: daily = 30, weekly = 30/7, monthly =
1, rarely = 0 updates a month), a must repay its *re-training* between every two updates: after
ceil((update(a) - update(b)) / saving) questions per update. With `[requirements]
queries_per_month` the monthly machine time of both arms is given too, and whether a's answers
repay its re-training at that volume.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

UPDATES_PER_MONTH = {"daily": 30.0, "weekly": 30.0 / 7.0, "monthly": 1.0, "rarely": 0.0}


@dataclass(frozen=True)
class ArmCostProfile:
    """What one arm costs, measured: building it, each answer, and catching up with a corpus update."""

    arm: str
    build_s: float  # training + indexing
    per_answer_s: float  # mean answer time
    prompt_tokens: float | None  # mean prompt tokens per answer (None: the engine did not report them)
    update_s: float  # re-training and/or re-indexing after one corpus update


@dataclass(frozen=True)
class Crossover:
    """Trained arm `a` against untrained arm `b`: when a's cheaper answers (if they are) repay its training."""

    a: str
    b: str
    build_s_a: float
    build_s_b: float
    per_answer_s_a: float
    per_answer_s_b: float
    prompt_tokens_a: float | None
    prompt_tokens_b: float | None
    repays_after_queries: int | None  # None: never (a's answers are not cheaper)
    update_s_a: float
    update_s_b: float
    updates_per_month: float
    repays_per_update_queries: int | None  # questions needed between two updates to repay re-training; None: never
    queries_per_month: int  # 0: not stated
    monthly_s_a: float | None  # machine seconds a month at queries_per_month (None: volume not stated)
    monthly_s_b: float | None

    @property
    def saving_s(self) -> float:
        """Seconds a's answer saves over b's (negative: a is dearer)."""
        return self.per_answer_s_b - self.per_answer_s_a

    @property
    def repays_at_volume(self) -> bool | None:
        """At the stated monthly volume, does a cost less machine time a month than b? None: volume not stated."""
        if self.monthly_s_a is None or self.monthly_s_b is None:
            return None
        return self.monthly_s_a < self.monthly_s_b

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "saving_s": self.saving_s, "repays_at_volume": self.repays_at_volume}

    def text(self) -> str:
        """One sentence: the crossover, or why there is none, then the per-update and monthly view."""
        tokens = ""
        if self.prompt_tokens_a is not None and self.prompt_tokens_b is not None:
            tokens = f", {self.prompt_tokens_a:.0f} vs {self.prompt_tokens_b:.0f} prompt tokens"
        per = f"{self.per_answer_s_a:.2f} s vs {self.per_answer_s_b:.2f} s an answer{tokens}"
        if self.repays_after_queries is None:
            head = (
                f"{self.a} vs {self.b}: {self.a} never repays its {self.build_s_a:.0f} s of training: its answers are not cheaper ({per})"
            )
        else:
            head = (
                f"{self.a} vs {self.b}: {self.a}'s training ({self.build_s_a:.0f} s vs {self.build_s_b:.0f} s to build {self.b}) "
                f"repays after {self.repays_after_queries:,} questions ({per})"
            )
        return head + self._update_text()

    def _update_text(self) -> str:
        if not self.updates_per_month:
            return ""
        if self.repays_per_update_queries is None:
            out = f"; each corpus update costs {self.update_s_a:.0f} s of re-training, never repaid"
        else:
            out = (
                f"; each corpus update costs {self.update_s_a:.0f} s of re-training (vs {self.update_s_b:.0f} s for {self.b}), "
                f"repaid after {self.repays_per_update_queries:,} questions between updates"
            )
        if self.monthly_s_a is not None and self.monthly_s_b is not None:
            verdict = "repays" if self.repays_at_volume else "does not repay"
            out += (
                f"; at {self.queries_per_month:,} questions and {self.updates_per_month:.1f} updates a month, {self.a} {verdict} "
                f"({self.monthly_s_a / 3600:.1f} h vs {self.monthly_s_b / 3600:.1f} h of machine time a month)"
            )
        return out


def _queries_to_repay(extra_s: float, saving_s: float) -> int | None:
    """Questions whose savings cover `extra_s`: None when each answer saves nothing, 0 when nothing is owed."""
    if saving_s <= 0:
        return None
    if extra_s <= 0:
        return 0
    return math.ceil(extra_s / saving_s)


def crossover(a: ArmCostProfile, b: ArmCostProfile, *, update_frequency: str, queries_per_month: int = 0) -> Crossover:
    """The crossover of trained arm `a` against arm `b` (see the module docstring for the arithmetic)."""
    if update_frequency not in UPDATES_PER_MONTH:
        raise ValueError(f"update_frequency {update_frequency!r}; choose one of: {', '.join(UPDATES_PER_MONTH)}")
    updates = UPDATES_PER_MONTH[update_frequency]
    saving = b.per_answer_s - a.per_answer_s
    monthly_a = monthly_b = None
    if queries_per_month > 0:
        monthly_a = updates * a.update_s + queries_per_month * a.per_answer_s
        monthly_b = updates * b.update_s + queries_per_month * b.per_answer_s
    return Crossover(
        a.arm,
        b.arm,
        a.build_s,
        b.build_s,
        a.per_answer_s,
        b.per_answer_s,
        a.prompt_tokens,
        b.prompt_tokens,
        _queries_to_repay(a.build_s - b.build_s, saving),
        a.update_s,
        b.update_s,
        updates,
        _queries_to_repay(a.update_s - b.update_s, saving),
        queries_per_month,
        monthly_a,
        monthly_b,
    )


__all__ = ["UPDATES_PER_MONTH", "ArmCostProfile", "Crossover", "crossover"]
