"""The engine-free half of a token-by-token decoder.

`StopStream` streams text while holding back any tail that may begin a stop string;
`TokenEmitter` turns chosen tokens into that text and says when decoding ends (EOS, a stop
string, the length limit); `prompt_lookup` guesses the next tokens from the prompt, for an engine
to check in one forward pass. The transformers backend decodes with them; they need no model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ragft.models.base import TokenCallback


def prompt_lookup(ids: Sequence[int], ngram: int = 3, draft: int = 10) -> list[int]:
    """Up to `draft` tokens that followed the latest earlier occurrence of the last n tokens of `ids`.

    Prompt lookup decoding (Saxena 2023): n from `ngram` down to 1, the longest match wins. When the
    answer copies a passage, the tokens after the copied phrase are likely next; one forward pass
    checks them all, and on a CPU that pass costs about what one token does, since decoding is
    bound by reading the weights, not by arithmetic.
    """
    for n in range(min(ngram, len(ids) - 1), 0, -1):
        tail = list(ids[-n:])
        for begin in range(len(ids) - n - 1, -1, -1):
            if list(ids[begin : begin + n]) == tail:
                return list(ids[begin + n : begin + n + draft])
    return []


class TokenEmitter:
    """Turns chosen tokens into streamed text, and says when decoding must end (EOS, stop, length)."""

    def __init__(self, tokenizer: Any, eos_ids: frozenset[int], stream: StopStream, max_new_tokens: int, start: float) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.stream = stream
        self.max_new_tokens = max_new_tokens
        self.start = start
        self.generated: list[int] = []
        self.ttft = 0.0
        self.finish_reason = "length"
        self._emitted = ""

    @property
    def room(self) -> int:
        """Tokens that may still be written after the one being emitted now."""
        return max(self.max_new_tokens - len(self.generated) - 1, 0)

    def emit(self, token: int) -> bool:
        """Take the next token; False once decoding is over (this token may have ended it)."""
        if token in self.eos_ids:
            self.finish_reason = "stop"
            return False
        self.generated.append(token)
        text = self.tokenizer.decode(self.generated, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            if self.stream.push(text[len(self._emitted) :]) and not self.ttft:
                self.ttft = time.perf_counter() - self.start
            self._emitted = text
        if self.stream.stopped:
            self.finish_reason = "stop"
            return False
        return len(self.generated) < self.max_new_tokens


class StopStream:
    """Forwards text to the callback, holding back any tail that might begin a stop string."""

    def __init__(self, stop: Sequence[str], on_token: TokenCallback | None) -> None:
        self.stop = [s for s in stop if s]
        self.on_token = on_token
        self.text = ""
        self.stopped = False
        self._pending = ""

    def push(self, piece: str) -> bool:
        """Add decoded text; return True if anything was passed on to the callback."""
        if self.stopped or not piece:
            return False
        self._pending += piece
        for s in self.stop:
            cut = self._pending.find(s)
            if cut >= 0:
                self._pending = self._pending[:cut]
                self.stopped = True
        if self.stopped:
            return self._emit(self._pending)
        hold = max((k for s in self.stop for k in range(1, len(s)) if self._pending.endswith(s[:k])), default=0)
        return self._emit(self._pending[: len(self._pending) - hold])

    def finish(self) -> None:
        if not self.stopped:
            self._emit(self._pending)

    def _emit(self, piece: str) -> bool:
        self._pending = self._pending[len(piece) :] if not self.stopped else ""
        if not piece:
            return False
        self.text += piece
        if self.on_token is not None:
            self.on_token(piece)
        return True
