"""Ingest files and folders into the versioned store: load, compare by content hash, commit once.

Document ids are paths relative to the folder given (or the file name for a single file; .jsonl
lines carry their own ids), so re-ingesting a folder after edits finds the same documents.
A document whose file is gone from a re-ingested folder is removed in the new version; with
`sync=True` every document not seen in this ingest is removed. A file that fails to load keeps
its previous version: a broken file never deletes what was stored.

Safety (see `files`, `front_matter`, `access`): symbolic links are not followed unless asked, and
then never out of the folder; special files are never opened; unreadable front matter fails the
file; a document keeps its access tags unless this ingest states them, and widening needs a flag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragft.corpus.access import AclChange, settle_acl
from ragft.corpus.instructions import flag_documents
from ragft.corpus.loaders import (
    SUPPORTED_SUFFIXES,
    FileLoad,
    Limits,
    LoadError,
    load_path,
)
from ragft.corpus.problems import FileProblem, display_path
from ragft.corpus.store import DocumentStore, IngestPlan
from ragft.corpus.walk import SourceFile, find_files
from ragft.types import Document

__all__ = ["FileProblem", "IngestReport", "ingest"]


@dataclass
class IngestReport:
    """The outcome of one ingest, for the summary table and the benchmark."""

    version: int | None
    previous_version: int | None
    plan: IngestPlan
    files_loaded: int = 0
    documents_seen: int = 0
    bytes_read: int = 0
    elapsed_s: float = 0.0
    problems: list[FileProblem] = field(default_factory=list)
    acl_changes: list[AclChange] = field(default_factory=list)  # committed tag changes, each reported
    flagged: dict[str, list[str]] = field(default_factory=dict)  # new or changed doc id -> why it reads as instructions to a model

    @property
    def failures(self) -> list[FileProblem]:
        return [p for p in self.problems if not p.skipped]

    @property
    def docs_per_s(self) -> float:
        return self.documents_seen / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1024 / 1024 / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class _Outcome:
    """What loading found, before it becomes a plan."""

    seen: dict[str, Document] = field(default_factory=dict)
    kept_roots: set[str] = field(default_factory=set)  # roots whose documents must not be removed (a file there failed)
    failed_ids: set[str] = field(default_factory=set)


def ingest(
    store: DocumentStore,
    paths: Sequence[Path],
    *,
    max_file_mb: float,
    acl: frozenset[str] = frozenset(),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    sync: bool = False,
    follow_symlinks: bool = False,
    allow_widen_access: bool = False,
    note: str = "",
    on_file: Callable[[str], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Load `paths` and commit what changed as one new corpus version (none if nothing changed).

    Documents keep their previous access tags unless `acl` or the file states tags; a change that
    widens access fails that document unless `allow_widen_access` (which also lets an unstated
    document take exactly `acl`, public when empty).
    """
    started = time.perf_counter()
    files, problems = find_files(paths, SUPPORTED_SUFFIXES, include=include, exclude=exclude, follow_symlinks=follow_symlinks)
    if on_total:
        on_total(len(files))
    previous = store.latest_version()
    current = {doc.doc_id: doc for doc in store.documents()} if previous else {}
    report = IngestReport(version=None, previous_version=previous, plan=IngestPlan(), problems=problems)
    outcome = _Outcome()
    for source, loaded in _load_all(files, Limits.from_mb(max_file_mb), acl, problems, on_file):
        if loaded is None:
            outcome.failed_ids.add(source.doc_id)
            if source.suffix == ".jsonl":
                outcome.kept_roots.add(str(source.root))
            continue
        report.files_loaded += 1
        report.bytes_read += loaded.size
        _note_line_problems(source, loaded, outcome, problems)
        for doc in loaded.documents:
            settle = {"given": acl, "file_states": doc.doc_id in loaded.acl_stated, "allow_widen": allow_widen_access}
            _accept(replace(doc, metadata={**doc.metadata, "root": str(source.root)}), source, settle, store, current, outcome, report)
    report.plan = _plan(current, outcome, files, sync)
    report.flagged = {
        doc_id: [f"{s.kind}: {s.evidence}" for s in signals]
        for doc_id, signals in flag_documents([*report.plan.added, *report.plan.changed]).items()
    }
    report.documents_seen = len(outcome.seen)
    report.version = store.commit(report.plan, note=note)
    report.acl_changes.sort(key=lambda c: c.doc_id)
    report.elapsed_s = time.perf_counter() - started
    return report


def _accept(
    doc: Document,
    source: SourceFile,
    settle: dict[str, Any],
    store: DocumentStore,
    current: dict[str, Document],
    outcome: _Outcome,
    report: IngestReport,
) -> None:
    """Add one loaded document to this ingest, with its access tags settled against its previous version."""
    where = display_path(source.path)
    if doc.doc_id in outcome.seen:
        first = display_path(outcome.seen[doc.doc_id].source)
        report.problems.append(FileProblem(where, f"doc id '{display_path(doc.doc_id)}' already loaded from {first}", "rename one of them"))
        return
    try:
        doc, change = settle_acl(doc, _previous(doc.doc_id, store, current), **settle)
    except LoadError as exc:
        report.problems.append(FileProblem(where, exc.problem, exc.advice))
        outcome.failed_ids.add(doc.doc_id)
        return
    if change is not None:
        report.acl_changes.append(change)
    outcome.seen[doc.doc_id] = doc


def _previous(doc_id: str, store: DocumentStore, current: dict[str, Document]) -> Document | None:
    """The document's version in the latest corpus, or its last version if an earlier ingest removed it."""
    if doc_id in current or store.latest_version() is None:
        return current.get(doc_id)
    history = store.history(doc_id)
    return history[-1] if history else None


def _note_line_problems(source: SourceFile, loaded: FileLoad, outcome: _Outcome, problems: list[FileProblem]) -> None:
    for line in loaded.line_problems:
        named = f" ('{display_path(line.doc_id)}')" if line.doc_id else ""
        problems.append(FileProblem(f"{display_path(source.path)}:{line.line}", f"line {line.line}{named}: {line.problem}", line.advice))
        if line.doc_id:
            outcome.failed_ids.add(line.doc_id)
        else:  # which document the line meant is unknown: remove nothing from this folder this time
            outcome.kept_roots.add(str(source.root))


def _load_all(
    files: Sequence[SourceFile],
    limits: Limits,
    acl: frozenset[str],
    problems: list[FileProblem],
    on_file: Callable[[str], None] | None,
) -> Iterator[tuple[SourceFile, FileLoad | None]]:
    for source in files:
        try:
            yield source, load_path(source.path, source.doc_id, limits=limits, extra_acl=acl, suffix=source.suffix)
        except LoadError as exc:
            problems.append(FileProblem(display_path(source.path), exc.problem, exc.advice))
            yield source, None
        finally:
            if on_file:
                on_file(source.doc_id)


def _plan(current: dict[str, Document], outcome: _Outcome, files: Sequence[SourceFile], sync: bool) -> IngestPlan:
    seen = outcome.seen
    added = tuple(doc for doc_id, doc in seen.items() if doc_id not in current)
    changed = tuple(
        doc
        for doc_id, doc in seen.items()
        if doc_id in current and current[doc_id].metadata.get("content_hash") != doc.metadata["content_hash"]
    )
    changed_ids = {doc.doc_id for doc in changed}
    unchanged = tuple(doc_id for doc_id in seen if doc_id in current and doc_id not in changed_ids)
    walked_roots = {str(f.root) for f in files if not f.explicit} | {str(f.root) for f in files if f.suffix == ".jsonl"}
    removable_roots = walked_roots - outcome.kept_roots
    removed = tuple(
        sorted(
            doc_id
            for doc_id, doc in current.items()
            if doc_id not in seen
            and doc_id not in outcome.failed_ids
            and doc.metadata.get("root") not in outcome.kept_roots
            and (sync or doc.metadata.get("root") in removable_roots)
        )
    )
    return IngestPlan(added=added, changed=changed, removed=removed, unchanged=unchanged)
