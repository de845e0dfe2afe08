"""The OpenAI-compatible client against a real SSE server on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ragft.models.base import (
    DecodingSettings,
    Generator,
    ModelError,
    Scorer,
    ScoringUnavailable,
    scorer_of,
)
from ragft.models.openai_backend import OpenAIGenerator
from tests.openai_fakes import REPLY_PIECES, FakeServer, serve_fake


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    yield from serve_fake()


def _client(srv: FakeServer, **kwargs: object) -> OpenAIGenerator:
    host, port = srv.server_address[:2]
    return OpenAIGenerator(f"http://{host}:{port}/v1", "tiny", backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


MESSAGES = [{"role": "user", "content": "What is the refund window?"}]


def test_streams_pieces_that_join_to_the_text(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGFT_TEST_KEY", "sekret")
    gen = _client(server, api_key_env="RAGFT_TEST_KEY")
    assert isinstance(gen, Generator)
    gen.warm_up()
    seen: list[str] = []
    result = gen.generate(MESSAGES, DecodingSettings(max_new_tokens=20, stop=("\n",)), on_token=seen.append)
    assert seen == REPLY_PIECES
    assert result.text == "".join(REPLY_PIECES)
    assert (result.prompt_tokens, result.completion_tokens) == (21, 7)
    assert 0 < result.time_to_first_token_s <= result.total_s
    assert result.extra["finish_reason"] == "stop"
    sent = server.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["stream"] is True
    assert sent["max_tokens"] == 20 and sent["temperature"] == 0.0 and sent["stop"] == ["\n"]
    assert sent["auth"] == "Bearer sekret"


CANDIDATES = DecodingSettings(first_token_candidates=True)


def test_first_token_candidates_come_from_a_one_token_request_and_the_answer_streams_without_logprobs(server: FakeServer) -> None:
    result = _client(server).generate(MESSAGES, CANDIDATES)
    candidates, answer = server.requests
    assert (candidates["max_tokens"], candidates["logprobs"], candidates["top_logprobs"]) == (1, True, 10)
    assert candidates["messages"] == answer["messages"] and candidates["seed"] == answer["seed"]
    assert "logprobs" not in answer and "top_logprobs" not in answer, "llama.cpp's server sorts the vocabulary per logprob token"
    assert [t for t, _ in result.first_token_top] == ["The refund ", "I", "It"]
    assert [p for _, p in result.first_token_top] == pytest.approx([0.7, 0.2, 0.1])
    assert result.text == "".join(REPLY_PIECES) and result.extra["finish_reason"] == "stop"
    assert 0 < result.extra["candidates_s"] < result.time_to_first_token_s <= result.total_s, "the extra request is paid for"


def test_without_first_token_candidates_asked_for_one_request_is_sent_and_none_are_reported(server: FakeServer) -> None:
    result = _client(server).generate(MESSAGES, DecodingSettings())
    assert [r["max_tokens"] for r in server.requests] == [128] and "logprobs" not in server.requests[0]
    assert result.first_token_top == () and result.extra["candidates_s"] == 0.0


def test_a_server_that_rejects_logprobs_is_asked_again_without_them_once_and_for_all(server: FakeServer) -> None:
    server.reject_logprobs = True
    gen = _client(server)
    first, second = gen.generate(MESSAGES, CANDIDATES), gen.generate(MESSAGES, CANDIDATES)
    assert first.text == second.text == "".join(REPLY_PIECES) and first.first_token_top == second.first_token_top == ()
    assert [("logprobs" in r, r["max_tokens"]) for r in server.requests] == [(True, 1), (False, 1), (False, 128), (False, 128)]


def test_a_server_that_breaks_off_logprobs_streams_answers_without_candidates_from_then_on(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.broken_logprobs_stream = True
    gen = _client(server, max_retries=0)
    first, second = gen.generate(MESSAGES, CANDIDATES), gen.generate(MESSAGES, CANDIDATES)
    assert first.text == second.text == "".join(REPLY_PIECES) and first.first_token_top == second.first_token_top == ()
    assert ["logprobs" in r for r in server.requests] == [True, False, False]
    assert "broke off the request for the first token's candidates" in capsys.readouterr().err


def test_counts_pieces_when_the_server_reports_no_usage(server: FakeServer) -> None:
    server.send_usage = False
    result = _client(server).generate(MESSAGES, DecodingSettings())
    assert result.completion_tokens == len(REPLY_PIECES)
    assert result.prompt_tokens > 0 and result.extra["usage_reported"] is False


def test_retries_after_a_503(server: FakeServer) -> None:
    server.failures_left = 1
    result = _client(server, max_retries=2).generate(MESSAGES, DecodingSettings())
    assert result.text == "".join(REPLY_PIECES)
    assert result.extra["attempts"] == 2
    assert len(server.requests) == 2


def test_gives_up_after_max_retries_with_a_clear_error(server: FakeServer) -> None:
    server.failures_left = 5
    with pytest.raises(ModelError, match="kept failing after 2 tries"):
        _client(server, max_retries=1).generate(MESSAGES, DecodingSettings())


def test_unreachable_server_says_what_to_do() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = OpenAIGenerator(f"http://127.0.0.1:{port}/v1", "tiny", max_retries=1, backoff_s=0.01)
    with pytest.raises(ModelError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1.*is the server running.*openai_base_url"):
        gen.generate(MESSAGES, DecodingSettings())
    with pytest.raises(ModelError, match="cannot reach"):
        gen.warm_up()


def test_scores_a_text_with_the_servers_prompt_logprobs(server: FakeServer) -> None:
    server.completions = "echo"
    gen = _client(server)
    assert scorer_of(gen) is gen and isinstance(gen, Scorer)
    scores = gen.score("Refunds are processed within 14 days.")
    assert scores.logprobs == pytest.approx([-1.5, -4.5, -3.0, -1.0, -2.5]), "one per word after the first (the fake's tokens)"
    assert scores.perplexity == pytest.approx(math.exp(12.5 / 5)) and scores.model == "openai:tiny"
    sent = server.requests[-1]
    assert sent["path"] == "/v1/completions"
    assert (sent["echo"], sent["logprobs"], sent["max_tokens"]) == (True, 1, 1), "llama-cpp-python reads 0 as no limit"
    assert gen.score("one two three four", max_tokens=3).tokens == 2, "the first max_tokens tokens, the first unscored"


def test_a_server_without_the_completions_endpoint_cannot_score_and_says_why(server: FakeServer) -> None:
    with pytest.raises(ScoringUnavailable, match=r"/v1/completions refused a request for prompt log-probabilities.*HTTP 404.*vLLM"):
        _client(server).score("Refunds are processed within 14 days.")


def test_a_server_that_ignores_echo_and_logprobs_cannot_score_and_says_why(server: FakeServer) -> None:
    server.completions = "ignores"
    with pytest.raises(ScoringUnavailable, match="answered without prompt log-probabilities"):
        _client(server).score("Refunds are processed within 14 days.")


def test_repeat_penalty_one_is_sent_and_dropped_for_good_when_the_server_rejects_it(server: FakeServer) -> None:
    client = _client(server)
    client.generate(MESSAGES, DecodingSettings(max_new_tokens=16))
    assert server.requests[-1]["repeat_penalty"] == 1.0, "llama.cpp servers default to 1.1; the local engines use none"
    server.reject_repeat_penalty = True
    for _ in range(2):
        assert client.generate(MESSAGES, DecodingSettings(max_new_tokens=16)).text == "".join(REPLY_PIECES)
    client.generate(MESSAGES, replace(CANDIDATES, max_new_tokens=16))
    assert ["repeat_penalty" in r for r in server.requests[1:]] == [True, False, False, False, False]
    assert server.requests[-2]["logprobs"] is True, "only the refused field is dropped"


def test_a_stream_that_ends_without_a_finish_reason_is_an_error_not_an_empty_answer(server: FakeServer) -> None:
    server.broken_stream = True
    with pytest.raises(ModelError, match=r"ended with no finish reason and no \[DONE\].*its log says why"):
        _client(server, max_retries=0).generate(MESSAGES, DecodingSettings(max_new_tokens=16))


def test_tokens_are_counted_by_the_servers_tokenizer_once_per_text(server: FakeServer) -> None:
    server.tokenize = True
    client = _client(server)
    assert client.count_tokens("one two three four five six") == 6
    assert client.count_tokens("one two three four five six") == 6
    assert [r["path"] for r in server.requests] == ["/tokenize"], "asked once, then cached"
    assert server.requests[0]["model"] == "tiny"


def test_a_server_without_a_tokenizer_route_gets_an_estimate_and_is_not_asked_again(
    server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _client(server)
    assert client.count_tokens("x" * 40) == 10
    assert client.count_tokens("y" * 8) == 2
    assert [r["path"] for r in server.requests] == ["/tokenize", "/extras/tokenize"]
    assert "no tokenizer route" in capsys.readouterr().err
