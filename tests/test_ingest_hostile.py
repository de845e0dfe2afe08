"""Issue 16's hostile files: front matter that used to fail open, links and special files, malformed
.jsonl lines, poisoned metadata, zip bombs and slow HTML. Each fails closed, reported per file."""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ragft.corpus.html_text import html_to_text
from ragft.corpus.ingest import ingest
from ragft.corpus.loaders import LoadError, load_file
from ragft.corpus.store import SQLiteStore
from ragft.corpus.walk import read_regular_file

from .conftest import make_docx


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "state" / "store.sqlite3")


def load_md(tmp_path: Path, text: str):
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    (doc,) = load_file(path, "doc.md", max_file_mb=1)
    return doc


# --- item 1: front matter fails open ------------------------------------------------------------

RESTRICTED_SHAPES = {
    "yaml block list": "---\ntitle: Pay\nacl:\n  - hr\n  - legal\n---\n# Pay\n\nBand L3 pays 70,000 EUR.\n",
    "yaml inline list": "---\nacl: [hr, legal]\n---\nBand L3 pays 70,000 EUR.\n",
    "fence with trailing spaces": "--- \nacl: hr, legal\n---  \nBand L3 pays 70,000 EUR.\n",
    "blank lines before the fence": "\n\n---\nacl: hr, legal\n---\nBand L3 pays 70,000 EUR.\n",
    "html comment before the fence": "<!-- salary data -->\n---\nacl: hr, legal\n---\nBand L3 pays 70,000 EUR.\n",
    "byte order mark and CRLF": "\ufeff---\r\nacl: [hr, legal]\r\n---\r\nBand L3 pays 70,000 EUR.\r\n",
    "yaml closed by ...": "---\nacl: [hr, legal]\n...\nBand L3 pays 70,000 EUR.\n",
    "toml front matter": '+++\ntitle = "Pay"\nacl = ["hr", "legal"]\n+++\nBand L3 pays 70,000 EUR.\n',
    "upper-case key": "---\nACL: [hr, legal]\n---\nBand L3 pays 70,000 EUR.\n",
}


@pytest.mark.parametrize("shape", RESTRICTED_SHAPES)
def test_every_front_matter_shape_restricts_the_document(tmp_path: Path, shape: str) -> None:
    doc = load_md(tmp_path, RESTRICTED_SHAPES[shape])
    assert doc.acl == {"hr", "legal"}
    assert doc.text.startswith(("# Pay", "Band L3")), "the front matter is not part of the text"


UNREADABLE_SHAPES = {
    "no newline after the closing fence (nothing else)": ("---\nacl: hr\n---", "no text"),
    "never closed": ("---\nacl: hr\n\nBand L3 pays 70,000 EUR.\n", "never closed"),
    "invalid yaml": ("---\nacl: [hr\n---\nBand L3.\n", "not valid YAML"),
    "invalid toml": ("+++\nacl = [hr]\n+++\nBand L3.\n", "not valid TOML"),
    "acl is a number": ("---\nacl: 5\n---\nBand L3.\n", "not int"),
    "acl is a mapping": ("---\nacl: {hr: yes}\n---\nBand L3.\n", "not dict"),
    "acl list item is a number": ("---\nacl:\n  - 2024\n---\nBand L3.\n", "item 1 is int"),
    "acl is null": ("---\nacl:\n---\nBand L3.\n", "empty (null)"),
    "acl given twice": ("---\nacl: hr\nacl: []\n---\nBand L3.\n", "duplicate key"),
    "acl given twice in other case": ("---\nacl: hr\nAcl: []\n---\nBand L3.\n", "twice"),
    "front matter is a list": ("---\n- acl: hr\n---\nBand L3.\n", "not 'key: value'"),
    "four-dash fence": ("----\nacl: hr\n----\nBand L3.\n", "is not '---'"),
    "comment line before the fence": ("# comment\n---\nacl: hr\n---\nBand L3.\n", "outside any front matter"),
    "acl line without a fence": ("Title\nacl: hr\n\nBand L3.\n", "outside any front matter"),
}


@pytest.mark.parametrize("shape", UNREADABLE_SHAPES)
def test_front_matter_that_cannot_be_read_fails_the_file_never_public(tmp_path: Path, shape: str) -> None:
    text, problem = UNREADABLE_SHAPES[shape]
    with pytest.raises(LoadError) as info:
        load_md(tmp_path, text)
    assert problem in info.value.problem and info.value.advice


def test_a_broken_front_matter_keeps_the_previous_restricted_version(store: SQLiteStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "pay.md").write_text("---\nacl: hr\n---\nBand L3 pays 70,000 EUR.\n")
    assert ingest(store, [folder], max_file_mb=1).version == 1
    (folder / "pay.md").write_text("---\nacl:\n - hr\n- legal\n---\nBand L3 pays 75,000 EUR.\n")  # bad indentation
    report = ingest(store, [folder], max_file_mb=1)
    assert [f.path for f in report.failures] == [str(folder / "pay.md")]
    assert report.version is None and store.latest_version() == 1
    assert store.document("pay.md").acl == {"hr"} and "70,000" in store.document("pay.md").text


# --- item 2: links and special files --------------------------------------------------------------


@pytest.fixture
def linked_folder(tmp_path: Path) -> Path:
    """docs/ with links out of it (to a secret and a ragft.toml), a link inside it, and a normal file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The vault code is 4711.\n")
    (outside / "ragft.toml").write_text('[models]\ngenerator = "secret"\n')
    docs = tmp_path / "docs"
    (docs / "real").mkdir(parents=True)
    (docs / "real" / "plan.txt").write_text("Plan\n\nShip in May.\n")
    (docs / "real" / "settings.toml").write_text("x = 1\n")
    (docs / "readme.md").write_text("# Readme\n\nHello.\n")
    os.symlink(outside / "secret.txt", docs / "notes.txt")
    os.symlink(outside / "ragft.toml", docs / "config.md")
    os.symlink(docs / "real" / "plan.txt", docs / "alias.md")
    os.symlink(docs / "real" / "settings.toml", docs / "settings.md")
    os.symlink(outside, docs / "elsewhere")
    os.symlink(docs, docs / "loop")
    return docs


def test_links_are_skipped_by_default_and_reported(store: SQLiteStore, linked_folder: Path) -> None:
    report = ingest(store, [linked_folder], max_file_mb=1)
    ids = {d.doc_id for d in store.documents()}
    assert ids == {"readme.md", "real/plan.txt"}
    skipped = {Path(p.path).name for p in report.problems if p.skipped and "symbolic link" in p.problem}
    assert skipped == {"notes.txt", "config.md", "alias.md", "settings.md", "elsewhere", "loop"}
    assert all("--follow-symlinks" in p.advice for p in report.problems if "symbolic link" in p.problem)
    assert not report.failures


def test_followed_links_stay_inside_the_folder_and_are_typed_by_their_target(store: SQLiteStore, linked_folder: Path) -> None:
    report = ingest(store, [linked_folder], max_file_mb=1, follow_symlinks=True)
    ids = {d.doc_id for d in store.documents()}
    assert ids == {"readme.md", "real/plan.txt", "alias.md"}
    alias = store.document("alias.md")
    assert alias.metadata["format"] == "txt" and alias.title == "Plan"  # loaded as the .txt it points to
    outside = {Path(p.path).name for p in report.failures if "outside the folder" in p.problem}
    assert outside == {"notes.txt", "config.md", "elsewhere"}
    assert any(p.problem.startswith("unsupported type '.toml'") for p in report.problems if p.path.endswith("settings.toml"))
    assert "4711" not in " ".join(d.text for d in store.documents())


def test_a_link_named_on_the_command_line_is_not_followed_by_default(store: SQLiteStore, linked_folder: Path) -> None:
    report = ingest(store, [linked_folder / "notes.txt"], max_file_mb=1)
    assert store.latest_version() is None and report.problems[0].skipped
    report = ingest(store, [linked_folder / "notes.txt"], max_file_mb=1, follow_symlinks=True)
    assert store.latest_version() is None and "outside the folder" in report.failures[0].problem


def run_with_timeout(func, seconds: float):
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", func()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result["value"]


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Alpha\n\nText.\n")
    os.mkfifo(folder / "pipe.txt")
    db = tmp_path / "store.sqlite3"
    report = run_with_timeout(lambda: ingest(SQLiteStore(db), [folder], max_file_mb=1), 20)  # a thread: a hang fails, not blocks
    assert {d.doc_id for d in SQLiteStore(db).documents()} == {"a.txt"}
    assert [p.problem for p in report.problems] == ["not a regular file (FIFO)"]
    error = run_with_timeout(lambda: _load_error(folder / "pipe.txt"), 20)
    assert isinstance(error, LoadError) and "FIFO" in error.problem


def _load_error(path: Path) -> LoadError | None:
    try:
        load_file(path, path.name, max_file_mb=1)
    except LoadError as exc:
        return exc
    return None


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_named_directly_is_refused_without_being_read(store: SQLiteStore) -> None:
    started = time.perf_counter()
    report = ingest(store, [Path("/dev/zero")], max_file_mb=1)
    assert "character device" in report.failures[0].problem
    assert time.perf_counter() - started < 5 and store.latest_version() is None


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_reads_stop_at_the_limit_even_when_the_size_is_not_known_ahead() -> None:
    # /proc files report size 0 and are longer: the read itself must stop at max + 1 byte.
    with pytest.raises(LoadError, match="too large"):
        read_regular_file(Path("/proc/self/maps"), 16)


# --- item 7 and 8: one bad .jsonl line, a non-UTF-8 file name, poisoned metadata --------------------


def jsonl_lines() -> list[str]:
    good = [json.dumps({"doc_id": f"ok-{i}", "text": f"Good text {i}."}) for i in range(2)]
    return [
        good[0],
        json.dumps({"doc_id": "bad-acl", "text": "x", "acl": 5}),
        '{"doc_id": "deep", "text": "x", "metadata": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"doc_id": "big", "text": "x", "metadata": {"n": ' + "9" * 5000 + "}}",
        '{"doc_id": "surrogate", "text": "broken \\ud800 text"}',
        json.dumps({"doc_id": "pages", "text": "abc", "metadata": {"page_starts": 5}}),
        json.dumps({"doc_id": "unsorted", "text": "abcdef", "metadata": {"page_starts": [3, 0]}}),
        json.dumps({"doc_id": "null-acl", "text": "x", "acl": None}),
        good[1],
    ]


def test_bad_jsonl_lines_are_reported_by_line_and_the_rest_is_ingested(store: SQLiteStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "kb.jsonl").write_text("\n".join(jsonl_lines()) + "\n", encoding="utf-8")
    report = ingest(store, [folder], max_file_mb=5)
    assert {d.doc_id for d in store.documents()} == {"ok-0", "ok-1"}
    assert [f.path.rsplit(":", 1)[1] for f in report.failures] == ["2", "3", "4", "5", "6", "7", "8"]
    problems = " | ".join(f.problem for f in report.failures)
    for expected in ("not int", "nested too deeply", "cannot be read", "lone surrogate", "list of integers", "sorted offsets", "null"):
        assert expected in problems, expected


def test_a_bad_line_keeps_its_document_at_the_previous_version(store: SQLiteStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    lines = [{"doc_id": "a", "text": "Alpha v1."}, {"doc_id": "b", "text": "Beta v1."}]
    (folder / "kb.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    ingest(store, [folder], max_file_mb=1)
    (folder / "kb.jsonl").write_text(json.dumps({"doc_id": "a", "text": "Alpha v2.", "acl": 5}) + "\n{broken\n")
    report = ingest(store, [folder], max_file_mb=1)
    assert len(report.failures) == 2 and report.version is None
    assert {d.doc_id: d.text for d in store.documents()} == {"a": "Alpha v1.", "b": "Beta v1."}


def test_valid_page_starts_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"doc_id": "p", "text": "one two", "metadata": {"page_starts": [0, 4]}}) + "\n")
    assert load_file(path, "p.jsonl", max_file_mb=1)[0].metadata["page_starts"] == [0, 4]


def test_a_non_utf8_file_name_is_reported_not_a_crash(store: SQLiteStore, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Good\n\nText.\n")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"Latin-1 name\n\nText.\n")
    report = ingest(store, [folder], max_file_mb=1)
    assert {d.doc_id for d in store.documents()} == {"good.txt"}
    (failure,) = report.failures
    assert "not valid UTF-8" in failure.problem and failure.path.endswith("caf\\xe9.txt")
    failure.path.encode("utf-8")  # printable as it is


# --- item 10: zip bombs and slow HTML ------------------------------------------------------------------


def test_a_docx_that_unpacks_past_the_limit_is_refused_before_unpacking(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    make_docx(path, "Minutes", ["Budget approved."])
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/padding.bin", b"\0" * (2 * 1024 * 1024))  # 2 MB of zeros packs to ~2 KB
    assert path.stat().st_size < 100 * 1024
    with pytest.raises(LoadError, match="unpacks to"):
        load_file(path, "bomb.docx", max_file_mb=0.1)  # may unpack to 4 x 0.1 MB
    assert load_file(path, "bomb.docx", max_file_mb=1)[0].title == "Minutes"


@pytest.mark.parametrize("tag", ["div", "p", "li"])
def test_html_of_unclosed_tags_reads_in_linear_time(tmp_path: Path, tag: str) -> None:
    path = tmp_path / "deep.html"
    path.write_text(f"<html><body><ul>{f'<{tag}>word ' * 30_000}</body></html>")  # 210 KB; minutes in a tree parser
    started = time.perf_counter()
    (doc,) = load_file(path, "deep.html", max_file_mb=1)
    assert time.perf_counter() - started < 15
    assert doc.text.count("word") == 30_000


def test_html_past_the_time_limit_is_refused() -> None:
    with pytest.raises(LoadError, match="took over"):
        html_to_text("<p>x</p>" * 20_000, max_seconds=0)


def test_html_keeps_main_content_drops_boilerplate_and_handles_a_missing_head_close() -> None:
    title, text = html_to_text("<html><head><title>T</title><body><nav>Menu</nav><h2>Sub</h2><p>Kept</p>", max_seconds=5)
    assert title == "T" and "## Sub" in text and "Kept" in text and "Menu" not in text


# --- Low: escape sequences from file names and contents never reach the terminal -------------------


def test_ingest_tables_escape_control_characters(tmp_path: Path) -> None:
    from .conftest import ragft

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "evil\x1b[2J[bold]x.txt").write_bytes(b"\x00binary")
    (folder / "kb.jsonl").write_text(
        json.dumps({"doc_id": "ok", "text": "fine"}) + "\n" + json.dumps({"doc_id": "t\x1b]0;owned\x07", "text": "x"}) + "\n"
    )
    ragft("init", str(tmp_path / "ws"))
    result = ragft("ingest", str(folder), "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b" in result.output and "[bold]x" in result.output, "shown escaped, and as text rather than markup"


def test_documents_that_read_as_instructions_are_flagged_at_ingest_and_still_stored(tmp_path: Path) -> None:
    """Issue 16 item 4: ingest names the documents that address a model, so an operator reads them before serving."""
    from typer.testing import CliRunner

    from ragft.cli import app
    from ragft.evaluate.injection import HOSTILE_DIR

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text((HOSTILE_DIR / "qa-faq.md").read_text(encoding="utf-8"), encoding="utf-8")
    (docs / "roof.md").write_text("# Roof\n\nThe warehouse roof is painted green.\n")
    store = SQLiteStore(tmp_path / "store.sqlite3")
    report = ingest(store, [docs], max_file_mb=1)
    assert set(report.flagged) == {"faq.md"} and report.flagged["faq.md"]
    assert {d.doc_id for d in store.documents()} == {"faq.md", "roof.md"}  # flagged, not blocked
    store.close()

    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    result = runner.invoke(app, ["ingest", str(docs), "--workspace", str(ws)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "read as instructions to a model" in said and "faq.md" in said and "roof.md" not in said.split("read them")[0]
    assert "[retrieval] injection_guard" in said
