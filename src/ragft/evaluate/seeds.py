"""Trained arms over several training seeds: each seed's accuracy, their spread, and one verdict per probe.

A fine-tuned arm's accuracy depends on its training seed (LoRA initialisation, batch order) as
well as on its recipe. With `[evaluation] seeds = N`, every trained arm is trained N times on the
same data (seed i with `[training] seed + i`; seed 0 is the installed adapter) and each seed
answers every probe. Two things come out of that:

- **The spread**: the accuracy of each seed, their mean, min–max and sample standard deviation
  (n - 1 in the denominator; 0 for one seed). A difference between arms smaller than the spread
  between seeds of one arm is the training's noise, not the method's.
- **One verdict per probe for the paired tests**: a probe counts as right for the arm when a
  strict majority of its seeds got it right (2 of 3; with an even N a tie counts as wrong, so an
  odd N is advised). The exact McNemar test (`evaluate.paired`) then runs unchanged on these
  verdicts: it asks whether the *recipe* beats the other arm reliably, not whether one lucky
  seed did. Majority voting was chosen over a paired bootstrap with seeds averaged because it
  keeps one exact test, one MDE and one table for every pair, seeded or not.

A probe missing from a seed's answers (it cannot happen through the runner, which never drops
one) counts as wrong for that seed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ragft.types import System

SEED_SEPARATOR = "@seed"


def seed_arm_name(arm: str, seed: int) -> str:
    """The name seed `seed` of `arm` answers under (its answer file): the arm itself for seed 0, else 'arm@seed<i>'."""
    return arm if seed == 0 else f"{arm}{SEED_SEPARATOR}{seed}"


def seed_arm_base(name: str) -> str:
    """The arm a seed's answer name belongs to: 'finetuned@seed2' -> 'finetuned' (any other name is itself)."""
    return name.split(SEED_SEPARATOR, 1)[0]


@dataclass(frozen=True)
class SeedPlan:
    """The other seeds of each trained arm, ready to answer: arm -> systems of seeds 1..N-1, and every seed's training seed."""

    systems: Mapping[str, Sequence[System]] = field(default_factory=dict)
    training_seeds: Mapping[str, Sequence[int]] = field(default_factory=dict)  # arm -> [training] seed of seeds 0..N-1


def majority_correct(per_seed: Sequence[Mapping[str, bool]]) -> dict[str, bool]:
    """qid -> right by a strict majority of seeds (more than half right); qids from every seed, a missing one counts wrong."""
    qids = list(dict.fromkeys(q for verdicts in per_seed for q in verdicts))
    need = len(per_seed) // 2 + 1
    return {q: sum(1 for verdicts in per_seed if verdicts.get(q, False)) >= need for q in qids}


@dataclass(frozen=True)
class SeedSpread:
    """One trained arm's accuracy over its training seeds, and its accuracy by majority vote."""

    arm: str
    training_seeds: tuple[int, ...]  # the [training] seed each adapter was trained with, seed 0 first
    accuracies: tuple[float, ...]  # accuracy of each seed, same order
    mean: float
    low: float  # min over seeds
    high: float  # max over seeds
    sd: float  # sample standard deviation over seeds (0 for one seed)
    majority_accuracy: float  # share of probes right by a strict majority of seeds (what the paired tests use)
    probes: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "training_seeds": list(self.training_seeds), "accuracies": list(self.accuracies)}

    def text(self) -> str:
        """'finetuned over 3 seeds: mean 41.7%, 37.5–45.0%, sd 3.8 points; by majority 42.5%'."""
        return (
            f"{self.arm} over {len(self.accuracies)} seeds: mean {self.mean:.1%}, {self.low:.1%}–{self.high:.1%}, "
            f"sd {self.sd * 100:.1f} points; right by a majority of seeds {self.majority_accuracy:.1%}"
        )


def seed_spread(arm: str, per_seed: Sequence[Mapping[str, bool]], training_seeds: Sequence[int]) -> SeedSpread:
    """The spread of `arm`'s accuracy over its seeds' verdicts (qid -> right), seed 0 first."""
    if not per_seed:
        raise ValueError(f"{arm}: no seed answered, so there is no spread to report")
    if len(per_seed) != len(training_seeds):
        raise ValueError(f"{arm}: {len(per_seed)} seeds answered but {len(training_seeds)} training seeds were given")
    qids = list(dict.fromkeys(q for verdicts in per_seed for q in verdicts))
    n = len(qids)
    accuracies = tuple(sum(1 for q in qids if verdicts.get(q, False)) / n if n else 0.0 for verdicts in per_seed)
    sd = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    majority = majority_correct(per_seed)
    return SeedSpread(
        arm,
        tuple(training_seeds),
        accuracies,
        statistics.fmean(accuracies),
        min(accuracies),
        max(accuracies),
        0.0 if math.isnan(sd) else sd,
        sum(majority.values()) / n if n else 0.0,
        n,
    )


METHOD = (
    "each trained arm trained once per seed on the same data ([training] seed + i); spread = mean, min-max and sample sd "
    "of the seeds' accuracies; paired tests count a probe right for a seeded arm when a strict majority of its seeds got "
    "it right (a tie, with an even number of seeds, counts wrong)"
)

__all__ = ["METHOD", "SEED_SEPARATOR", "SeedPlan", "SeedSpread", "majority_correct", "seed_arm_base", "seed_arm_name", "seed_spread"]
