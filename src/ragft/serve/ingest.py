"""POST /v1/ingest: add documents to the served corpus and serve its new version without a restart.

The ingest commits one new corpus version atomically, as `ragft ingest` does. The new version's
index is built beside the live one, so answering goes on meanwhile (the embedder is shared, and
every bundled embedder tolerates a concurrent query); then the retriever is swapped under the
generation lock, so an answer started before the swap uses the old version throughout and one
started after it the new.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from ragft.corpus.ingest import IngestReport, ingest
from ragft.serve.http import ApiError, check_text
from ragft.systems.build import IndexedCorpus, index_corpus
from ragft.workspace import Workspace

MAX_PATHS = 1000


class IngestRequest(BaseModel):
    """Body of POST /v1/ingest: server-side files or folders, and whether to remove what is not among them."""

    model_config = ConfigDict(extra="forbid")
    paths: list[StrictStr] = Field(min_length=1, max_length=MAX_PATHS)
    sync: StrictBool = False
    acl: list[StrictStr] = Field(default_factory=list, max_length=100)  # groups that may see the new documents
    allow_widen_access: StrictBool = False  # let documents become public or gain groups (else that document fails)
    follow_symlinks: StrictBool = False  # follow links whose target stays inside the folder given


def checked_paths(body: IngestRequest) -> list[Path]:
    """The paths as Paths, or 422: a blank path would silently mean the server's working folder."""
    for i, text in enumerate(body.paths):
        check_text(text, f"paths[{i}]")
        if not text.strip():
            raise ApiError(422, f"paths[{i}] is empty; give a file or folder on the server")
    for group in body.acl:
        check_text(group, "acl")
    return [Path(text) for text in body.paths]


def ingest_and_index(
    ws: Workspace, body: IngestRequest, embedder: Any | None, *, on_committed: Callable[[IngestReport], None] | None = None
) -> tuple[IngestReport, IndexedCorpus | None]:
    """Commit the new version, call `on_committed` (the audit entry: before the re-indexing, which can
    take minutes), and build its index (None when nothing changed or nothing retrieves).

    Runs in a worker thread, so it opens its own store connection: SQLite connections cannot cross threads.
    """
    local = Workspace(root=ws.root, config=ws.config)
    try:
        try:
            report = ingest(
                local.store,
                checked_paths(body),
                max_file_mb=ws.config.corpus.max_file_mb,
                acl=frozenset(body.acl),
                sync=body.sync,
                note="POST /v1/ingest",
                allow_widen_access=body.allow_widen_access,
                follow_symlinks=body.follow_symlinks,
            )
        except OSError as exc:  # an unreadable folder while walking: nothing was committed
            raise ApiError(400, f"could not read the given paths: {exc}") from None
        if on_committed is not None:
            on_committed(report)
        if report.version is None or embedder is None:
            return report, None
        return report, index_corpus(local, report.version, embedder=embedder)
    finally:
        if "store" in local.__dict__:  # opened lazily (cached_property)
            local.store.close()


def ingest_json(report: IngestReport, indexed: IndexedCorpus | None, version: int | None) -> dict[str, Any]:
    """The reply: counts of what changed, each file that failed, and what indexing cost (null: not re-indexed)."""
    index = None
    if indexed is not None:
        index = {
            "chunks": indexed.chunks,
            "embedded": indexed.stats.chunks_embedded,
            "reused": indexed.stats.chunks_reused,
            "seconds": round(indexed.chunking_s + indexed.stats.total_s, 4),
        }
    return {
        "version": version,
        "previous_version": report.previous_version,
        "added": len(report.plan.added),
        "changed": len(report.plan.changed),
        "removed": len(report.plan.removed),
        "unchanged": len(report.plan.unchanged),
        "files_loaded": report.files_loaded,
        "failures": [{"path": p.path, "problem": p.problem, "advice": p.advice} for p in report.failures],
        "skipped": [{"path": p.path, "problem": p.problem, "advice": p.advice} for p in report.problems if p.skipped],
        "acl_changes": acl_changes_json(report),
        "flagged_as_instructions": report.flagged,
        "index": index,
    }


def acl_changes_json(report: IngestReport) -> list[dict[str, Any]]:
    """Every access-tag change an ingest made, as the reply and the audit entry state it."""
    return [{"doc_id": c.doc_id, "old": sorted(c.old), "new": sorted(c.new), "widened": c.widens} for c in report.acl_changes]
