"""The training budget: measure this machine, then cover the whole corpus or a seeded sample of it.

`ragft train` used to take `max_chunks = 6` chunks of any corpus, silently. Now it estimates the
training tokens one chunk yields (its questions both ways round, its raw text and rewrites, on a
seeded sample of chunks), measures this machine's training tokens per second on a few rows of
those examples packed as the training loop packs them (`trainer.measure_throughput`), and trains on every public chunk if `budget_minutes` allows, else on as many as
fit, chosen by `corpus_chunks` (focus chunks first, then a seeded random order). The plan is said
before training starts and recorded in the training set and the adapter manifest.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ragft.errors import RagftError

BUDGET_PRESETS = {"smoke": 2.0, "default": 30.0, "gpu": 120.0}  # minutes; "gpu": a GPU's measured speed covers more in it
SAMPLE_CHUNKS = 8  # chunks synthesized to estimate tokens per chunk
MEASURE_STEPS = 3  # training rows timed for the speed (the first a warm-up, not counted)
# The fewest RAFT examples the budget may cut the hybrid arm to: measured on the demo, 4 examples
# (3 epochs, 2 per step) matched plain RAG (62.5%), while a budget cut to 2 left an adapter at 31%,
# below RAG. Over budget, distractor passages go first (shorter rows); below the floor it overruns
# the budget and says so rather than train a useless adapter.
RAFT_FLOOR = 4


T = TypeVar("T")


class BudgetError(RagftError, ValueError):
    """A budget that is neither a preset nor a number of minutes."""


def parse_budget(text: str) -> float:
    """Minutes for a `--budget` value: a preset (smoke, default, gpu) or a number of minutes (0 = no limit)."""
    if text in BUDGET_PRESETS:
        return BUDGET_PRESETS[text]
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if minutes < 0:
        raise BudgetError(f"--budget {text!r}: give minutes (a number, 0 = no limit) or a preset: {', '.join(BUDGET_PRESETS)}")
    return minutes


@dataclass(frozen=True)
class TrainingPlan:
    """What training will cover and cost on this machine."""

    chunks_total: int  # public chunks of the corpus
    chunks_covered: int
    budget_minutes: float  # 0 = no limit
    tokens_per_s: float  # measured here, on the arm's own examples
    tokens_per_chunk: float  # estimated on a seeded sample of chunks (all epochs: x epochs)
    epochs: int
    seed: int
    raft_examples: int = 0  # hybrid: RAFT examples the budget allows, below [training] raft_examples (0 = not cut)
    raft_distractors: int = -1  # hybrid: distractor passages per RAFT example the budget allows (-1 = not cut)
    over_budget: bool = False  # hybrid: even the RAFT floor without distractors overruns the budget (trained anyway)

    @property
    def tokens_planned(self) -> int:
        return round(self.chunks_covered * self.tokens_per_chunk * self.epochs)

    @property
    def projected_s(self) -> float:
        return self.tokens_planned / self.tokens_per_s if self.tokens_per_s else 0.0

    @property
    def projected_all_s(self) -> float:
        """Seconds to train on every public chunk on this machine (early stopping may end sooner)."""
        return self.chunks_total * self.tokens_per_chunk * self.epochs / self.tokens_per_s if self.tokens_per_s else 0.0

    @property
    def sampled(self) -> bool:
        return self.chunks_covered < self.chunks_total

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "tokens_planned": self.tokens_planned,
            "projected_s": round(self.projected_s, 1),
            "projected_all_s": round(self.projected_all_s, 1),
            "sampled": self.sampled,
        }

    def describe(self) -> str:
        """One paragraph: what is covered, what it costs, what covering everything would cost."""
        budget = f"{self.budget_minutes:g} min budget" if self.budget_minutes else "no time limit"
        which = "a seeded random sample of" if self.sampled else "all"
        return (
            f"Training plan ({budget}, {self.tokens_per_s:.0f} training tokens/s measured here): {which} "
            f"{self.chunks_covered}/{self.chunks_total} chunks{self._raft_cut()}, ~{self.tokens_planned:,} tokens over {self.epochs} epochs, "
            f"~{_minutes(self.projected_s)}; covering every chunk would take ~{_minutes(self.projected_all_s)} on this machine."
            + (
                f" The budget cannot hold the {RAFT_FLOOR}-example RAFT floor even without distractors: training it anyway, "
                "over budget (fewer examples left an adapter worse than plain RAG)."
                if self.over_budget
                else ""
            )
        )

    def _raft_cut(self) -> str:
        cut = raft_cut_note(self.summary())
        return f" ({cut})" if cut else ""


def raft_cut_note(plan: Mapping[str, Any]) -> str:
    """What the budget cut from the hybrid arm's RAFT examples (a plan's `summary()`), in words; "" when nothing."""
    cuts = [f"{plan['raft_examples']} RAFT examples"] if plan.get("raft_examples") else []
    if plan.get("raft_distractors", -1) >= 0:
        cuts.append(f"{plan['raft_distractors']} distractor passage(s) each")
    if plan.get("over_budget"):
        cuts.append(f"the {RAFT_FLOOR}-example RAFT floor trained over budget")
    return ", ".join(cuts)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def chunks_within(budget_minutes: float, chunks_total: int, tokens_per_chunk: float, epochs: int, tokens_per_s: float) -> int:
    """How many chunks fit in the budget (all when 0 = no limit); at least one."""
    if budget_minutes <= 0 or tokens_per_chunk <= 0 or tokens_per_s <= 0:
        return chunks_total
    fit = int(budget_minutes * 60 * tokens_per_s / (tokens_per_chunk * epochs))
    return max(1, min(chunks_total, fit))


def raft_fit(budget_tokens: float, full: int, tokens_of: Callable[[int, int], int], distractors: int) -> tuple[int, int, bool]:
    """(RAFT examples, distractors each, over budget) for the hybrid arm, whose tokens per epoch are
    `tokens_of(examples, distractors)`: all `full` examples with as many distractors as fit in `budget_tokens`;
    else, without distractors, as many examples as fit but never fewer than the floor (min(`full`, RAFT_FLOOR));
    if even the floor overruns, the floor, over budget."""
    for d in range(distractors, -1, -1):
        if tokens_of(full, d) <= budget_tokens:
            return full, d, False
    floor = min(full, RAFT_FLOOR)
    per_example = tokens_of(full, 0) / max(full, 1)
    fit = min(full, int(budget_tokens / per_example)) if per_example else full
    return (fit, 0, False) if fit >= floor else (floor, 0, True)


def sample_of(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """A seeded random sample of `count` of `items` (all when there are fewer)."""
    return random.Random(seed).sample(list(items), min(count, len(items)))


def measure_tokens_per_s(step: Callable[[T], int], items: Sequence[T]) -> float:
    """Tokens per second of `step` (trains one item, returns its tokens) over `items`, the first a warm-up."""
    step(items[0])
    started, tokens = time.perf_counter(), 0
    for item in items[1:]:
        tokens += step(item)
    elapsed = time.perf_counter() - started
    return tokens / elapsed if elapsed > 0 and tokens else 0.0
