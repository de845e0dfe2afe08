"""The budget planner's speed probe predicts the training loop's tokens/s (the loop packs shared prefixes once)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from ragft.models.testing import make_tiny_hf_model
from ragft.train import trainer
from ragft.train.data import ChatExample, PackedRow, encode_example
from ragft.train.trainer import load_lora_model, measure_throughput, timed_rows, train_lora
from tests.train_fixtures import EXAMPLES, SETTINGS

COMPUTED_TOKENS_PER_S = 100.0


class ComputeClock:
    """A clock that advances only while the model computes, by a row's computed tokens at a fixed speed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> ComputeClock:
    """Time is spent only in the model's forward pass over a row, in proportion to the tokens it really computes."""
    clock = ComputeClock()
    real = trainer._answer_hidden

    def answer_hidden(model: Any, row: PackedRow) -> tuple[Any, Any]:
        clock.now += row.tokens / COMPUTED_TOKENS_PER_S
        return real(model, row)

    monkeypatch.setattr(trainer, "_answer_hidden", answer_hidden)
    monkeypatch.setattr(time, "perf_counter", clock)
    return clock


def _examples() -> list[ChatExample]:
    """Question/answer examples (one system prompt: packed rows share it) mixed with text examples (nothing shared)."""
    texts = [
        ChatExample((), f"Item {i} is sold in boxes of {i + 2}, shipped from the north depot.", group=f"chunk{i % 4}") for i in range(8)
    ]
    return [ex for pair in zip(EXAMPLES, texts, strict=False) for ex in pair] + list(EXAMPLES[len(texts) :])


def test_the_probe_predicts_the_loops_tokens_per_second(tmp_path: Path, clocked: ComputeClock):
    tiny = make_tiny_hf_model(tmp_path / "model")
    settings = replace(SETTINGS, epochs=1, batch_size=4)
    tokenizer, model = load_lora_model(tiny, settings)
    examples = _examples()
    encoded = [encode_example(tokenizer, ex, settings.max_length_tokens) for ex in examples]

    predicted = measure_throughput(model, examples, encoded, settings)
    _, metrics = train_lora(tiny, examples, [], settings, tmp_path / "work", loaded=(tokenizer, model))

    assert metrics.tokens > metrics.computed_tokens  # shared prefixes are computed once per row
    assert metrics.tokens_per_s > COMPUTED_TOKENS_PER_S * 1.2  # so the loop counts more tokens than it computes
    assert predicted == pytest.approx(metrics.tokens_per_s, rel=1e-6)


def test_the_timed_rows_are_a_short_warm_up_then_where_the_tokens_are():
    rows = [PackedRow([0] * n, list(range(n)), [-100] * n, [1] * n) for n in (400, 30, 500, 20, 450)]
    warm_up, *timed = timed_rows(rows)
    assert warm_up.tokens == 20
    assert [row.tokens for row in timed] == [450, 500]  # by length, these rows hold the 1/3 and 2/3 points of its 1,400 tokens
