"""A `Generator` for any OpenAI-compatible server (vLLM, llama.cpp server, Ollama), over httpx.

Streams `/chat/completions` (server-sent events), so `on_token` and time to first token work the
same as for the local engines; TTFT is measured on the client, so it includes the network.
Connection failures and 5xx/429 answers are retried with exponential backoff, but only before
the first token arrives: text already handed to `on_token` cannot be taken back. When the caller
wants the first token's candidates (`DecodingSettings.first_token_candidates`, set by RAG), they come
from a one-token request with `logprobs` sent before the answer, which streams without them:
llama-cpp-python's server sorts the whole vocabulary in Python for every token it returns logprobs
for (a streamed answer took 3-4x as long with them in a probe), and a server with a prompt cache
(vLLM, llama.cpp's) reuses the one-token request's prefill for the answer; on a one-slot server
that holds only while requests come one at a time (`[evaluation] concurrency = 1`).
`repeat_penalty = 1` is sent so llama.cpp's servers (whose default is 1.1) decode as the
in-process engines do; a server that rejects such an optional field by name is asked again
without it, once and for all. A stream
that ends with neither a finish reason nor `[DONE]` (a server that failed after its 200 header) is
an error, never an empty answer.

One generator may be called from several threads at once (`concurrent_requests`): the evaluator
then has a batching server (vLLM, a llama.cpp server with parallel slots) answer probes side by side.

`score(text)` asks the legacy `/completions` endpoint to echo the prompt with its log-probabilities
(`echo=true, logprobs=1, max_tokens=1`: llama-cpp-python takes 0 as "no limit"), which vLLM
supports; a server that refuses or ignores that (Ollama, ragft's) makes it raise
`ScoringUnavailable` saying so, and so does llama-cpp-python's server for a model without a
beginning-of-sequence token (Qwen's), whose echoed log-probabilities it shifts by one token.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import httpx

from ragft.models.base import (
    FIRST_TOKEN_TOP_N,
    SCORE_MAX_TOKENS,
    ChatMessage,
    DecodingSettings,
    Generation,
    ModelError,
    ScoringUnavailable,
    TokenCallback,
    TokenScores,
)
from ragft.models.openai_events import StreamedReply, prompt_logprobs, read_chat_stream, served_models, token_count

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_TOKENIZE_ROUTES = (("/tokenize", "prompt"), ("/extras/tokenize", "input"))  # vLLM; llama-cpp-python's server
_TOKEN_COUNT_CACHE = 50_000  # texts whose count is kept (passages recur across questions)
_CHARS_PER_TOKEN = 4  # rough English average, used only when the server reports no usage
_SCORE_CHARS_PER_TOKEN = 8  # scored text sent per token asked for: above any tokenizer's English average


class _Retryable(Exception):
    """A failure worth another try (connection refused, 5xx, 429)."""


class _StreamBroke(ModelError):
    """A 200 answer whose stream ended with neither a finish reason nor `[DONE]` (the server failed mid-answer)."""


class _FieldRefused(Exception):
    """The server rejected an optional request field by name; the request is sent again without it."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


_ANSWER_FIELDS = ("repeat_penalty",)  # the optional fields an answer is streamed with
_CANDIDATE_FIELDS = ("repeat_penalty", "logprobs")  # and those of the one-token request for the first token's candidates


def _optional_fields() -> dict[str, dict[str, Any]]:
    """Fields sent while the server accepts them, keyed by the name its error message would quote."""
    return {
        "logprobs": {"logprobs": True, "top_logprobs": FIRST_TOKEN_TOP_N},  # the first token's candidates
        "repeat_penalty": {"repeat_penalty": 1.0},  # llama.cpp servers default to 1.1; the local engines use none
    }


class OpenAIGenerator:
    """Chat completions from an OpenAI-compatible HTTP server."""

    concurrent_requests = True  # thread-safe: each call is its own HTTP request on a shared pool

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 120.0,
        max_retries: int = 2,
        *,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.name = f"openai:{model}"
        self._client: httpx.Client | None = None
        self._optional = _optional_fields()  # dropped one by one as the server refuses them
        self._lock = threading.Lock()  # guards the lazily created client, the optional fields and the token counts
        self._token_counts: dict[str, int] = {}
        self._tokenize_route: tuple[str, str] | Literal[False] | None = None  # None: not yet known; False: the server has none

    def warm_up(self) -> None:
        """Open the connection pool and check the server answers (`GET /models`)."""
        client = self._ensure_client()
        try:
            response = client.get(f"{self.base_url}/models")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise self._auth_error(response)
        served = served_models(response)
        if served and self.model not in served and f"{self.model}:latest" not in served:
            raise ModelError(
                f"{self.base_url} serves {', '.join(sorted(served))}, not {self.model!r}: start the server with "
                "`ragft engine-command vllm|llama-server`, or fix [models] generator / openai_adapter_model in ragft.toml"
            )

    def generate(
        self,
        messages: Sequence[ChatMessage],
        settings: DecodingSettings,
        on_token: TokenCallback | None = None,
    ) -> Generation:
        """Stream a chat completion, retrying transient failures that happen before any token.

        With `settings.first_token_candidates`, a one-token request asks for the first token's
        candidates first; its time counts in the answer's time to first token and total.
        """
        payload = self._payload(messages, settings)
        candidates, candidates_s = self._first_token_candidates(payload, messages) if settings.first_token_candidates else ((), 0.0)
        answer = self._retrying(payload, messages, on_token, fields=_ANSWER_FIELDS)
        return replace(
            answer,
            prefill_s=answer.prefill_s + candidates_s,
            time_to_first_token_s=answer.time_to_first_token_s + candidates_s,
            total_s=answer.total_s + candidates_s,
            extra={**answer.extra, "candidates_s": candidates_s},
            first_token_top=candidates,
        )

    def _payload(self, messages: Sequence[ChatMessage], settings: DecodingSettings) -> dict[str, Any]:
        """The streamed chat request for `messages`, before the optional fields."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
        }
        if settings.stop:
            payload["stop"] = list(settings.stop)
        return payload

    def _first_token_candidates(
        self, payload: dict[str, Any], messages: Sequence[ChatMessage]
    ) -> tuple[tuple[tuple[str, float], ...], float]:
        """The first token's candidates from a one-token request with logprobs (() once the server refused them), and its seconds."""
        started = time.perf_counter()
        with self._lock:
            if "logprobs" not in self._optional:
                return (), 0.0
        try:
            one = self._retrying({**payload, "max_tokens": 1}, messages, None, fields=_CANDIDATE_FIELDS)
        except _StreamBroke as exc:  # llama_cpp.server without logits_all fails a logprobs stream after its 200 header
            with self._lock:
                self._optional.pop("logprobs", None)
            print(
                f"ragft: {self.base_url} broke off the request for the first token's candidates ({exc}); answers go on "
                "without them (no refusal probability). A llama_cpp.server needs logits_all, as `ragft engine-command llama-server` writes it",
                file=sys.stderr,
            )
            return (), time.perf_counter() - started
        return one.first_token_top, time.perf_counter() - started

    def _retrying(
        self, payload: dict[str, Any], messages: Sequence[ChatMessage], on_token: TokenCallback | None, *, fields: tuple[str, ...]
    ) -> Generation:
        """One streamed request with the optional `fields` the server accepts, tried up to `max_retries` more times."""
        last_error: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                return self._stream_accepted(payload, messages, on_token, attempts=attempt + 1, fields=fields)
            except _Retryable as exc:
                last_error = exc.__cause__ or exc
        if isinstance(last_error, httpx.TransportError):
            raise self._unreachable(last_error) from last_error
        raise ModelError(
            f"{self.base_url}/chat/completions kept failing after {self.max_retries + 1} tries "
            f"({last_error}); check the server's log, or raise [models] max_retries in ragft.toml"
        ) from last_error

    def _stream_accepted(
        self,
        payload: dict[str, Any],
        messages: Sequence[ChatMessage],
        on_token: TokenCallback | None,
        *,
        attempts: int,
        fields: tuple[str, ...],
    ) -> Generation:
        """Stream with those of `fields` the server has not refused; drop each one it refuses, for good."""
        while True:
            with self._lock:
                optional = {name: value for name, value in self._optional.items() if name in fields}
            full = {**payload, **{k: v for values in optional.values() for k, v in values.items()}}
            try:
                return self._stream_once(full, messages, on_token, attempts=attempts, optional=tuple(optional))
            except _FieldRefused as refused:  # e.g. an older Ollama without logprobs: answer without it from now on
                with self._lock:
                    self._optional.pop(refused.field, None)

    def score(self, text: str, *, max_tokens: int = SCORE_MAX_TOKENS) -> TokenScores:
        """The server's log-probabilities of the prompt's tokens (the first `max_tokens`), from `/completions`.

        Raises `ScoringUnavailable` when the server refuses the request or answers without prompt
        log-probabilities, and `ModelError` when it cannot be reached.
        """
        url = f"{self.base_url}/completions"
        self._refuse_a_shifted_echo()
        prompt = text[: max_tokens * _SCORE_CHARS_PER_TOKEN]  # the server need not read (nor fit) the rest
        payload = {"model": self.model, "prompt": prompt, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0.0}
        try:
            response = self._ensure_client().post(url, json=payload, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code in (401, 403):
            raise self._auth_error(response)
        if response.status_code >= 400:
            raise ScoringUnavailable(
                f"{url} refused a request for prompt log-probabilities (echo with logprobs): "
                f"HTTP {response.status_code} {response.text[:200]!r}; a server that supports them (vLLM) or a local backend can score"
            )
        try:
            logprobs = prompt_logprobs(response.json(), prompt_chars=len(prompt))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise ScoringUnavailable(
                f"{url} answered without prompt log-probabilities ({exc}): this server does not score prompts"
            ) from exc
        return TokenScores(logprobs[: max(max_tokens - 1, 0)], model=self.name)

    def _refuse_a_shifted_echo(self) -> None:
        """Raise ScoringUnavailable on llama-cpp-python's server when the model has no beginning-of-sequence token.

        That server (0.3.x) pairs each echoed token with the distribution that follows it, which is
        right only once it has dropped a leading BOS; without one every log-probability belongs to the
        next token's prediction. Its `/extras/tokenize` adds the BOS a model has, so "" tokenizes to nothing without one.
        """
        try:
            response = self._ensure_client().post(
                self.base_url.removesuffix("/v1") + "/extras/tokenize",
                json={"model": self.model, "input": ""},
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 200 and token_count(response) == 0:
            raise ScoringUnavailable(
                f"{self.base_url} is llama-cpp-python's server and {self.model!r} has no beginning-of-sequence token: that server "
                "shifts echoed prompt log-probabilities by one token for such a model, so a perplexity from it would be wrong; "
                'serve the model from vLLM, or measure in-process ([models] generator_backend = "llama_cpp" on the same GGUF)'
            )

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the served model's tokenizer, counted by the server and cached per text.

        RAG fits passages into `context_budget_tokens` with this count, so it must be the model's own
        for a served arm to see the passages the in-process engine would. Asked of vLLM's `/tokenize`
        or llama-cpp-python's `/extras/tokenize` (whichever answers first, then that one); a server
        with neither gets an estimate of about 4 characters a token, and a stderr note says so once.
        """
        with self._lock:
            known = self._token_counts.get(text)
        if known is not None:
            return known
        count = self._server_count(text)
        if count is None:
            return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN
        with self._lock:
            if len(self._token_counts) >= _TOKEN_COUNT_CACHE:
                self._token_counts.clear()
            self._token_counts[text] = count
        return count

    def _server_count(self, text: str) -> int | None:
        """The server's token count for `text`, or None when it offers no tokenizer route."""
        routes = _TOKENIZE_ROUTES if self._tokenize_route is None else (self._tokenize_route,) if self._tokenize_route else ()
        root = self.base_url.removesuffix("/v1")
        for path, body in routes:
            try:
                response = self._ensure_client().post(
                    root + path, json={"model": self.model, body: text, "add_special_tokens": False}, headers={"Accept": "application/json"}
                )
            except httpx.TransportError as exc:
                raise self._unreachable(exc) from exc
            if response.status_code in (401, 403):
                raise self._auth_error(response)
            count = token_count(response) if response.status_code == 200 else None
            if count is not None:
                self._tokenize_route = (path, body)
                return count
        if self._tokenize_route is None:
            print(f"ragft: {self.base_url} offers no tokenizer route; token counts are estimated (4 characters a token)", file=sys.stderr)
            self._tokenize_route = False
        return None

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _stream_once(
        self,
        payload: dict[str, Any],
        messages: Sequence[ChatMessage],
        on_token: TokenCallback | None,
        *,
        attempts: int,
        optional: tuple[str, ...] = (),
    ) -> Generation:
        client = self._ensure_client()
        reply = StreamedReply()
        start = time.perf_counter()
        try:
            with client.stream("POST", f"{self.base_url}/chat/completions", json=payload) as response:
                self._check_status(response, optional)
                read_chat_stream(response.iter_lines(), reply, on_token)
        except httpx.TransportError as exc:
            if reply.pieces:  # the stream broke mid-answer; retrying would repeat text already emitted
                raise ModelError(f"{self.base_url}: the connection broke during the answer ({exc})") from exc
            raise _Retryable(str(exc)) from exc
        if not reply.complete:
            raise _StreamBroke(
                f"{self.base_url}/chat/completions: the stream ended with no finish reason and no [DONE] "
                f"after {len(reply.pieces)} pieces: the server failed mid-answer; its log says why"
            )
        end = time.perf_counter()
        ttft = (reply.first_token_at or end) - start
        usage = reply.usage
        return Generation(
            text="".join(reply.pieces),
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens("".join(m["content"] for m in messages))),
            completion_tokens=int(usage.get("completion_tokens") or len(reply.pieces)),
            prefill_s=ttft,  # the server does not report its prefill time; TTFT bounds it from above
            time_to_first_token_s=ttft,
            total_s=end - start,
            model=self.name,
            extra={"finish_reason": reply.finish_reason, "attempts": attempts, "usage_reported": bool(usage)},
            first_token_top=reply.first_token_top,
        )

    def _check_status(self, response: httpx.Response, optional: tuple[str, ...]) -> None:
        """Raise for an answer that is not a stream: retryable (5xx, 429), auth, a refused optional field, or other."""
        if response.status_code < 400:
            return
        response.read()
        if response.status_code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code in (401, 403):
            raise self._auth_error(response)
        refused = _refused_field(response, optional)
        if refused is not None:
            raise _FieldRefused(refused)
        raise ModelError(
            f"{self.base_url}/chat/completions answered HTTP {response.status_code}: "
            f"{response.text[:300]}; check [models] generator (the served model name) in ragft.toml"
        )

    def _ensure_client(self) -> httpx.Client:
        with self._lock:
            return self._client or self._new_client()

    def _new_client(self) -> httpx.Client:
        if self._client is None:
            headers = {"Accept": "text/event-stream"}
            api_key = os.environ.get(self.api_key_env, "")
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            timeout = httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s))
            self._client = httpx.Client(headers=headers, timeout=timeout)
        return self._client

    def _unreachable(self, exc: Exception) -> ModelError:
        return ModelError(
            f"cannot reach {self.base_url} ({type(exc).__name__}: {exc}): is the server running? set [models] openai_base_url in ragft.toml"
        )

    def _auth_error(self, response: httpx.Response) -> ModelError:
        return ModelError(
            f"{self.base_url} refused the request (HTTP {response.status_code}): set the API key in "
            f"the environment variable {self.api_key_env} (or change [models] openai_api_key_env in ragft.toml)"
        )


def _refused_field(response: httpx.Response, optional: Sequence[str]) -> str | None:
    """The optional field a 400/422 answer names (the one to send no more), or None."""
    if response.status_code not in (400, 422):
        return None
    text = response.text.lower()
    return next((name for name in optional if name.rstrip("s") in text), None)
