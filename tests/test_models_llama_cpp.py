"""The llama.cpp backend on a tiny random GGUF converted from the tiny Qwen2, plus one slow
end-to-end generation with the real embedded default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.models.base import (
    FIRST_TOKEN_TOP_N,
    SCORE_WINDOW_TOKENS,
    DecodingSettings,
    Generator,
    ModelError,
    scorer_of,
)
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model
from ragft.models.transcript import plain_transcript
from ragft.models.transformers_backend import TransformersGenerator

pytest.importorskip("gguf")

MESSAGES = [
    {"role": "system", "content": "Answer from the context."},
    {"role": "user", "content": "What is the refund window?"},
]
GREEDY = DecodingSettings(max_new_tokens=16)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    hf_dir = make_tiny_hf_model(tmp_path_factory.mktemp("tiny-hf"))
    return hf_dir, make_tiny_gguf(hf_dir, hf_dir / "tiny.gguf")


@pytest.fixture(scope="module")
def generator(tiny_dirs: tuple[Path, Path]) -> LlamaCppGenerator:
    gen = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=256)
    gen.warm_up()
    return gen


def test_streamed_pieces_join_to_the_text(generator: LlamaCppGenerator) -> None:
    assert isinstance(generator, Generator)
    pieces: list[str] = []
    result = generator.generate(MESSAGES, GREEDY, on_token=pieces.append)
    assert len(pieces) > 1
    assert "".join(pieces) == result.text
    assert result.completion_tokens == GREEDY.max_new_tokens
    assert result.prompt_tokens > 10


def test_timings_are_positive_and_ordered(generator: LlamaCppGenerator) -> None:
    result = generator.generate(MESSAGES, GREEDY)
    assert 0 < result.prefill_s <= result.time_to_first_token_s <= result.total_s


def test_greedy_decoding_is_deterministic(generator: LlamaCppGenerator) -> None:
    assert generator.generate(MESSAGES, GREEDY).text == generator.generate(MESSAGES, GREEDY).text


def test_sampling_repeats_with_the_same_seed(generator: LlamaCppGenerator) -> None:
    sampled = DecodingSettings(max_new_tokens=16, temperature=1.0, seed=7)
    assert generator.generate(MESSAGES, sampled).text == generator.generate(MESSAGES, sampled).text


def test_same_weights_give_the_same_greedy_text_as_transformers(
    generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]
) -> None:
    reference = TransformersGenerator(tiny_dirs[0], threads=1).generate(MESSAGES, GREEDY)
    result = generator.generate(MESSAGES, GREEDY)
    assert result.prompt_tokens == reference.prompt_tokens
    assert result.text == reference.text


def test_first_token_candidates_match_transformers_and_start_the_greedy_text(
    generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]
) -> None:
    reference = TransformersGenerator(tiny_dirs[0], threads=1).generate(MESSAGES, GREEDY).first_token_top
    result = generator.generate(MESSAGES, GREEDY)
    top = result.first_token_top
    assert len(top) == len(reference) == FIRST_TOKEN_TOP_N
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True) and 0 < sum(p for _, p in top) <= 1 + 1e-6
    assert result.text.startswith(top[0][0])
    assert [t for t, _ in top[:3]] == [t for t, _ in reference[:3]]
    assert [p for _, p in top] == pytest.approx([p for _, p in reference], abs=1e-3)


SCORED = "Refunds are processed within 14 days after the request is approved. The office in Lisbon opens at 9:00."


def test_token_scores_match_transformers_on_the_same_weights(generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]) -> None:
    reference = TransformersGenerator(tiny_dirs[0], threads=1).score(SCORED)
    scores = generator.score(SCORED)
    assert scorer_of(generator) is generator
    assert scores.tokens == reference.tokens == generator.count_tokens(SCORED) - 1 > 10
    assert all(lp < 0 for lp in scores.logprobs)
    # llama.cpp keeps keys and values in f16: measured up to 0.26% apart per token, 0.07% in perplexity.
    assert scores.logprobs == pytest.approx(reference.logprobs, rel=5e-3)
    assert scores.perplexity == pytest.approx(reference.perplexity, rel=2e-3)


def test_texts_longer_than_a_window_are_scored_in_the_same_windows_as_transformers(
    generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]
) -> None:
    text = " ".join([SCORED] * 40)
    reference = TransformersGenerator(tiny_dirs[0], threads=1).score(text, max_tokens=SCORE_WINDOW_TOKENS + 60)
    scores = generator.score(text, max_tokens=SCORE_WINDOW_TOKENS + 60)
    assert scores.tokens == reference.tokens == SCORE_WINDOW_TOKENS + 59
    assert scores.logprobs == pytest.approx(reference.logprobs, rel=5e-3)


def test_count_tokens_matches_the_hf_tokenizer(generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]) -> None:
    text = "Refunds are processed within 14 days."
    assert generator.count_tokens(text) == TransformersGenerator(tiny_dirs[0], threads=1).count_tokens(text) > 0


def test_stop_string_ends_the_text_before_it(generator: LlamaCppGenerator) -> None:
    full = generator.generate(MESSAGES, GREEDY).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    cut = generator.generate(MESSAGES, DecodingSettings(max_new_tokens=16, stop=(stop,)))
    assert cut.text == full[: full.index(stop)]


def test_a_model_without_chat_template_gets_a_plain_transcript(tiny_dirs: tuple[Path, Path]) -> None:
    base = LlamaCppGenerator(
        make_tiny_gguf(tiny_dirs[0], tiny_dirs[0] / "base.gguf", chat_template=False), threads=1, context_window_tokens=256
    )
    pieces: list[str] = []
    result = base.generate(MESSAGES, GREEDY, on_token=pieces.append)
    assert result.prompt_tokens == base.count_tokens(plain_transcript(MESSAGES))
    assert "".join(pieces) == result.text and "\nuser:" not in result.text


def test_missing_model_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.gguf: model file not found"):
        LlamaCppGenerator(tmp_path / "nope.gguf", threads=1).warm_up()


def test_a_file_that_is_not_gguf_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelError, match=r"model\.gguf: not a GGUF file"):
        LlamaCppGenerator(bad, threads=1).warm_up()


def test_a_truncated_gguf_is_a_model_error(tmp_path: Path, tiny_dirs: tuple[Path, Path]) -> None:
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(tiny_dirs[1].read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"truncated\.gguf: llama\.cpp could not load this model"):
        LlamaCppGenerator(bad, threads=1).warm_up()


@pytest.mark.slow
def test_default_model_answers_a_short_question() -> None:
    gen = LlamaCppGenerator("default", threads=2, context_window_tokens=1024)
    pieces: list[str] = []
    result = gen.generate(
        [{"role": "user", "content": "What is the capital of France? Answer in one word."}],
        DecodingSettings(max_new_tokens=8),
        on_token=pieces.append,
    )
    assert "paris" in result.text.lower()
    assert "".join(pieces) == result.text
    assert 0 < result.prefill_s <= result.time_to_first_token_s <= result.total_s
