"""Paired comparisons of arms on identical probes: exact McNemar test, difference with its interval, and the MDE.

Every arm answers the same probes, so two arms are compared probe by probe, never by whether two
marginal intervals overlap (on a few dozen probes they nearly always do). For arms A and B over the
probes both have a verdict for (an error or timeout is a wrong answer, never dropped):

- b = probes A got right and B wrong, c = probes A got wrong and B right (the discordant pairs);
  concordant probes say nothing about which arm is better.
- p: the exact McNemar test, two-sided: under "equally good", b ~ Binomial(b + c, 1/2), and
  p = min(1, 2 * P(X <= min(b, c))). Exact at every n (no chi-square approximation); p = 1 when
  b + c = 0.
- diff = accuracy(A) - accuracy(B) = (b - c) / n, with Newcombe's hybrid score interval for a
  difference of paired proportions (Newcombe 1998, method 10: Wilson intervals of each accuracy,
  combined with the phi correlation of the 2x2 table; no continuity correction). Unlike a bootstrap it
  has width when every pair is concordant, and it stays inside [-1, 1].
- mde: the minimum detectable effect, the smallest |diff| this n detects with 80% power at
  alpha = 0.05 (two-sided). Connor's (1987) sample-size formula for McNemar's test,
  n = (z_a sqrt(psi) + z_b sqrt(psi - d^2))^2 / d^2, solved for d, with psi the discordance rate
  observed between the two arms (and at least d itself, since |diff| <= psi). It is floored at the
  smallest difference the exact test can declare at all at this n: 6 one-way discordant probes
  (2 / 2^6 = 0.031 < 0.05; 5 give 0.0625), i.e. 6 / n. A "tie" whose |diff| is under the MDE means
  too few probes, not equal arms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

ALPHA = 0.05
POWER = 0.80
Z_ALPHA = 1.959963984540054  # two-sided 0.05
Z_BETA = 0.8416212335729143  # one-sided 0.20 (80% power)
MIN_ONE_WAY_DISCORDANT = next(k for k in range(1, 64) if 2 * 0.5**k <= ALPHA)  # 6 at alpha = 0.05


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant counts b and c (binomial test on b of b + c at 1/2)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))  # exact integer arithmetic, any n
    return min(1.0, 2 * tail / 2**n)


def wilson(successes: int, n: int, z: float = Z_ALPHA) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion (successes of n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_paired_interval(both: int, b: int, c: int, neither: int) -> tuple[float, float]:
    """95% interval for p1 - p2 from a paired 2x2 table (Newcombe 1998, method 10); (0, 0) for no pairs.

    `both`: right in both; b: right in 1 only; c: right in 2 only; `neither`: wrong in both.
    """
    n = both + b + c + neither
    if n == 0:
        return (0.0, 0.0)
    p1, p2 = (both + b) / n, (both + c) / n
    l1, u1 = wilson(both + b, n)
    l2, u2 = wilson(both + c, n)
    denominator = (both + b) * (c + neither) * (both + c) * (b + neither)
    phi = (both * neither - b * c) / math.sqrt(denominator) if denominator else 0.0
    diff = p1 - p2
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (max(-1.0, diff - lower), min(1.0, diff + upper))


def _connor_n(d: float, psi: float) -> float:
    """Pairs needed to detect a difference d at discordance psi (Connor 1987), 80% power, alpha 0.05."""
    psi = max(psi, d)
    return (Z_ALPHA * math.sqrt(psi) + Z_BETA * math.sqrt(max(0.0, psi - d * d))) ** 2 / (d * d)


def minimum_detectable_effect(n: int, discordance: float) -> float:
    """The smallest |difference in accuracy| detectable on n paired probes (see the module docstring); 1.0 if none."""
    if n <= 0:
        return 1.0
    floor = min(1.0, MIN_ONE_WAY_DISCORDANT / n)
    if _connor_n(1.0, discordance) > n:
        return 1.0
    low, high = 1e-9, 1.0  # _connor_n falls as d grows: find the d whose required n equals this n
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _connor_n(mid, discordance) > n else (low, mid)
    return max(floor, high)


@dataclass(frozen=True)
class PairedComparison:
    """Arm `a` against arm `b` on the probes both answered; diff = accuracy(a) - accuracy(b)."""

    a: str
    b: str
    n: int
    accuracy_a: float
    accuracy_b: float
    diff: float
    low: float
    high: float
    only_a: int  # McNemar's b: right in a, wrong in b
    only_b: int  # McNemar's c: wrong in a, right in b
    p_value: float
    mde: float

    @property
    def separated(self) -> bool:
        """The paired test tells the two arms apart at alpha = 0.05."""
        return self.p_value < ALPHA

    def better(self, arm: str) -> bool:
        """`arm` (a or b) is significantly more accurate than the other."""
        sign = self.diff if arm == self.a else -self.diff
        return self.separated and sign > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        """'rag vs base: +50.0 points [+22.1, +68.3], 8/0 discordant, p = 0.0078'."""
        return (
            f"{self.a} vs {self.b}: {self.diff * 100:+.1f} points [{self.low * 100:+.1f}, {self.high * 100:+.1f}], "
            f"{self.only_a}/{self.only_b} discordant, p = {fmt_p(self.p_value)}"
        )


def fmt_p(p: float) -> str:
    """A p-value for a sentence: 3 significant digits, '< 0.0001' below that."""
    return "< 0.0001" if p < 1e-4 else f"{p:.3g}"


def compare_pair(a: str, correct_a: Mapping[str, bool], b: str, correct_b: Mapping[str, bool]) -> PairedComparison:
    """The paired comparison of two arms' per-probe verdicts (qid -> right), over the qids both have."""
    qids = [q for q in correct_a if q in correct_b]
    both = sum(1 for q in qids if correct_a[q] and correct_b[q])
    only_a = sum(1 for q in qids if correct_a[q] and not correct_b[q])
    only_b = sum(1 for q in qids if not correct_a[q] and correct_b[q])
    n = len(qids)
    neither = n - both - only_a - only_b
    low, high = newcombe_paired_interval(both, only_a, only_b, neither)
    acc_a, acc_b = ((both + only_a) / n, (both + only_b) / n) if n else (0.0, 0.0)
    mde = minimum_detectable_effect(n, (only_a + only_b) / n if n else 0.0)
    return PairedComparison(
        a, b, n, acc_a, acc_b, (only_a - only_b) / n if n else 0.0, low, high, only_a, only_b, mcnemar_exact_p(only_a, only_b), mde
    )


def paired_table(correct: Mapping[str, Mapping[str, bool]]) -> list[PairedComparison]:
    """Every pair of arms (in the given order; a before b), compared on the probes both answered."""
    return [compare_pair(a, correct[a], b, correct[b]) for a, b in combinations(list(correct), 2)]


def find_pair(table: Sequence[PairedComparison], x: str, y: str) -> PairedComparison | None:
    """The comparison of x and y in `table`, oriented so that `a` is x; None when not compared."""
    for pc in table:
        if (pc.a, pc.b) == (x, y):
            return pc
        if (pc.a, pc.b) == (y, x):
            return PairedComparison(
                x, y, pc.n, pc.accuracy_b, pc.accuracy_a, -pc.diff, -pc.high, -pc.low, pc.only_b, pc.only_a, pc.p_value, pc.mde
            )
    return None


def mde_sentence(table: Sequence[PairedComparison]) -> str:
    """The sentence a reader needs before reading a tie: how large a difference these probes can detect."""
    if not table:
        return "Only one arm was measured: there is nothing to compare."
    n = max(pc.n for pc in table)
    ties = [pc for pc in table if not pc.separated]
    mde = max(pc.mde for pc in (ties or table))
    return (
        f"With {n} probes, a difference smaller than {mde * 100:.1f} points between two arms cannot be reliably detected "
        f"(80% power, alpha = 0.05, at the discordance observed between them): a tie means too few probes, not equal arms."
    )


def correct_by_qid(scores: Sequence[Any]) -> dict[str, bool]:
    """qid -> right, from an arm's scores (anything with .qid and .correct); an error is scored wrong, so it stays in."""
    return {s.qid: bool(s.correct) for s in scores}


def paired_summary(correct: Mapping[str, Mapping[str, bool]]) -> dict[str, Any]:
    """The paired section of summary.json: every pair, the MDE sentence, and the per-probe verdicts behind them.

    The verdicts (arm -> qid -> 0/1) let `evidence_from_summary` rebuild the recommendation from results alone.
    """
    table = paired_table(correct)
    return {
        "method": "exact McNemar (two-sided) on discordant probes; diff with Newcombe's paired score interval (method 10); "
        "MDE at 80% power, alpha 0.05 (Connor 1987, floored at 6 one-way discordant probes)",
        "pairs": [pc.to_dict() for pc in table],
        "mde_sentence": mde_sentence(table),
        "correct": {arm: {q: int(v) for q, v in c.items()} for arm, c in correct.items()},
    }
