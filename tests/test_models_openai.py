"""The OpenAI-compatible client against a real SSE server on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

REPLY_PIECES = ["The refund ", "window is ", "14 days."]


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    failures_left = 0  # answer this many chat requests with 503 first
    requests: list[dict]
    send_usage = True
    reject_logprobs = False  # answer a request for logprobs with HTTP 400, as a server without them does
    # POST /completions: "missing" answers 404 (a chat-only server, like ragft's own), "ignores" answers
    # without logprobs (echo and logprobs ignored), "echo" returns the prompt's log-probabilities.
    completions = "missing"
    reject_repeat_penalty = False  # answer a request with repeat_penalty with HTTP 400 naming it, as OpenAI's API does
    broken_stream = False  # send the 200 header, then close without any event (a server that failed mid-answer)
    tokenize = False  # answer vLLM's POST /tokenize with the whitespace-word count


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": "tiny"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **payload})
        if self.path.endswith("/v1/completions"):
            self._completions(payload)
            return
        if self.path == "/tokenize" and self.server.tokenize:
            self._json(200, {"count": len(payload["prompt"].split()), "max_model_len": 512})
            return
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"detail": "Not Found"})
            return
        if self.server.reject_repeat_penalty and "repeat_penalty" in payload:
            self._json(400, {"error": {"message": "Unrecognized request argument supplied: repeat_penalty"}})
            return
        if self.server.reject_logprobs and "logprobs" in payload:
            body = b'{"error": "unknown field: logprobs"}'
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.server.failures_left > 0:
            self.server.failures_left -= 1
            self.send_response(503)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"busy")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.server.broken_stream:
            return
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        events += [
            {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None, **_logprobs(p, payload)}]} for p in REPLY_PIECES
        ]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if self.server.send_usage:
            events.append({"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b": keep-alive comment\n\ndata: [DONE]\n\n")

    def _completions(self, payload: dict) -> None:
        """The legacy completions endpoint, as servers differ on it (see `FakeServer.completions`)."""
        words = payload["prompt"].split()
        choice: dict = {"index": 0, "text": payload["prompt"] if payload.get("echo") else "", "finish_reason": "length"}
        if self.server.completions == "echo":
            choice["logprobs"] = {"tokens": words, "token_logprobs": [None] + [-0.5 * len(w) for w in words[1:]], "top_logprobs": None}
        status, answer = (
            (404, {"detail": "Not Found"})
            if self.server.completions == "missing"
            else (200, {"choices": [choice], "usage": {"prompt_tokens": len(words), "completion_tokens": 0}})
        )
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, answer: dict) -> None:
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _logprobs(piece: str, payload: dict) -> dict:
    """OpenAI's per-token logprobs for a piece, with made-up alternatives, when the request asked for them."""
    if not payload.get("logprobs"):
        return {}
    top = [{"token": piece, "logprob": math.log(0.7)}, {"token": "I", "logprob": math.log(0.2)}, {"token": "It", "logprob": math.log(0.1)}]
    return {"logprobs": {"content": [{"token": piece, "logprob": math.log(0.7), "top_logprobs": top[: payload["top_logprobs"]]}]}}


@pytest.fixture()
def server() -> Iterator[FakeServer]:
    srv = FakeServer(("127.0.0.1", 0), Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


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


def test_first_token_candidates_come_from_the_servers_logprobs(server: FakeServer) -> None:
    result = _client(server).generate(MESSAGES, DecodingSettings())
    assert server.requests[-1]["logprobs"] is True and server.requests[-1]["top_logprobs"] == 10
    assert [t for t, _ in result.first_token_top] == ["The refund ", "I", "It"]
    assert [p for _, p in result.first_token_top] == pytest.approx([0.7, 0.2, 0.1])


def test_a_server_that_rejects_logprobs_is_asked_again_without_them_once_and_for_all(server: FakeServer) -> None:
    server.reject_logprobs = True
    gen = _client(server)
    first, second = gen.generate(MESSAGES, DecodingSettings()), gen.generate(MESSAGES, DecodingSettings())
    assert first.text == second.text == "".join(REPLY_PIECES) and first.first_token_top == ()
    assert ["logprobs" in r for r in server.requests] == [True, False, False]


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
    assert (sent["echo"], sent["logprobs"], sent["max_tokens"]) == (True, 1, 0)
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
    assert ["repeat_penalty" in r for r in server.requests[1:]] == [True, False, False]
    assert all(r["logprobs"] is True for r in server.requests), "only the refused field is dropped"


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
