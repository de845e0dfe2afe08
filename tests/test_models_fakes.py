"""The stand-ins other packages test with behave like real models where it matters."""

from __future__ import annotations

from ragft.models.base import DecodingSettings, Generator, embedder_token_counter
from ragft.models.embedders import HashingEmbedder
from ragft.models.testing import ScriptedGenerator


def test_scripted_generator_streams_its_reply_and_honours_limits() -> None:
    gen = ScriptedGenerator(lambda messages: "The refund window is 14 days. Anything else?")
    assert isinstance(gen, Generator)
    pieces: list[str] = []
    result = gen.generate([{"role": "user", "content": "q"}], DecodingSettings(stop=(" Anything",)), on_token=pieces.append)
    assert result.text == "The refund window is 14 days." == "".join(pieces)
    assert 0 < result.time_to_first_token_s <= result.total_s
    assert gen.generate([{"role": "user", "content": "q"}], DecodingSettings(max_new_tokens=2)).text == "The refund"
    assert len(gen.calls) == 2


def test_scripted_generator_echoes_the_last_user_turn_by_default() -> None:
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"}, {"role": "user", "content": "second"}]
    assert ScriptedGenerator().generate(messages, DecodingSettings()).text == "second"


class _NoCounter:
    name = "plain"
    dim = 2


def test_token_counter_prefers_the_embedder_tokenizer() -> None:
    assert embedder_token_counter(HashingEmbedder())("a b c") == 3
    assert embedder_token_counter(_NoCounter())("one two") == 2  # type: ignore[arg-type]
