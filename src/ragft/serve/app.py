"""The HTTP API: ask with citations, an OpenAI-compatible chat endpoint, documents, health, audit.

Every answered request is appended to the audit log; the state and limits behind the endpoints are
in `server.Server`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import PurePath
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from ragft.corpus.ingest import IngestReport
from ragft.corpus.store import StoreError
from ragft.errors import RagftError
from ragft.serve.follow import Follower
from ragft.serve.guard import Servable, check_restricted_training, load_system
from ragft.serve.http import (
    ApiError,
    install_error_handlers,
    log,
    parse_model,
    read_json,
)
from ragft.serve.ingest import IngestRequest, acl_changes_json, ingest_and_index, ingest_json
from ragft.serve.schema import AskRequest, ChatRequest, answer_json, ragft_json, sse
from ragft.serve.server import Server
from ragft.serve.startup import Warmup, pause_before_audit_for_crash_tests
from ragft.types import Answer, System
from ragft.workspace import Workspace

ADMIN_GROUP = "admin"


def load_in_thread(ws: Workspace, system_name: str) -> Servable:
    """`load_system` from a thread other than the one that opened `ws.store` (SQLite connections cannot cross threads)."""
    local = Workspace(root=ws.root, config=ws.config)
    try:
        return load_system(local, system_name)
    finally:
        if "store" in local.__dict__:  # opened lazily (cached_property)
            local.store.close()


def create_app(
    ws: Workspace,
    *,
    system_name: str = "rag",
    systems: Mapping[str, System] | None = None,
    allow_restricted_training: bool = False,
    max_question_chars: int = 2000,
    max_question_tokens: int | None = None,
    max_body_bytes: int = 16384,
    rate_limit_per_min: int = 60,
    queue_size: int = 8,
    max_concurrent_per_key: int | None = None,
    generation_timeout_s: float = 120,
    warm_in_background: bool = False,
    on_warmup_failure: Callable[[], None] | None = None,
) -> FastAPI:
    """The ragft HTTP API serving `system_name` (loaded from `ws` unless `systems` supplies it).

    With `warm_in_background` the system loads after the server starts listening (health answers
    "warming up" meanwhile) and `on_warmup_failure` is called if it cannot be loaded.

    Raises RestrictedTrainingError when a served fine-tuned or hybrid arm learned from restricted
    documents, unless `allow_restricted_training` is True. `max_question_tokens` and
    `max_concurrent_per_key` default to the workspace's [serve] settings.
    """
    names = [system_name, *(systems or {})]
    check_restricted_training(ws, names, allow_restricted_training=allow_restricted_training)
    background = warm_in_background and systems is None
    loaded = load_system(ws, system_name) if systems is None and not background else None
    served = dict(systems) if systems is not None else {system_name: loaded.system} if loaded else {}
    if system_name not in served and not background:
        raise RagftError(f"system {system_name!r} is not among the systems given: {', '.join(sorted(served))}")
    settings = ws.config.serve
    server = Server(
        ws,
        served,
        system_name,
        max_question_chars=max_question_chars,
        max_question_tokens=max_question_tokens or settings.max_question_tokens,
        max_body_bytes=max_body_bytes,
        rate_limit_per_min=rate_limit_per_min,
        queue_size=queue_size,
        max_concurrent_per_key=max_concurrent_per_key or settings.max_concurrent_per_key,
        generation_timeout_s=generation_timeout_s,
    )

    if loaded is not None:
        server.install(served, version=loaded.version, note=loaded.note)
    if server.note:
        log.warning("%s", server.note)
    if server.reconciled:
        log.warning("reconciled audit entries for corpus versions %s", ", ".join(map(str, server.reconciled)))
    if background:
        server.warmup = Warmup(f"loading the {system_name} system: its model and corpus index (a changed corpus is re-embedded)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if server.warmup is not None:

            def load() -> None:
                servable = load_in_thread(ws, system_name)
                server.install({system_name: servable.system}, version=servable.version, note=servable.note)
                if servable.note:
                    log.warning("%s", servable.note)

            server.warmup.run(load, on_warmup_failure)
        follower = Follower(server).start() if ws.shared_store else None  # replicas: serve what another one ingests
        yield
        if follower is not None:
            follower.stop()
        server.close()

    app = FastAPI(title="ragft", summary="Answers with citations from your documents", lifespan=lifespan)
    app.state.server = server
    install_error_handlers(app)
    ask_schema = {"requestBody": {"required": True, "content": {"application/json": {"schema": AskRequest.model_json_schema()}}}}

    @app.post("/v1/ask", openapi_extra=ask_schema)
    async def ask(request: Request, stream: bool = False) -> Any:
        """Answer a question with citations the caller may see; `?stream=true` sends server-sent events:
        `{"token": ...}` per piece, then `{"done": true, "answer", "citations", "refused", "timings"}`
        (a retrieving system's text comes as one piece once the grounding check has passed it, so a
        withheld answer is never sent; only the refusal is)."""
        user = server.caller(request)
        body = parse_model(AskRequest, await read_json(request, server.max_body_bytes))
        name = server.pick(body.system)
        question = server.question(body.question, name)
        if not stream:
            return answer_json(await server.answer(user, question, name), name)
        events = server.stream(user, question, name)

        async def ask_events() -> AsyncIterator[str]:
            try:
                async for item in events:
                    yield sse({"done": True, **answer_json(item, name)} if isinstance(item, Answer) else {"token": item})
            except ApiError as exc:  # the 200 header is already sent: report it as the last event
                yield sse({"error": exc.message, "status": exc.status})

        return StreamingResponse(ask_events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        """OpenAI-compatible chat: the last user message is the question; citations are in `ragft`
        (with `stream: true`, in the last chunk before `data: [DONE]`)."""
        user = server.caller(request)
        body = parse_model(ChatRequest, await read_json(request, server.max_body_bytes))
        question = next((m.text() for m in reversed(body.messages) if m.role == "user"), None)
        if question is None:
            raise ApiError(422, "messages: no message with role 'user'")
        name = server.pick(body.model if body.model in server.systems else None)
        question = server.question(question, name)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.stream:
            events = server.stream(user, question, name)

            def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
                return sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": name,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                        **extra,
                    }
                )

            async def chat_events() -> AsyncIterator[str]:
                yield chunk({"role": "assistant", "content": ""})
                try:
                    async for item in events:
                        yield chunk({}, "stop", ragft=ragft_json(item)) if isinstance(item, Answer) else chunk({"content": item})
                except ApiError as exc:
                    yield sse({"error": {"message": exc.message, "type": "server_error", "code": exc.status}})
                yield sse("[DONE]")

            return StreamingResponse(chat_events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        answer = await server.answer(user, question, name)
        prompt_tokens = int(answer.trace.get("prompt_tokens", 0) or 0)
        completion_tokens = int(answer.trace.get("completion_tokens", 0) or 0)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "ragft": ragft_json(answer),
        }

    @app.get("/v1/documents/{doc_id:path}")
    async def document(doc_id: str, request: Request) -> dict[str, Any]:
        """A document's text, only if the caller may see it (404 either way, so existence never leaks)."""
        user = server.caller(request)
        try:  # the version being served, not the latest: an ingest may have committed one not yet indexed
            doc = server.store().document(doc_id, server.corpus_version)
        except StoreError:
            doc = None
        allowed = doc is not None and user.may_see(doc.acl)
        # Reads are audited too (denied ones included): who looked at which document is part of the trail.
        server.audit.append(
            user=user.name,
            question=f"GET /v1/documents/{doc_id}",
            system="documents",
            retrieved=[],
            cited=[doc_id] if allowed else [],
            corpus_version=server.corpus_version,
            answer_text="200" if allowed else "404",
            latency_s=0.0,
        )
        if doc is None or not allowed:
            raise ApiError(404, f"no document {doc_id!r}")
        # `source` is the file's name only: the server's folders are not the caller's business.
        return {
            "doc_id": doc.doc_id,
            "title": doc.title,
            "text": doc.text,
            "source": PurePath(doc.source).name,
            "version": doc.version,
            "corpus_version": server.corpus_version,
        }

    @app.get("/v1/health")
    async def health() -> Any:
        """Liveness and what is served (no key needed); 503 with "warming up", what is loading and for
        how long, while the system loads (or "failed" and why)."""
        if server.warmup is not None and not server.warmup.ready.is_set():
            return JSONResponse(
                {**server.warmup.status(), "default_system": server.default, "corpus_version": server.corpus_version},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return {
            "status": "ok",
            "systems": sorted(server.systems),
            "default_system": server.default,
            "corpus_version": server.corpus_version,
            **({"note": server.note} if server.note else {}),
        }

    @app.post("/v1/ingest")
    async def ingest(request: Request) -> Any:
        """Ingest server-side files or folders (admin group only) and serve the new corpus version.

        Body: `{"paths": [...], "sync": false, "acl": [], "allow_widen_access": false, "follow_symlinks": false}`.
        Replies with the version, counts of documents added/changed/removed, each file that failed or
        was skipped, every access-tag change (audited too), and the re-indexing cost (`index`
        is null when nothing changed). 400 when no file could be read; 409 while another ingest runs.
        """
        caller = server.caller(request)
        if ADMIN_GROUP not in caller.groups:
            raise ApiError(403, f"ingesting is for the '{ADMIN_GROUP}' group only")
        body = parse_model(IngestRequest, await read_json(request, server.max_body_bytes))
        server.require_ready()  # the new version's index is built with the served embedder
        if not server.ingest_lock.acquire(blocking=False):
            raise ApiError(409, "another ingest is running; retry when it ends", {"Retry-After": "5"})

        def audit_commit(report: IngestReport) -> None:  # right after the commit, before the (long) re-indexing
            pause_before_audit_for_crash_tests()
            acl_changes = acl_changes_json(report)
            changes = f" access changes: {json.dumps(acl_changes)}" if acl_changes else ""
            server.audit.append(
                user=caller.name,
                question="POST /v1/ingest " + json.dumps(body.paths) + changes,
                system="ingest",
                retrieved=[],
                cited=[],
                corpus_version=report.version if report.version is not None else server.corpus_version,
                answer_text=json.dumps(
                    {
                        "added": len(report.plan.added),
                        "changed": len(report.plan.changed),
                        "removed": len(report.plan.removed),
                        "acl_changes": acl_changes,
                    }
                ),
                latency_s=0.0,
            )

        try:
            report, indexed = await asyncio.to_thread(ingest_and_index, server.ws, body, server.embedder(), on_committed=audit_commit)
            version = report.version if report.version is not None else server.corpus_version
            if report.version is not None:
                server.swap_corpus(indexed, report.version)
        except RagftError as exc:
            log.error("ingest failed: %s", exc)
            raise ApiError(500, f"ingest failed: {exc}") from None
        finally:
            server.ingest_lock.release()
        reply = ingest_json(report, indexed, version)
        log.info(
            "ingest by %s: version %s, %d added, %d changed, %d removed, %d failed",
            caller.name,
            version,
            reply["added"],
            reply["changed"],
            reply["removed"],
            len(reply["failures"]),
        )
        if report.files_loaded == 0 and report.failures:
            return JSONResponse({"error": "none of the given paths could be read", **reply}, status_code=400)
        return reply

    @app.get("/v1/audit")
    async def audit(
        request: Request, user: str | None = None, since: str | None = None, limit: int = Query(100, ge=1, le=10000)
    ) -> dict[str, Any]:
        """The latest audit entries (admin group only), optionally for one user since a time."""
        caller = server.caller(request)
        if ADMIN_GROUP not in caller.groups:
            raise ApiError(403, f"the audit log is for the '{ADMIN_GROUP}' group only")
        try:
            entries = server.audit.entries(user=user, since=since, limit=limit)
        except ValueError as exc:  # AuditQueryError: a time that does not parse or leaves the calendar in UTC
            raise ApiError(422, str(exc)) from None
        return {"entries": [e.to_dict() for e in entries]}

    return app
