"""The versioned store: add / change / remove make new versions; old versions stay readable; diffs see sentences."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragft.corpus.diff import diff_versions
from ragft.corpus.ingest import ingest
from ragft.corpus.store import DocumentStore, StoreError
from ragft.workspace import Workspace


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[DocumentStore]:
    """A fresh store of each backend (tests/store_backends.py): the suite runs against both."""
    opened = Workspace.init(tmp_path / "ws").open_store()
    yield opened
    opened.close()


def run(store: DocumentStore, *paths: Path, **kw):
    return ingest(store, list(paths), max_file_mb=50, **kw)


def test_first_ingest_of_every_format_makes_version_one(store: DocumentStore, mixed_folder: Path) -> None:
    report = run(store, mixed_folder)
    assert report.version == 1 and not report.failures
    ids = {d.doc_id for d in store.documents()}
    assert ids == {"policies/travel.md", "salaries.md", "notes.txt", "faq.html", "spec.pdf", "minutes.docx", "kb-1", "kb-2"}
    assert store.document("salaries.md").acl == {"hr", "legal"}


def test_reingesting_unchanged_files_makes_no_new_version(store: DocumentStore, mixed_folder: Path) -> None:
    run(store, mixed_folder)
    report = run(store, mixed_folder)
    assert report.version is None and store.latest_version() == 1
    assert len(report.plan.unchanged) == 8


def test_add_change_remove_make_a_new_version_and_keep_the_old_one(store: DocumentStore, mixed_folder: Path) -> None:
    run(store, mixed_folder)
    (mixed_folder / "notes.txt").write_text("Team notes\n\nThe launch moved to 9 April.\n")
    (mixed_folder / "faq.html").unlink()
    (mixed_folder / "new.md").write_text("# New\n\nA new document.\n")
    report = run(store, mixed_folder)
    assert report.version == 2
    assert [d.doc_id for d in report.plan.added] == ["new.md"]
    assert [d.doc_id for d in report.plan.changed] == ["notes.txt"]
    assert report.plan.removed == ("faq.html",)
    assert "9 April" in store.document("notes.txt").text and store.document("notes.txt").version == 2
    assert "3 March" in store.document("notes.txt", version=1).text
    assert "faq.html" in {d.doc_id for d in store.documents(1)}
    assert "faq.html" not in {d.doc_id for d in store.documents(2)}
    assert [d.version for d in store.history("notes.txt")] == [1, 2]
    info = store.versions()[-1]
    assert (info.added, info.changed, info.removed, info.documents) == (1, 1, 1, 8)


def test_diff_lists_documents_and_changed_sentences(store: DocumentStore, mixed_folder: Path) -> None:
    run(store, mixed_folder)
    (mixed_folder / "notes.txt").write_text("Team notes\n\nThe launch moved to 9 April.\n")
    (mixed_folder / "faq.html").unlink()
    (mixed_folder / "new.md").write_text("# New\n\nA new document.\n")
    run(store, mixed_folder)
    diff = diff_versions(store, 1, 2)
    assert diff.added == ("new.md",) and diff.removed == ("faq.html",)
    (change,) = diff.changed
    assert change.doc_id == "notes.txt"
    assert change.removed_sentences == ("The launch moved to 3 March.",)
    assert change.added_sentences == ("The launch moved to 9 April.",)


def test_a_file_that_breaks_keeps_its_previous_version(store: DocumentStore, mixed_folder: Path) -> None:
    run(store, mixed_folder)
    (mixed_folder / "spec.pdf").write_bytes(b"%PDF-1.4 now corrupt")
    report = run(store, mixed_folder)
    assert [f.path.endswith("spec.pdf") for f in report.failures] == [True]
    assert report.version is None
    assert "Battery lasts 11 hours." in store.document("spec.pdf").text


def test_sync_removes_documents_not_in_this_ingest(store: DocumentStore, mixed_folder: Path, tmp_path: Path) -> None:
    run(store, mixed_folder)
    other = tmp_path / "v2"
    shutil.copytree(mixed_folder, other)
    (other / "minutes.docx").unlink()
    assert run(store, other).version is None, "without --sync a different folder removes nothing"
    report = run(store, other, sync=True)
    assert report.plan.removed == ("minutes.docx",)


def test_unsupported_files_in_a_folder_are_skipped_not_failed(store: DocumentStore, mixed_folder: Path) -> None:
    (mixed_folder / "logo.png").write_bytes(b"\x89PNG")
    report = run(store, mixed_folder)
    assert not report.failures
    assert [p.skipped for p in report.problems] == [True]


def test_globs_filter_files(store: DocumentStore, mixed_folder: Path) -> None:
    run(store, mixed_folder, include=["*.md"], exclude=["salaries.md"])
    assert {d.doc_id for d in store.documents()} == {"policies/travel.md"}


def test_asking_for_a_missing_version_or_document_is_a_clear_error(store: DocumentStore, mixed_folder: Path) -> None:
    with pytest.raises(StoreError, match="corpus is empty"):
        store.documents()
    run(store, mixed_folder)
    with pytest.raises(StoreError, match="no corpus version 7"):
        store.documents(7)
    with pytest.raises(StoreError, match=r"no document 'nope\.md'"):
        store.document("nope.md")
