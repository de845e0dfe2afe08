"""The state behind the HTTP endpoints: served systems, users, audit log, limits, and the generation lock.

The model is single-threaded (llama.cpp is not thread-safe), so generation is serialised by one
lock, taken round-robin by key; a bounded queue in front of it, with a share per key, turns
overload into 429/503 + Retry-After instead of an unbounded pile-up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from fastapi import Request

from ragft.corpus.store import DocumentStore, StoreError
from ragft.errors import RagftError
from ragft.models.base import ModelError
from ragft.serve.audit import AuditLog
from ragft.serve.cost import prompt_bound, question_tokens
from ragft.serve.http import ApiError, check_text, log
from ragft.serve.limits import FairLock, RateLimiter, WorkQueue, retry_after
from ragft.serve.startup import Warmup, reconcile_ingests
from ragft.serve.users import UserRegistry
from ragft.systems.build import IndexedCorpus
from ragft.systems.closed_book import QuestionError
from ragft.types import Answer, System, User, retrieving
from ragft.workspace import Workspace


class Server:
    """State behind the endpoints: systems, users, audit log, limits and the generation lock."""

    def __init__(
        self,
        ws: Workspace,
        systems: Mapping[str, System],
        default: str,
        *,
        max_question_chars: int,
        max_question_tokens: int,
        max_body_bytes: int,
        rate_limit_per_min: int,
        queue_size: int,
        max_concurrent_per_key: int,
        generation_timeout_s: float,
    ) -> None:
        self.ws, self.systems, self.default = ws, dict(systems), default
        self.users, self.audit = UserRegistry(ws), AuditLog(ws)
        self.max_question_chars, self.max_question_tokens, self.max_body_bytes = max_question_chars, max_question_tokens, max_body_bytes
        self.generation_timeout_s = generation_timeout_s
        self.rate = RateLimiter(rate_limit_per_min)
        self.queue = WorkQueue(queue_size, per_key=max_concurrent_per_key)
        self.executor = ThreadPoolExecutor(max_workers=queue_size, thread_name_prefix="ragft-answer")
        self.generation_lock = FairLock()  # taken round-robin by key: a key with many requests waiting takes turns
        self.ingest_lock = threading.Lock()  # one ingest at a time; a second is told 409, not queued
        self.corpus_version = ws.store.latest_version()
        self.note = ""  # why the corpus version served is not the latest ("" when it is)
        self._local = threading.local()  # SQLite connections cannot cross threads: one store per thread
        self.reconciled = reconcile_ingests(ws.store, self.audit)
        self._template_tokens: dict[tuple[int, bool], int] = {}  # prompt template tokens per generator (see cost.prompt_bound)
        self.warmup: Warmup | None = None  # set while `ragft serve` loads the system in the background

    def require_ready(self) -> None:
        """503 + Retry-After while the served system is still loading (or failed to load)."""
        if self.warmup is None or self.warmup.ready.is_set():
            return
        status = self.warmup.status()
        if status["status"] == "failed":
            raise ApiError(503, f"the server could not load its system: {status['error']}")
        raise ApiError(503, f"warming up: {status['progress']} ({status['elapsed_s']:g} s so far); retry shortly", {"Retry-After": "5"})

    def install(self, systems: Mapping[str, System], *, version: int | None, note: str = "") -> None:
        """Serve `systems` (loaded after start-up) from corpus `version`, atomically for answers;
        `note` says why that version is not the latest."""
        with self.generation_lock.hold(""):
            self.systems, self.corpus_version, self.note = dict(systems), version, note

    def store(self) -> DocumentStore:
        """This thread's connection to the document store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = self.ws.open_store()
        return store

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.users.close()
        self.audit.close()

    def caller(self, request: Request) -> User:
        """The user the bearer key belongs to, or 401; then the per-key rate limit, or 429."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        user = self.users.authenticate(key.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise ApiError(401, "missing, invalid or revoked API key; send 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"})
        wait_s = self.rate.check(user.name)
        if wait_s:
            raise ApiError(429, f"rate limit of {self.rate.per_min} requests per minute reached", {"Retry-After": retry_after(wait_s)})
        return user

    def pick(self, name: str | None) -> str:
        self.require_ready()
        name = name or self.default
        if name not in self.systems:
            raise ApiError(422, f"system {name!r} is not served here; served: {', '.join(sorted(self.systems))}")
        return name

    def question(self, text: str, system_name: str) -> str:
        """`text` if it may be asked of `system_name`, else 422 (malformed) or 413 (too many tokens, or a
        prompt that would not fit the model's context): refused before it costs any generation."""
        check_text(text, "question")
        if len(text) > self.max_question_chars:  # cheap first: bounds the tokenizer's work too
            raise ApiError(413, f"question too long: {len(text)} characters, the limit is {self.max_question_chars}")
        if not text.strip():
            raise ApiError(422, "question is empty")
        tokens = question_tokens(self.systems[system_name], text)
        if tokens > self.max_question_tokens:
            raise ApiError(
                413,
                f"question too long: {tokens} tokens, the limit is {self.max_question_tokens} "
                "([serve] max_question_tokens); shorten it to the question itself",
            )
        need, window = prompt_bound(self.systems[system_name], tokens, self._template_tokens)
        if window is not None and need > window:
            raise ApiError(
                413,
                f"question too long for the model: the prompt could need {need} tokens (question, passages "
                f"and answer) and the model's context holds {window}; shorten the question",
            )
        return text

    async def answer(self, user: User, question: str, system_name: str) -> Answer:
        """Answer in a worker thread under the generation lock, audit it, and time out the wait."""
        future = self._submit(user, question, system_name, None)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.generation_timeout_s)
        except TimeoutError:
            raise self._timeout_error() from None
        except RagftError as exc:
            raise _api_error(exc) from None

    def stream(self, user: User, question: str, system_name: str) -> AsyncIterator[str | Answer]:
        """Admit the request now (503 when the queue is full), then yield the text to send and last
        the audited Answer; an error after admission is raised from the iterator as ApiError.

        A retrieving system may withhold its model's reply after generation (ungrounded, unconfident,
        or a defence against injected passages), so its text is held back until that decision and sent
        as one piece: a client never sees words the server then retracts. A closed-book system's
        reply is never withheld, so it streams piece by piece. Either way the audit records the hash
        of exactly the text sent.
        """
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[object] = asyncio.Queue()  # filled from the worker thread, drained here
        buffered = retrieving(self.systems[system_name]) is not None

        def on_token(piece: str) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        future = self._submit(user, question, system_name, None if buffered else on_token)
        # The future's result is set through the loop after every piece was queued, so _END comes last.
        future.add_done_callback(lambda _: pieces.put_nowait(_END))

        async def events() -> AsyncIterator[str | Answer]:
            deadline = loop.time() + self.generation_timeout_s
            while True:
                try:
                    item = await asyncio.wait_for(pieces.get(), max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise self._timeout_error() from None
                if item is _END:
                    break
                yield cast("str | Answer", item)
            try:
                answer = future.result()
            except RagftError as exc:
                raise _api_error(exc) from None
            if buffered and answer.text:
                yield answer.text
            yield answer

        return events()

    def _submit(self, user: User, question: str, system_name: str, on_token: Callable[[str], None] | None) -> asyncio.Future[Answer]:
        """Take a queue slot (or 429 past the key's share, 503 when full) and start the work; the slot
        is freed when the work really ends. A request turned away here does not count against the rate limit."""
        refused = self.queue.try_enter(user.name)
        if refused:
            self.rate.refund(user.name)
        if refused == "key":
            raise ApiError(
                429,
                f"this key already has {self.queue.per_key} requests waiting or running (the limit per key); "
                "retry when one has been answered",
                {"Retry-After": "2"},
            )
        if refused:
            raise ApiError(503, f"server busy: {self.queue.size} requests already queued; retry shortly", {"Retry-After": "2"})
        started = time.perf_counter()
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, self._work, user, question, system_name, started, on_token)
        except BaseException:
            self.queue.leave(user.name)
            raise
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late failure is not "never retrieved"
        return future

    def _timeout_error(self) -> ApiError:
        return ApiError(
            504,
            f"generation took longer than {self.generation_timeout_s:g} s; the answer is still logged when it ends",
            {"Retry-After": retry_after(self.generation_timeout_s)},
        )

    def _work(self, user: User, question: str, system_name: str, started: float, on_token: Callable[[str], None] | None) -> Answer:
        """Generate under the lock and audit the text the caller is sent: the streamed pieces when
        `on_token` passes them on as they come, else the final answer."""
        sent: list[str] = []

        def send(piece: str) -> None:
            sent.append(piece)
            if on_token is not None:
                on_token(piece)

        try:
            with self.generation_lock.hold(user.name):
                system, corpus_version = self.systems[system_name], self.corpus_version
                answer = system.answer(question, user=user, on_token=send if on_token else None)
            answer = self._visible_only(answer, user)
            retrieved = [str(h.get("chunk_id", "")) for h in answer.trace.get("hits", ()) if isinstance(h, Mapping)]
            self.audit.append(
                user=user.name,
                question=question,
                system=system_name,
                retrieved=retrieved,
                cited=[c.chunk_id for c in answer.citations],
                corpus_version=corpus_version,
                answer_text="".join(sent) if on_token else answer.text,
                latency_s=time.perf_counter() - started,
            )
            return answer
        finally:
            self.queue.leave(user.name)

    def embedder(self) -> Any | None:
        """The embedder of the served retriever (None when no served system retrieves)."""
        arm = next((a for s in self.systems.values() if (a := retrieving(s)) is not None), None)
        return getattr(arm.retriever, "embedder", None) if arm is not None else None

    def swap_corpus(self, indexed: IndexedCorpus | None, version: int | None) -> None:
        """Serve a new corpus version: every retrieving system is replaced by one over the new index, atomically for answers."""
        with self.generation_lock.hold(""):
            if indexed is not None:
                self.systems = {
                    name: arm.with_retriever(indexed.retriever) if (arm := retrieving(system)) is not None else system
                    for name, system in self.systems.items()
                }
            self.corpus_version = version

    def _visible_only(self, answer: Answer, user: User) -> Answer:
        """Defence in depth: drop any citation of a document the caller may not see (or that is gone)."""
        kept = tuple(c for c in answer.citations if self.may_see(c.doc_id, user))
        if len(kept) == len(answer.citations):
            return answer
        return Answer(answer.text, kept, answer.refused, answer.trace, answer.timings)

    def may_see(self, doc_id: str, user: User) -> bool:
        try:
            return user.may_see(self.store().document(doc_id).acl)
        except StoreError:
            return False


_END = object()  # marks the end of a streamed answer's pieces


def _api_error(exc: RagftError) -> ApiError:
    """What a failure while answering becomes for the caller: 422 for a bad question, 413 for a prompt
    the model's context cannot hold (should `prompt_bound` have underestimated it), else 500."""
    if isinstance(exc, QuestionError):
        return ApiError(422, str(exc))
    if isinstance(exc, ModelError) and "context window" in str(exc):
        return ApiError(413, "question too long for the model: the prompt does not fit its context; shorten the question")
    log.error("answering failed: %s", exc)
    return ApiError(500, f"answering failed: {exc}")
