"""Request limits that keep a server from piling up, and keep one key from crowding out the rest:
a per-key rate limit, a bounded work queue with a per-key share, and a lock taken round-robin by key."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class RateLimiter:
    """At most `per_min` requests per key in any sliding 60-second window."""

    def __init__(self, per_min: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_min = per_min
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """0 if this request may go ahead (and count it), else the seconds until one may."""
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - 60.0:
                seen.popleft()
            if len(seen) >= self.per_min:
                return max(seen[0] + 60.0 - now, 0.001)
            seen.append(now)
            return 0.0

    def refund(self, key: str) -> None:
        """Uncount `key`'s latest request: it was turned away (503) without being served."""
        with self._lock:
            seen = self._seen.get(key)
            if seen:
                seen.pop()


def retry_after(seconds: float) -> str:
    """A Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class WorkQueue:
    """At most `size` requests waiting or running, at most `per_key` of them from one key; a slot is
    freed only when its work really ends."""

    def __init__(self, size: int, per_key: int | None = None) -> None:
        self.size = size
        self.per_key = per_key or size
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_enter(self, key: str = "") -> str:
        """Take a slot if one is free and `key` is within its share (never waits): "" when taken,
        else why not: "key" (this key holds its share) or "full" (every slot is taken)."""
        with self._lock:
            if self._held.get(key, 0) >= self.per_key:
                return "key"
            if sum(self._held.values()) >= self.size:
                return "full"
            self._held[key] = self._held.get(key, 0) + 1
            return ""

    def in_use(self) -> int:
        """Slots taken now (waiting or running), over every key."""
        with self._lock:
            return sum(self._held.values())

    def leave(self, key: str = "") -> None:
        with self._lock:
            left = self._held.get(key, 0) - 1
            if left < 0:
                raise RuntimeError(f"work queue: {key!r} left without having entered")
            if left:
                self._held[key] = left
            else:
                del self._held[key]


class FairLock:
    """A lock handed round-robin across keys: when it frees, the waiting key served longest ago gets
    it, so a key with many requests waiting takes turns with the others instead of winning every race."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting: dict[str, deque[object]] = {}  # key -> its tickets; dict order is the turn order

    def acquire(self, key: str) -> None:
        ticket = object()
        with self._cond:
            self._waiting.setdefault(key, deque()).append(ticket)
            while self._held or self._waiting[next(iter(self._waiting))][0] is not ticket:
                self._cond.wait()
            self._held = True
            tickets = self._waiting.pop(key)
            tickets.popleft()
            if tickets:  # this key's next request waits behind every other key's
                self._waiting[key] = tickets

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self.acquire(key)
        try:
            yield
        finally:
            self.release()
