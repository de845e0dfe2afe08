"""What an OpenAI-compatible server sends back, decoded: the chat stream's server-sent events and the small JSON answers.

`models.openai_backend` sends the requests (retries, optional fields, timing); this module only
reads answers, so each part can be read, and tested, on its own:

- `read_chat_stream`: a `/chat/completions` stream's `data:` events until `[DONE]`, gathered
  into a `StreamedReply` (its pieces, usage, finish reason, the first token's candidates);
- `prompt_logprobs`: the echoed prompt's log-probabilities from a `/completions` answer;
- `served_models`, `token_count`: `GET /models` and the tokenizer routes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ragft.models.base import ModelError, TokenCallback

DONE: dict[str, Any] = {}  # the event `sse_events` yields last for `data: [DONE]`


@dataclass
class StreamedReply:
    """A chat stream as read so far (so a caller whose connection broke knows whether text was already emitted)."""

    pieces: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    done: bool = False  # `data: [DONE]` arrived
    first_token_at: float | None = None  # perf_counter() when the first piece of text arrived
    first_token_top: tuple[tuple[str, float], ...] = ()

    @property
    def complete(self) -> bool:
        """The stream ended as a finished answer does: with a finish reason or `[DONE]`."""
        return self.done or bool(self.finish_reason)


def read_chat_stream(lines: Iterator[str], reply: StreamedReply, on_token: TokenCallback | None = None) -> StreamedReply:
    """Gather a `/chat/completions` stream into `reply`, handing each piece of text to `on_token` as it arrives."""
    for event in sse_events(lines):
        if event.get("usage"):
            reply.usage = event["usage"]
        for choice in event.get("choices") or []:
            reply.first_token_top = reply.first_token_top or first_token_top(choice)
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                if reply.first_token_at is None:
                    reply.first_token_at = time.perf_counter()
                reply.pieces.append(piece)
                if on_token is not None:
                    on_token(piece)
            reply.finish_reason = choice.get("finish_reason") or reply.finish_reason
        reply.done = reply.done or event is DONE
    return reply


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Decode server-sent events: JSON `data:` payloads until `data: [DONE]`, yielded last as `DONE`."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].strip())
            continue
        if line.strip() or not data:  # comments, `event:`/`id:` fields, keep-alives
            continue
        payload = "\n".join(data)
        data = []
        if payload == "[DONE]":
            yield DONE
            return
        yield parse_event(payload)
    if data and "\n".join(data) != "[DONE]":
        yield parse_event("\n".join(data))


def parse_event(payload: str) -> dict[str, Any]:
    """One event's JSON; a server's mid-stream `{"error": ...}` or a payload that is not JSON raises ModelError."""
    try:
        event = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ModelError(f"the server sent a stream event that is not JSON: {payload[:200]!r}") from exc
    if isinstance(event, dict) and "error" in event:
        raise ModelError(f"the server reported an error mid-stream: {event['error']}")
    return event if isinstance(event, dict) else {}


def first_token_top(choice: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """The first token's candidates from a stream chunk's `logprobs` (OpenAI's shape), if it has them."""
    content = (choice.get("logprobs") or {}).get("content") or []
    candidates = content[0].get("top_logprobs") or [] if content else []
    pairs = [(str(c.get("token", "")), math.exp(float(c["logprob"]))) for c in candidates if c.get("logprob") is not None]
    return tuple(sorted(pairs, key=lambda pair: pair[1], reverse=True))


def prompt_logprobs(body: Any, *, prompt_chars: int | None = None) -> tuple[float, ...]:
    """Log-probabilities of the echoed prompt's tokens from a `/completions` answer (the first, without
    context, comes as null and is left out).

    The echo ends with the tokens the server generated after the prompt: those starting at or past
    `prompt_chars` (by `text_offset`) are cut off, or, without offsets, those past `usage.prompt_tokens`.
    """
    logprobs = body["choices"][0].get("logprobs") or {}
    values = logprobs.get("token_logprobs")
    if not values:
        raise ValueError("no choices[0].logprobs.token_logprobs in the answer")
    offsets = logprobs.get("text_offset")
    prompt_tokens = (body.get("usage") or {}).get("prompt_tokens")
    if prompt_chars is not None and isinstance(offsets, list) and len(offsets) == len(values):
        values = [v for v, offset in zip(values, offsets, strict=True) if offset < prompt_chars]
    elif isinstance(prompt_tokens, int) and 0 < prompt_tokens < len(values):
        values = values[:prompt_tokens]
    return tuple(float(v) for v in values if v is not None)


def served_models(response: httpx.Response) -> set[str]:
    """The model ids a `GET /models` answer lists (empty when it lists none or is not the OpenAI shape)."""
    try:
        data = response.json().get("data") if response.status_code == 200 else None
    except (ValueError, AttributeError):
        return set()
    return {str(m["id"]) for m in data if isinstance(m, dict) and "id" in m} if isinstance(data, list) else set()


def token_count(response: httpx.Response) -> int | None:
    """The count in a tokenizer route's answer (`count`, or the length of `tokens`), or None if it has neither."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("count"), int):
        return int(body["count"])
    tokens = body.get("tokens") if isinstance(body, dict) else None
    return len(tokens) if isinstance(tokens, list) else None
