"""The transformers backend on a tiny random Qwen2 built in the test (about a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.models.base import DecodingSettings, Generator, ModelError
from ragft.models.testing import make_tiny_hf_model
from ragft.models.transformers_backend import TransformersGenerator

MESSAGES = [
    {"role": "system", "content": "Answer from the context."},
    {"role": "user", "content": "What is the refund window?"},
]
GREEDY = DecodingSettings(max_new_tokens=24)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_hf_model(tmp_path_factory.mktemp("tiny-hf"))


@pytest.fixture(scope="module")
def generator(tiny_dir: Path) -> TransformersGenerator:
    gen = TransformersGenerator(tiny_dir, threads=1)
    gen.warm_up()
    return gen


def test_streamed_pieces_join_to_the_text(generator: TransformersGenerator) -> None:
    assert isinstance(generator, Generator)
    pieces: list[str] = []
    result = generator.generate(MESSAGES, GREEDY, on_token=pieces.append)
    assert len(pieces) > 1
    assert "".join(pieces) == result.text
    assert result.completion_tokens == GREEDY.max_new_tokens  # a random model does not stop early
    assert result.prompt_tokens > 10


def test_timings_are_positive_and_ordered(generator: TransformersGenerator) -> None:
    result = generator.generate(MESSAGES, GREEDY)
    assert 0 < result.prefill_s <= result.time_to_first_token_s <= result.total_s
    assert result.decode_tokens_per_s > 0


def test_greedy_decoding_is_deterministic(generator: TransformersGenerator) -> None:
    assert generator.generate(MESSAGES, GREEDY).text == generator.generate(MESSAGES, GREEDY).text


def test_sampling_repeats_with_the_same_seed(generator: TransformersGenerator) -> None:
    sampled = DecodingSettings(max_new_tokens=24, temperature=1.0, top_p=0.9, seed=7)
    assert generator.generate(MESSAGES, sampled).text == generator.generate(MESSAGES, sampled).text


def test_stop_string_ends_the_text_before_it(generator: TransformersGenerator) -> None:
    full = generator.generate(MESSAGES, GREEDY).text
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    pieces: list[str] = []
    cut = generator.generate(MESSAGES, DecodingSettings(max_new_tokens=24, stop=(stop,)), on_token=pieces.append)
    assert cut.text == full[: full.index(stop)]
    assert "".join(pieces) == cut.text
    assert cut.extra["finish_reason"] == "stop"


def test_count_tokens_uses_the_model_tokenizer(generator: TransformersGenerator, tiny_dir: Path) -> None:
    from transformers import AutoTokenizer

    text = "Refunds are processed within 14 days."
    expected = len(AutoTokenizer.from_pretrained(tiny_dir)(text, add_special_tokens=False)["input_ids"])
    assert generator.count_tokens(text) == expected > 0


def test_falls_back_to_a_plain_transcript_without_a_chat_template(tiny_dir: Path) -> None:
    gen = TransformersGenerator(tiny_dir, threads=1)
    gen.warm_up()
    gen._tokenizer.chat_template = None
    prompt = gen._tokenizer.decode(gen._encode_chat(MESSAGES))
    assert prompt == "system: Answer from the context.\nuser: What is the refund window?\nassistant:"


def test_missing_model_directory_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="could not load a transformers model"):
        TransformersGenerator(tmp_path / "nope", threads=1).warm_up()


def test_bf16_runs_the_weights_in_bf16_and_first_tokens_stay_close_to_fp32(generator: TransformersGenerator, tiny_dir: Path) -> None:
    import torch

    half = TransformersGenerator(tiny_dir, threads=1, precision="bf16")
    result = half.generate(MESSAGES, GREEDY)
    assert half._model.dtype == torch.bfloat16 and generator._model.dtype == torch.float32
    assert result.extra["precision"] == "bf16" and generator.generate(MESSAGES, GREEDY).extra["precision"] == "fp32"
    assert result.completion_tokens == GREEDY.max_new_tokens and result.text
    full = dict(generator.generate(MESSAGES, GREEDY).first_token_top)
    for token, p in half.generate(MESSAGES, GREEDY).first_token_top[:3]:  # the same distribution, rounded
        assert abs(full.get(token, 0.0) - p) < 0.05


def test_auto_precision_resolves_at_warm_up_and_a_bad_one_is_refused(tiny_dir: Path) -> None:
    gen = TransformersGenerator(tiny_dir, threads=1, precision="auto")
    assert gen.precision == "auto"  # construction loads nothing
    gen.warm_up()
    assert gen.precision in ("bf16", "fp32")
    with pytest.raises(ModelError, match="auto, bf16 or fp32"):
        TransformersGenerator(tiny_dir, precision="fp16")


def test_the_workspace_setting_reaches_the_transformers_backend(tiny_dir: Path) -> None:
    from ragft.config import ModelsConfig
    from ragft.models.factory import build_generator

    models = ModelsConfig(generator_backend="transformers", generator=str(tiny_dir), precision="bf16")
    gen = build_generator(models)
    assert isinstance(gen, TransformersGenerator) and gen.precision == "bf16"


def test_prompt_lookup_drafts_what_followed_the_latest_match_longest_ngram_first() -> None:
    from ragft.models.decoding import prompt_lookup

    assert prompt_lookup([1, 2, 3, 9, 9, 5, 2, 3, 7, 8, 2, 3]) == [7, 8, 2, 3]  # bigram "2 3": latest match wins
    assert prompt_lookup([4, 5, 6, 1, 7, 5, 6, 2, 4, 5, 6], draft=2) == [1, 7]  # the trigram "4 5 6" beats the later bigram "5 6"
    assert prompt_lookup([1, 2, 3, 4]) == []  # nothing repeats
    assert prompt_lookup([7]) == [] and prompt_lookup([]) == []


def test_drafted_greedy_decoding_writes_the_same_text_as_one_token_per_pass(tiny_dir: Path) -> None:
    copying = [{"role": "user", "content": "alpha beta gamma delta " * 6 + "alpha beta"}]
    plain = TransformersGenerator(tiny_dir, threads=1, draft_tokens=0)
    drafted = TransformersGenerator(tiny_dir, threads=1)
    settings = DecodingSettings(max_new_tokens=40)
    for messages in (copying, MESSAGES):
        reference, result = plain.generate(messages, settings), drafted.generate(messages, settings)
        assert result.text == reference.text and result.completion_tokens == reference.completion_tokens
        assert reference.extra["drafted_tokens"] == 0
    assert result.extra["drafted_tokens"] > 0  # the random model repeats itself, so drafts were checked
    stop = reference.text[10:12]  # a stop string met inside an accepted draft still ends the text before it
    cut = drafted.generate(MESSAGES, DecodingSettings(max_new_tokens=40, stop=(stop,)))
    assert cut.text == reference.text[: reference.text.index(stop)]
    for limit in (1, 7):  # and the length limit holds exactly, drafts or not
        assert drafted.generate(MESSAGES, DecodingSettings(max_new_tokens=limit)).completion_tokens == limit
