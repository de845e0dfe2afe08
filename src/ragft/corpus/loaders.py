"""Turn files into clean `Document`s: one loader per format, each raising `LoadError` on bad input.

A loader gets the bytes already checked for size and readability by `load_file`, and returns
cleaned text plus a title and metadata. Offsets into the returned text are what citations use,
so the text stored is exactly the text shown.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl")


class LoadError(RagftError):
    """A file could not be ingested: `problem` says what is wrong, `advice` what to do."""

    def __init__(self, problem: str, advice: str) -> None:
        super().__init__(f"{problem}; {advice}")
        self.problem = problem
        self.advice = advice


class UnsupportedFileError(LoadError):
    """No loader for this file's extension."""


@dataclass(frozen=True)
class Loaded:
    """What a loader extracted from one file (or one line of a .jsonl)."""

    text: str
    title: str
    doc_id: str | None = None  # only .jsonl names its documents itself
    acl: frozenset[str] = frozenset()
    metadata: dict[str, Any] = field(default_factory=dict)


def content_hash(text: str, title: str, acl: frozenset[str]) -> str:
    """Identity of a document's content: a change to text, title or access makes a new version."""
    payload = json.dumps([text, title, sorted(acl)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_file(path: Path, doc_id: str, *, max_file_mb: float, extra_acl: frozenset[str] = frozenset()) -> list[Document]:
    """Load one file into Documents (several for .jsonl), with `extra_acl` added to each."""
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise UnsupportedFileError(
            f"no loader for '{suffix or path.name}'",
            f"supported: {' '.join(SUPPORTED_SUFFIXES)}; convert the file or leave it out (--exclude)",
        )
    data = _read_bytes(path, max_file_mb)
    documents = []
    for loaded in loader(data, path):
        text = loaded.text.strip("\n")
        if not text.strip():
            raise LoadError("no text in the file", "check it is the document you meant; empty files are not ingested")
        acl = loaded.acl | extra_acl
        metadata = {**loaded.metadata, "format": suffix.lstrip("."), "content_hash": content_hash(text, loaded.title, acl)}
        documents.append(
            Document(
                doc_id=loaded.doc_id or doc_id,
                title=loaded.title,
                text=text,
                source=str(path),
                acl=acl,
                metadata=metadata,
            )
        )
    return documents


def _read_bytes(path: Path, max_file_mb: float) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_file_mb * 1024 * 1024:
            raise LoadError(
                f"too large ({size / 1024 / 1024:.1f} MB > max_file_mb {max_file_mb:g})",
                "split the file, or raise [corpus] max_file_mb in ragft.toml",
            )
        data = path.read_bytes()
    except PermissionError:
        raise LoadError("permission denied", "make the file readable (chmod) or leave it out") from None
    except OSError as exc:
        raise LoadError(f"cannot read ({exc.strerror or exc})", "check the path exists and is a regular file") from None
    if not data.strip():
        raise LoadError("empty file", "nothing to ingest; add content or leave it out")
    return data


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise LoadError("binary content, not text", "this is not a text file despite its name; use the right extension")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _load_txt(data: bytes, path: Path) -> list[Loaded]:
    text = _decode_text(data)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first_line if 0 < len(first_line) <= 120 else path.stem
    return [Loaded(text=text, title=title)]


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def _load_markdown(data: bytes, path: Path) -> list[Loaded]:
    text = _decode_text(data)
    fields: dict[str, str] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip().strip("\"'")
        text = text[match.end() :]
    heading = _MD_HEADING.search(text)
    title = fields.get("title") or (heading.group(1).strip() if heading else path.stem)
    acl = frozenset(group.strip() for group in fields.get("acl", "").strip("[]").split(",") if group.strip())
    return [Loaded(text=text, title=title, acl=acl)]


_HTML_DROP = ("script", "style", "nav", "header", "footer", "aside", "noscript", "form", "iframe", "svg", "template")
_HTML_BLOCKS = (
    "p", "div", "section", "article", "main", "li", "ul", "ol", "table", "tr", "blockquote",
    "pre", "dl", "dt", "dd", "figure", "figcaption",
)  # fmt: skip


def _load_html(data: bytes, path: Path) -> list[Loaded]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_text(data), "html.parser")
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    for level in range(1, 7):
        for tag in body.find_all(f"h{level}"):
            tag.insert_before("\n\n" + "#" * level + " ")
            tag.insert_after("\n\n")
    for tag in body.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in body.find_all(["td", "th"]):
        tag.insert_after(" | ")
    for tag in body.find_all("br"):
        tag.replace_with("\n")
    text = _tidy_whitespace(body.get_text())
    heading = _MD_HEADING.search(text)
    title = page_title or (heading.group(1).strip() if heading else path.stem)
    return [Loaded(text=text, title=title)]


def _tidy_whitespace(text: str) -> str:
    lines = [re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _load_pdf(data: bytes, path: Path) -> list[Loaded]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadError("encrypted PDF", "remove the password (e.g. `qpdf --decrypt`) and ingest again")
        pages = [_tidy_whitespace(page.extract_text() or "") for page in reader.pages]
        info_title = (reader.metadata.title if reader.metadata else None) or ""
    except LoadError:
        raise
    # Damaged PDFs surface as pypdf errors, but also as the Python errors of whatever code read the
    # broken object (fuzzing found unsupported filters and self-referencing objects among them).
    except (PyPdfError, NotImplementedError, RecursionError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {exc})", "re-export the PDF or check the download") from None
    # Page numbers stay with the text: `page_starts[i]` is the offset where page i+1 begins.
    page_starts, parts, offset = [], [], 0
    for page_text in pages:
        page_starts.append(offset)
        parts.append(page_text)
        offset += len(page_text) + 2
    text = "\n\n".join(parts)
    if not text.strip():
        raise LoadError("no extractable text (a scanned image?)", "run OCR on it first (e.g. `ocrmypdf`)")
    first_line = next((line for line in text.splitlines() if line.strip()), path.stem)
    return [Loaded(text=text, title=info_title.strip() or first_line[:120], metadata={"page_starts": page_starts})]


def _load_docx(data: bytes, path: Path) -> list[Loaded]:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile, lxml and docx errors vary by corruption; any of them means unreadable
        raise LoadError(f"not a readable .docx ({type(exc).__name__})", "re-save it from Word/LibreOffice as .docx") from None
    blocks: list[str] = []
    first_heading = ""
    for block in _docx_blocks(document):
        blocks.append(block)
        if not first_heading and block.startswith("#"):
            first_heading = block.lstrip("#").strip()
    title = (document.core_properties.title or "").strip() or first_heading or path.stem
    return [Loaded(text="\n\n".join(blocks), title=title)]


def _docx_blocks(document: Any) -> list[str]:
    """Paragraphs and tables in document order; headings as markdown '#' lines for the chunker."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            level = _heading_level(style)
            blocks.append(("#" * level + " " + text) if level else text)
        elif isinstance(item, Table):
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows]
            blocks.append("\n".join(rows))
    return blocks


def _heading_level(style_name: str) -> int:
    if style_name == "Title":
        return 1
    match = re.match(r"Heading (\d)", style_name)
    return int(match.group(1)) if match else 0


def _load_jsonl(data: bytes, path: Path) -> list[Loaded]:
    loaded = []
    seen: set[str] = set()
    for line_no, line in enumerate(_decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"{where}: not valid JSON ({exc.msg})", "each line must be one JSON object") from None
        if not isinstance(record, dict):
            raise LoadError(f"{where}: not a JSON object", 'each line must look like {"doc_id", "title", "text"}')
        for key in ("doc_id", "text"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise LoadError(f"{where}: missing or empty '{key}'", 'each line needs string fields "doc_id" and "text"')
        doc_id = record["doc_id"].strip()
        if doc_id in seen:
            raise LoadError(f"{where}: duplicate doc_id '{doc_id}'", "doc ids must be unique within the file")
        seen.add(doc_id)
        acl = record.get("acl") or []
        if isinstance(acl, str):
            acl = [acl]
        metadata = found if isinstance(found := record.get("metadata"), dict) else {}
        title = str(record.get("title") or doc_id)
        loaded.append(Loaded(text=record["text"], title=title, doc_id=doc_id, acl=frozenset(map(str, acl)), metadata=metadata))
    if not loaded:
        raise LoadError("no documents in the file", "each line must be one JSON object with doc_id and text")
    return loaded


_LOADERS: dict[str, Callable[[bytes, Path], list[Loaded]]] = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".jsonl": _load_jsonl,
}
