"""Ingest files and folders into the versioned store: load, compare by content hash, commit once.

Document ids are paths relative to the folder given (or the file name for a single file; .jsonl
lines carry their own ids), so re-ingesting a folder after edits finds the same documents.
A document whose file is gone from a re-ingested folder is removed in the new version; with
`sync=True` every document not seen in this ingest is removed. A file that fails to load keeps
its previous version: a broken file never deletes what was stored.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ragft.corpus.loaders import SUPPORTED_SUFFIXES, LoadError, load_file
from ragft.corpus.store import DocumentStore, IngestPlan
from ragft.types import Document


@dataclass(frozen=True)
class FileProblem:
    """One file that was not ingested: what is wrong and what to do."""

    path: str
    problem: str
    advice: str
    skipped: bool = False  # True: left out on purpose (unsupported type in a folder), not a failure


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

    @property
    def failures(self) -> list[FileProblem]:
        return [p for p in self.problems if not p.skipped]

    @property
    def docs_per_s(self) -> float:
        return self.documents_seen / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_read / 1024 / 1024 / self.elapsed_s if self.elapsed_s else 0.0


@dataclass(frozen=True)
class _SourceFile:
    path: Path
    doc_id: str
    root: Path
    explicit: bool  # named on the command line, not found by walking a folder


def find_files(
    paths: Sequence[Path], *, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> tuple[list[_SourceFile], list[FileProblem]]:
    """Files to load under `paths` (folders recursively), filtered by glob patterns on the relative path."""
    found: list[_SourceFile] = []
    problems: list[FileProblem] = []
    for given in paths:
        path = given.expanduser()
        if path.is_dir():
            root = path.resolve()
            for file in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
                rel = file.relative_to(root).as_posix()
                if any(part.startswith(".") for part in file.relative_to(root).parts):
                    continue  # hidden files and folders (.git, .ragft, .DS_Store)
                if not _selected(rel, include, exclude):
                    continue
                if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                    problems.append(FileProblem(str(file), f"unsupported type '{file.suffix or file.name}'", "skipped", skipped=True))
                    continue
                found.append(_SourceFile(file, rel, root, explicit=False))
        elif path.exists() or path.is_symlink():
            found.append(_SourceFile(path.resolve(), path.name, path.resolve(), explicit=True))
        else:
            problems.append(FileProblem(str(given), "no such file or folder", "check the path"))
    return found, problems


def _selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if include and not any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in include):
        return False
    return not any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in exclude)


def ingest(
    store: DocumentStore,
    paths: Sequence[Path],
    *,
    max_file_mb: float,
    acl: frozenset[str] = frozenset(),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    sync: bool = False,
    note: str = "",
    on_file: Callable[[str], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> IngestReport:
    """Load `paths` and commit what changed as one new corpus version (none if nothing changed)."""
    started = time.perf_counter()
    files, problems = find_files(paths, include=include, exclude=exclude)
    if on_total:
        on_total(len(files))
    previous = store.latest_version()
    current = {doc.doc_id: doc for doc in store.documents()} if previous else {}
    seen: dict[str, Document] = {}
    kept_roots: set[str] = set()  # roots whose documents must not be removed (a file there failed)
    failed_ids: set[str] = set()
    report = IngestReport(version=None, previous_version=previous, plan=IngestPlan())
    for source, documents in _load_all(files, max_file_mb, acl, problems, on_file):
        if documents is None:
            failed_ids.add(source.doc_id)
            if source.path.suffix.lower() == ".jsonl":
                kept_roots.add(str(source.root))
            continue
        report.files_loaded += 1
        report.bytes_read += source.path.stat().st_size
        for doc in documents:
            if doc.doc_id in seen:
                problems.append(FileProblem(str(source.path), f"doc id '{doc.doc_id}' already loaded from {seen[doc.doc_id].source}", "rename one of them"))
                continue
            seen[doc.doc_id] = _with_root(doc, source.root)
    report.plan = _plan(current, seen, files, kept_roots, failed_ids, sync)
    report.documents_seen = len(seen)
    report.version = store.commit(report.plan, note=note)
    report.problems = problems
    report.elapsed_s = time.perf_counter() - started
    return report


def _load_all(
    files: Sequence[_SourceFile],
    max_file_mb: float,
    acl: frozenset[str],
    problems: list[FileProblem],
    on_file: Callable[[str], None] | None,
) -> Iterator[tuple[_SourceFile, list[Document] | None]]:
    for source in files:
        try:
            yield source, load_file(source.path, source.doc_id, max_file_mb=max_file_mb, extra_acl=acl)
        except LoadError as exc:
            problems.append(FileProblem(str(source.path), exc.problem, exc.advice))
            yield source, None
        finally:
            if on_file:
                on_file(source.doc_id)


def _with_root(doc: Document, root: Path) -> Document:
    return replace(doc, metadata={**doc.metadata, "root": str(root)})


def _plan(
    current: dict[str, Document],
    seen: dict[str, Document],
    files: Sequence[_SourceFile],
    kept_roots: set[str],
    failed_ids: set[str],
    sync: bool,
) -> IngestPlan:
    added = tuple(doc for doc_id, doc in seen.items() if doc_id not in current)
    changed = tuple(
        doc
        for doc_id, doc in seen.items()
        if doc_id in current and current[doc_id].metadata.get("content_hash") != doc.metadata["content_hash"]
    )
    changed_ids = {doc.doc_id for doc in changed}
    unchanged = tuple(doc_id for doc_id in seen if doc_id in current and doc_id not in changed_ids)
    walked_roots = {str(f.root) for f in files if not f.explicit} | {str(f.root) for f in files if f.path.suffix.lower() == ".jsonl"}
    removable_roots = walked_roots - kept_roots
    removed = tuple(
        sorted(
            doc_id
            for doc_id, doc in current.items()
            if doc_id not in seen
            and doc_id not in failed_ids
            and doc.metadata.get("root") not in kept_roots
            and (sync or doc.metadata.get("root") in removable_roots)
        )
    )
    return IngestPlan(added=added, changed=changed, removed=removed, unchanged=unchanged)
