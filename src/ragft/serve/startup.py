"""Starting a server: make good an ingest whose audit entry a crash lost, and warm up in the background.

An HTTP ingest commits its corpus version to the document store and then appends its audit entry to
the serving database: two SQLite files, so the two cannot be one transaction. A kill -9 in between
leaves a committed version nobody is recorded as having ingested. So at start-up every version the
server's ingest committed (note "POST /v1/ingest") without an ingest entry gets one, marked as
reconciled, naming when the version was committed.

Loading the served system can take minutes (a corpus changed since the index was built is
re-embedded), so `ragft serve` listens at once: /v1/health answers 503 "warming up" with what is
being loaded and for how long, answering endpoints 503 + Retry-After, until the system is ready.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ragft.corpus.store import DocumentStore
from ragft.serve.audit import AuditLog
from ragft.serve.http import log

INGEST_NOTE = "POST /v1/ingest"
RECONCILED_USER = "(reconciled)"


def reconcile_ingests(store: DocumentStore, audit: AuditLog) -> list[int]:
    """Append a reconciled audit entry for each HTTP-ingested version that has none; the versions fixed."""
    logged = audit.logged_versions("ingest")
    missing = [v for v in store.versions() if v.note == INGEST_NOTE and v.version not in logged]
    for info in missing:
        audit.append(
            user=RECONCILED_USER,
            system="ingest",
            retrieved=[],
            cited=[],
            corpus_version=info.version,
            latency_s=0.0,
            question=f"POST /v1/ingest (reconciled at start-up: corpus version {info.version}, committed at {info.created_at}, "
            "had no audit entry; the server stopped between the commit and its entry, so who ingested it is unknown)",
            answer_text=json.dumps({"added": info.added, "changed": info.changed, "removed": info.removed}),
        )
        log.warning("audit: corpus version %d was committed by an ingest without an audit entry; recorded it as reconciled", info.version)
    return [info.version for info in missing]


class Warmup:
    """What the server is loading, since when, and whether it failed; thread-safe to read."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.started = time.monotonic()
        self.error: str | None = None
        self.ready = threading.Event()

    def status(self) -> dict[str, Any]:
        """For /v1/health: "warming up" with the phase and elapsed seconds, or "failed" with the error."""
        if self.error is not None:
            return {"status": "failed", "error": self.error}
        return {"status": "warming up", "progress": self.phase, "elapsed_s": round(time.monotonic() - self.started, 1)}

    def run(self, load: Callable[[], None], on_failure: Callable[[], None] | None = None) -> threading.Thread:
        """Run `load` in a daemon thread; a failure is kept for /v1/health, logged, and passed to `on_failure`."""

        def target() -> None:
            _pause_for_warmup_tests()
            try:
                load()
            except Exception as exc:
                self.error = f"loading failed: {exc}"
                log.error("%s", self.error)
                if on_failure is not None:
                    on_failure()
                return
            self.ready.set()
            log.info("warm-up done in %.1f s", time.monotonic() - self.started)

        thread = threading.Thread(target=target, name="ragft-warmup", daemon=True)
        thread.start()
        return thread


def _pause_for_warmup_tests() -> None:
    """Hold the warm-up for RAGFT_TEST_WARMUP_PAUSE_S seconds, so a test can watch a warming server."""
    pause_s = os.environ.get("RAGFT_TEST_WARMUP_PAUSE_S")
    if pause_s:
        time.sleep(float(pause_s))


def pause_before_audit_for_crash_tests() -> None:
    """Wait RAGFT_TEST_AUDIT_PAUSE_S seconds between an ingest's commit and its audit entry, so a test can kill -9 there."""
    pause_s = os.environ.get("RAGFT_TEST_AUDIT_PAUSE_S")
    if pause_s:
        print("ragft: audit paused for crash test", flush=True)
        time.sleep(float(pause_s))
