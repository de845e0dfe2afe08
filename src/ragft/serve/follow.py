"""Replicas follow the shared store: an ingest made through one `ragft serve` is served by all.

With `[store] url = "postgresql://..."` several replicas share one database. The replica that takes
an ingest swaps to the new corpus version at once (serve/ingest.py); every other replica notices
the new version here, within `interval_s`, builds (or loads, if a replica sharing its index folder
already built it) that version's index beside the live one, and swaps it in under the generation
lock exactly as an HTTP ingest does, so an answer never mixes two versions.
"""

from __future__ import annotations

import threading

from ragft.serve.http import log
from ragft.serve.server import Server
from ragft.systems.build import index_corpus
from ragft.workspace import Workspace

FOLLOW_INTERVAL_S = 2.0


class Follower:
    """A daemon thread that serves the store's newest corpus version once another replica commits it."""

    def __init__(self, server: Server, *, interval_s: float = FOLLOW_INTERVAL_S) -> None:
        self.server, self.interval_s = server, interval_s
        self._stop = threading.Event()
        self._failed: int | None = None  # a version that could not be indexed: not retried every interval
        self._thread = threading.Thread(target=self._run, name="ragft-follow", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        local = Workspace(root=self.server.ws.root, config=self.server.ws.config)  # this thread's own store connection
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    self.check(local)
                except Exception as exc:  # the store is down or the index cannot be built: keep serving
                    log.warning("following the shared store: %s; still serving corpus version %s", exc, self.server.corpus_version)
        finally:
            if "store" in local.__dict__:
                local.store.close()

    def check(self, ws: Workspace) -> int | None:
        """Serve the newest version if it is newer than the one served; the version swapped to, or None."""
        server = self.server
        if server.warmup is not None and not server.warmup.ready.is_set():
            return None  # still loading: it loads the newest version anyway
        latest = ws.store.latest_version()
        if latest is None or latest == self._failed or (server.corpus_version is not None and latest <= server.corpus_version):
            return None
        if not server.ingest_lock.acquire(blocking=False):
            return None  # this replica's own ingest is running: it swaps when it ends
        try:
            embedder = server.embedder()
            self._failed = latest  # until it is served
            indexed = index_corpus(ws, latest, embedder=embedder) if embedder is not None else None
            server.swap_corpus(indexed, latest)
            self._failed = None
        finally:
            server.ingest_lock.release()
        log.info("serving corpus version %d, committed by another replica", latest)
        return latest
