"""A real SSE server on 127.0.0.1 speaking the OpenAI chat/completions protocol, for the client's and the domain stage's tests."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    broken_logprobs_stream = False  # the same for requests with logprobs only (llama_cpp.server without logits_all)
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
        if self.server.broken_stream or (self.server.broken_logprobs_stream and payload.get("logprobs")):
            return
        pieces = REPLY_PIECES[: payload.get("max_tokens") or len(REPLY_PIECES)]  # one piece stands for one token
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
        events += [{"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None, **_logprobs(p, payload)}]} for p in pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop" if pieces == REPLY_PIECES else "length"}]})
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
        self._json(status, answer)

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


def serve_fake() -> Iterator[FakeServer]:
    """A FakeServer on a free loopback port, in a thread, shut down when the generator closes (a fixture's body)."""
    srv = FakeServer(("127.0.0.1", 0), Handler)
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
