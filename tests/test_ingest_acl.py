"""Issue 16 item 3: an access change is never a side effect of re-ingesting.

A document keeps its tags unless the ingest states them (--acl, front matter, a .jsonl "acl");
every change is reported; a change that widens access needs --allow-widen-access, else that
document fails and stays at its previous version. The CLI and POST /v1/ingest behave the same.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragft.corpus.access import widens
from ragft.corpus.ingest import ingest
from ragft.corpus.store import DocumentStore
from ragft.workspace import Workspace

from .conftest import ragft


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[DocumentStore]:
    """A fresh store of each backend (tests/store_backends.py): the suite runs against both."""
    opened = Workspace.init(tmp_path / "ws").open_store()
    yield opened
    opened.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "handbook.txt").write_text("Handbook\n\nStaff get 30 days of leave.\n")
    (docs / "pay.md").write_text("---\nacl: [hr, legal]\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n")
    return docs


def run(store: DocumentStore, folder: Path, **kw):
    return ingest(store, [folder], max_file_mb=1, **kw)


def test_reingesting_without_acl_keeps_the_tags_an_earlier_acl_gave(store: DocumentStore, folder: Path) -> None:
    run(store, folder, acl=frozenset({"staff"}))
    assert store.document("handbook.txt").acl == {"staff"}
    report = run(store, folder)
    assert report.version is None and not report.acl_changes and not report.failures
    assert store.document("handbook.txt").acl == {"staff"}
    (folder / "handbook.txt").write_text("Handbook\n\nStaff get 31 days of leave.\n")  # an edit keeps them too
    report = run(store, folder)
    assert report.version == 2 and store.document("handbook.txt").acl == {"staff"}


def test_dropping_the_acl_line_from_front_matter_keeps_the_tags(store: DocumentStore, folder: Path) -> None:
    run(store, folder)
    (folder / "pay.md").write_text("---\ntitle: Pay\n---\n# Pay\n\nBand L3 pays 71,000 EUR.\n")
    report = run(store, folder)
    assert report.version == 2 and store.document("pay.md").acl == {"hr", "legal"} and not report.acl_changes


def test_narrowing_is_applied_and_reported(store: DocumentStore, folder: Path) -> None:
    run(store, folder)
    (folder / "pay.md").write_text("---\nacl: [hr]\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n")
    report = run(store, folder)
    ((change),) = report.acl_changes
    assert (change.doc_id, change.old, change.new, change.widens) == ("pay.md", {"hr", "legal"}, {"hr"}, False)
    assert store.document("pay.md").acl == {"hr"}


@pytest.mark.parametrize(
    ("front_matter", "acl"),
    [("acl: []", frozenset()), ("acl: hr", frozenset({"staff"})), ("acl: [hr, legal, everyone]", frozenset())],
    ids=["made public", "a group added by --acl", "a group added in the file"],
)
def test_widening_fails_the_document_and_keeps_its_previous_version(
    store: DocumentStore, folder: Path, front_matter: str, acl: frozenset[str]
) -> None:
    run(store, folder)
    (folder / "pay.md").write_text(f"---\n{front_matter}\n---\n# Pay\n\nBand L3 pays 99,000 EUR.\n")
    report = run(store, folder, acl=acl)
    (failure,) = [f for f in report.failures if f.path.endswith("pay.md")]
    assert "access would widen" in failure.problem and "--allow-widen-access" in failure.advice
    assert "--acl hr --acl legal" in failure.advice
    pay = store.document("pay.md")
    assert pay.acl == {"hr", "legal"} and "70,000" in pay.text and pay.version == 1
    assert not any(c.doc_id == "pay.md" for c in report.acl_changes)


def test_widening_on_purpose_is_applied_and_reported(store: DocumentStore, folder: Path) -> None:
    run(store, folder, acl=frozenset({"staff"}))
    (folder / "pay.md").write_text("---\nacl: []\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n")
    report = run(store, folder, allow_widen_access=True)  # states no --acl: handbook.txt becomes public too
    assert {(c.doc_id, c.widens) for c in report.acl_changes} == {("pay.md", True), ("handbook.txt", True)}
    assert store.document("pay.md").acl == frozenset() and store.document("handbook.txt").acl == frozenset()


def test_a_removed_document_that_comes_back_keeps_its_last_tags(store: DocumentStore, folder: Path, tmp_path: Path) -> None:
    run(store, folder, acl=frozenset({"staff"}))
    shutil.move(folder / "handbook.txt", tmp_path / "handbook.txt")
    assert run(store, folder).plan.removed == ("handbook.txt",)
    shutil.move(tmp_path / "handbook.txt", folder / "handbook.txt")
    run(store, folder)
    assert store.document("handbook.txt").acl == {"staff"}


def test_jsonl_lines_keep_tags_unless_they_state_them(store: DocumentStore, tmp_path: Path) -> None:
    docs = tmp_path / "kb"
    docs.mkdir()
    lines = [{"doc_id": "a", "text": "Alpha.", "acl": ["hr"]}, {"doc_id": "b", "text": "Beta.", "acl": "hr"}]
    (docs / "kb.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    run(store, docs)
    lines = [{"doc_id": "a", "text": "Alpha two."}, {"doc_id": "b", "text": "Beta.", "acl": []}]
    (docs / "kb.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = run(store, docs)
    assert store.document("a").acl == {"hr"} and store.document("a").text == "Alpha two."
    assert store.document("b").acl == {"hr"} and "'b': access would widen (hr -> public)" in report.failures[0].problem


def test_widening_means_someone_new_can_see_it() -> None:
    hr, both = frozenset({"hr"}), frozenset({"hr", "legal"})
    assert widens(hr, frozenset()) and widens(hr, both) and widens(hr, frozenset({"legal"}))
    assert not widens(both, hr) and not widens(frozenset(), hr) and not widens(hr, hr)


def test_the_cli_lists_every_change_and_fails_a_refused_widening(tmp_path: Path, folder: Path) -> None:
    ws = tmp_path / "ws"
    ragft("init", str(ws))
    assert ragft("ingest", str(folder), "--acl", "staff", "-w", str(ws)).exit_code == 0
    (folder / "pay.md").write_text("---\nacl: [hr]\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n")
    narrowed = ragft("ingest", str(folder), "--acl", "staff", "-w", str(ws))
    assert narrowed.exit_code == 0 and "Access tags changed" in narrowed.output and "narrowed" in narrowed.output
    assert "legal" in narrowed.output and "1 access changes" in " ".join(narrowed.output.split())
    again = ragft("ingest", str(folder), "-w", str(ws))  # no --acl: the staff tag an earlier --acl gave stays
    assert again.exit_code == 0 and "No changes" in again.output and "0 access changes" in " ".join(again.output.split())
    (folder / "pay.md").write_text("---\nacl: [hr, everyone]\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n")
    refused = ragft("ingest", str(folder), "-w", str(ws))
    assert refused.exit_code == 1 and "widen" in refused.output and "1 failed" in refused.output
    allowed = ragft("ingest", str(folder), "--allow-widen-access", "--acl", "staff", "-w", str(ws))
    assert allowed.exit_code == 0 and "widened" in allowed.output


def test_http_ingest_keeps_tags_and_refuses_widening(tmp_path: Path) -> None:
    from tests.serve_fixtures import serve

    served = serve(tmp_path)
    docs = tmp_path / "new"
    docs.mkdir()
    (docs / "roof.md").write_text("# Roof\n\nThe warehouse roof is painted green.\n")

    def post(body: dict) -> Any:
        return served.client.post("/v1/ingest", json=body, headers=served.auth("root"))

    assert post({"paths": [str(docs)], "acl": ["hr"]}).status_code == 200
    (docs / "roof.md").write_text("# Roof\n\nThe warehouse roof is painted blue.\n")
    kept = post({"paths": [str(docs)]}).json()
    assert kept["changed"] == 1 and kept["acl_changes"] == [] and kept["failures"] == []
    assert served.ws.store.document("roof.md").acl == {"hr"}
    refused = post({"paths": [str(docs)], "acl": ["staff"]}).json()
    assert refused["changed"] == 0 and "access would widen" in refused["failures"][0]["problem"]
    widened = post({"paths": [str(docs)], "acl": ["staff"], "allow_widen_access": True}).json()
    assert widened["acl_changes"] == [{"doc_id": "roof.md", "old": ["hr"], "new": ["staff"], "widened": True}]
    entries = served.client.get("/v1/audit", headers=served.auth("root")).json()["entries"]
    assert any("access changes" in e["question"] and '"new": ["staff"]' in e["question"] for e in entries if e["system"] == "ingest")
