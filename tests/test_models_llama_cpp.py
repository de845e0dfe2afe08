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


def test_same_weights_give_the_same_greedy_text_as_transformers(generator: LlamaCppGenerator, tiny_dirs: tuple[Path, Path]) -> None:
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


def _tiny_lora(hf_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA GGUF for the tiny model with random (non-zero) weights, converted as `ragft train` converts one."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ragft.train.gguf_lora import convert_peft_to_gguf

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(hf_dir), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"])
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(out / "peft")
    return convert_peft_to_gguf(out / "peft", json.loads((hf_dir / "config.json").read_text()), out / "adapter.gguf")


@pytest.fixture(scope="module")
def loras(tiny_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return [_tiny_lora(tiny_dirs[0], tmp_path_factory.mktemp(f"lora{i}"), seed=i) for i in range(2)]


def test_generators_on_one_file_share_one_loaded_model_whatever_their_adapter(tiny_dirs: tuple[Path, Path], loras: list[Path]) -> None:
    plain = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=320)
    adapted = [LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=320, lora_path=p) for p in loras]
    other_size = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=352)
    for g in (plain, *adapted, other_size):
        g.warm_up()
    assert plain._base is adapted[0]._base is adapted[1]._base
    assert other_size._base is not plain._base


def test_each_adapter_answers_as_its_own_separately_loaded_model(tiny_dirs: tuple[Path, Path], loras: list[Path]) -> None:
    from llama_cpp import Llama

    shared = {p: LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=256, lora_path=p) for p in [None, *loras]}
    texts = {p: g.generate(MESSAGES, GREEDY).text for p, g in shared.items()}
    assert len(set(texts.values())) == 3  # the adapters change the answer: the comparison below can fail
    for p in [loras[1], None, loras[0]]:  # switching back and forth
        alone = Llama(model_path=str(tiny_dirs[1]), n_ctx=256, n_threads=1, lora_path=str(p) if p else None, verbose=False)
        reply = alone.create_chat_completion(messages=MESSAGES, max_tokens=GREEDY.max_new_tokens, temperature=0.0)  # type: ignore[arg-type]
        assert shared[p].generate(MESSAGES, GREEDY).text == texts[p] == reply["choices"][0]["message"]["content"]


def test_a_cached_prompt_prefix_is_reused_only_by_the_adapter_that_made_it(tiny_dirs: tuple[Path, Path], loras: list[Path]) -> None:
    adapted = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=288, lora_path=loras[0], reuse_prompt_cache=True)
    plain = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=288)  # resets: fills the cache with its own prefix
    fresh = adapted.generate(MESSAGES, GREEDY).text
    assert adapted.generate(MESSAGES, GREEDY).text == fresh  # the same adapter reuses its own prefix
    plain_text = plain.generate(MESSAGES, GREEDY).text  # the plain model's keys and values for the same prompt
    assert adapted.generate(MESSAGES, GREEDY).text == fresh != plain_text


def test_the_loaded_model_is_freed_with_its_last_generator(tiny_dirs: tuple[Path, Path]) -> None:
    import gc
    import weakref

    gen = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=224)
    gen.warm_up()
    loaded = weakref.ref(gen._base)
    twin = LlamaCppGenerator(tiny_dirs[1], threads=1, context_window_tokens=224)
    twin.warm_up()
    del gen
    gc.collect()
    assert loaded() is twin._base  # still used by the other generator
    del twin
    gc.collect()
    assert loaded() is None
