"""Every loader turns its format into clean text with a title; bad files raise a LoadError that says what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragft.corpus.loaders import LoadError, UnsupportedFileError, load_file

from .conftest import HTML_PAGE, make_docx, make_pdf


def load_one(path: Path, doc_id: str = "doc"):
    docs = load_file(path, doc_id, max_file_mb=50)
    assert len(docs) == 1
    return docs[0]


def test_markdown_front_matter_gives_title_and_acl(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: Salary Bands\nacl: hr, legal\n---\n# Heading\n\nBand L3 pays 70,000 EUR.\n")
    doc = load_one(path)
    assert doc.title == "Salary Bands"
    assert doc.acl == frozenset({"hr", "legal"})
    assert doc.text.startswith("# Heading") and "---" not in doc.text


def test_markdown_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "b.md"
    path.write_text("Intro line\n\n# The Real Title\n\nBody.")
    assert load_one(path).title == "The Real Title"


def test_txt_keeps_text_and_uses_first_line_as_title(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_bytes(b"Team notes\r\n\r\nThe launch moved to 3 March.\r\n")
    doc = load_one(path)
    assert doc.title == "Team notes"
    assert doc.text == "Team notes\n\nThe launch moved to 3 March."


def test_html_drops_boilerplate_and_keeps_content(tmp_path: Path) -> None:
    path = tmp_path / "faq.html"
    path.write_text(HTML_PAGE)
    doc = load_one(path)
    assert doc.title == "Widget FAQ"
    assert "Widget Pro weighs 1.2 kg." in doc.text
    assert "Basic | $10" in doc.text
    for junk in ("tracking", "Home", "boilerplate", "color:red"):
        assert junk not in doc.text


def test_pdf_text_per_page_with_page_offsets(tmp_path: Path) -> None:
    path = tmp_path / "spec.pdf"
    make_pdf(path, ["Page one text.\nBattery lasts 11 hours.", "Page two text.\nWarranty is 3 years."], title="Gizmo Spec")
    doc = load_one(path)
    assert doc.title == "Gizmo Spec"
    starts = doc.metadata["page_starts"]
    assert len(starts) == 2
    assert "Battery lasts 11 hours." in doc.text[starts[0] : starts[1]]
    assert "Warranty is 3 years." in doc.text[starts[1] :]


def test_docx_keeps_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    path = tmp_path / "m.docx"
    make_docx(path, "Board Minutes", ["Budget approved: 2.5M EUR."], [["Owner", "Task"], ["Ada", "Hiring"]])
    doc = load_one(path)
    assert doc.title == "Board Minutes"
    assert doc.text.startswith("# Board Minutes")
    assert "Budget approved: 2.5M EUR." in doc.text
    assert "Ada | Hiring" in doc.text


def test_jsonl_in_the_shared_benchmark_shape_gives_one_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"doc_id": "d1", "title": "One", "text": "First."}\n\n{"doc_id": "d2", "title": "Two", "text": "Second."}\n')
    docs = load_file(path, "c.jsonl", max_file_mb=50)
    assert [(d.doc_id, d.title, d.text) for d in docs] == [("d1", "One", "First."), ("d2", "Two", "Second.")]


def test_extra_acl_is_added_and_changes_the_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("Some text here.")
    public = load_one(path)
    restricted = load_file(path, "doc", max_file_mb=50, extra_acl=frozenset({"legal"}))[0]
    assert restricted.acl == {"legal"}
    assert public.metadata["content_hash"] != restricted.metadata["content_hash"]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("corrupt.pdf", b"%PDF-1.4 this is not really a pdf \x00\x01\x02 garbage", "not a readable PDF"),
        ("binary.txt", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00binary", "binary content"),
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"   \n\n  ", "empty file"),
        ("latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("broken.docx", b"PK\x03\x04 not a real zip", "not a readable .docx"),
        ("bad.jsonl", b'{"doc_id": "a", "text": "ok"}\n{not json}\n', "line 2: not valid JSON"),
        ("missing.jsonl", b'{"title": "no id", "text": "x"}\n', "line 1: missing or empty 'doc_id'"),
    ],
)
def test_bad_files_raise_a_clear_load_error(tmp_path: Path, name: str, data: bytes, problem: str) -> None:
    with pytest.raises(LoadError) as info:
        load_file(write(tmp_path / name, data), name, max_file_mb=50)
    assert problem in info.value.problem
    assert info.value.advice


def test_unknown_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFileError) as info:
        load_file(write(tmp_path / "report.xyz", b"data"), "report.xyz", max_file_mb=50)
    assert "'.xyz'" in info.value.problem and ".pdf" in info.value.advice


def test_a_100_mb_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: costs no disk
    with pytest.raises(LoadError, match="too large"):
        load_file(path, "huge.txt", max_file_mb=50)


def test_an_unreadable_path_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot read"):
        load_file(tmp_path / "gone.txt", "gone.txt", max_file_mb=50)


def test_a_symbolic_link_is_refused_not_read(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("Some text.")
    os.symlink(tmp_path / "real.txt", tmp_path / "link.txt")
    with pytest.raises(LoadError, match="symbolic link"):
        load_file(tmp_path / "link.txt", "link.txt", max_file_mb=50)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_a_file_without_read_permission_is_a_load_error(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", b"hidden")
    path.chmod(0)
    with pytest.raises(LoadError, match="permission denied"):
        load_file(path, "secret.txt", max_file_mb=50)
