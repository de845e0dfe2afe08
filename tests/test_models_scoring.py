"""The scoring contract shared by every backend: windows, log-softmax picking, and who counts as a scorer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragft.models.base import TokenScores, picked_logprobs, scorer_of, windowed_logprobs
from ragft.models.testing import ScriptedGenerator, ScriptedScorer


def test_windows_start_on_the_last_token_of_the_one_before_so_each_token_is_scored_once() -> None:
    seen: list[list[int]] = []

    def window_logprobs(window):
        seen.append(list(window))
        return [-float(t) for t in window[1:]]

    assert windowed_logprobs(list(range(10)), window_logprobs, window=4) == tuple(-float(t) for t in range(1, 10))
    assert seen == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert windowed_logprobs([5], window_logprobs) == () and windowed_logprobs([], window_logprobs) == ()
    with pytest.raises(ValueError, match="at least 2"):
        windowed_logprobs([1, 2], window_logprobs, window=1)


def test_picked_logprobs_is_the_log_softmax_of_the_next_token_even_for_huge_logits() -> None:
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 1000.0]])
    expected = [2.0 - math.log(math.exp(1) + math.exp(2) + math.exp(3)), -math.log(2.0)]
    assert picked_logprobs(logits, [1, 2]) == pytest.approx(expected)


def test_token_scores_totals_and_perplexity() -> None:
    scores = TokenScores((math.log(0.5), math.log(0.25)))
    assert scores.tokens == 2 and scores.total == pytest.approx(math.log(0.125))
    assert scores.perplexity == pytest.approx(math.sqrt(8))
    assert math.isnan(TokenScores(()).perplexity)


def test_only_generators_with_score_are_scorers() -> None:
    scorer = ScriptedScorer(lambda _: -1.0)
    assert scorer_of(scorer) is scorer
    assert scorer_of(ScriptedGenerator()) is None
