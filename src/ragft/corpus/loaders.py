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
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.corpus.front_matter import split_front_matter
from ragft.corpus.html_text import html_to_text
from ragft.corpus.jsonl import LineProblem, check_metadata, read_jsonl
from ragft.corpus.problems import LoadError, UnsupportedFileError
from ragft.corpus.walk import read_regular_file
from ragft.types import Document

__all__ = ["SUPPORTED_SUFFIXES", "FileLoad", "Limits", "LoadError", "UnsupportedFileError", "content_hash", "load_file", "load_path"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".jsonl")
UNPACKED_PER_PACKED = 4  # a .docx may unpack to this many times max_file_mb, no more (zip bombs)
MAX_PARSE_S = 30.0  # an HTML page taking longer than this to read is refused


@dataclass(frozen=True)
class Limits:
    """How much one file may cost: bytes read, bytes a .docx unpacks to, seconds to read HTML."""

    max_bytes: int
    max_unpacked_bytes: int
    max_parse_s: float = MAX_PARSE_S

    @classmethod
    def from_mb(cls, max_file_mb: float) -> Limits:
        max_bytes = int(max_file_mb * 1024 * 1024)
        return cls(max_bytes=max_bytes, max_unpacked_bytes=max_bytes * UNPACKED_PER_PACKED)


@dataclass(frozen=True)
class Loaded:
    """What a loader extracted from one file (or one line of a .jsonl)."""

    text: str
    title: str
    doc_id: str | None = None  # only .jsonl names its documents itself
    acl: frozenset[str] | None = None  # None: the file states no access tags
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileLoad:
    """The documents one file gave, which of them state their own access tags, and its bad .jsonl lines."""

    documents: list[Document]
    acl_stated: frozenset[str] = frozenset()  # doc ids whose file (front matter, .jsonl "acl") gave tags
    line_problems: list[LineProblem] = field(default_factory=list)
    size: int = 0


def content_hash(text: str, title: str, acl: frozenset[str]) -> str:
    """Identity of a document's content: a change to text, title or access makes a new version."""
    payload = json.dumps([text, title, sorted(acl)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def load_file(path: Path, doc_id: str, *, max_file_mb: float, extra_acl: frozenset[str] = frozenset()) -> list[Document]:
    """Load one file into Documents (several for .jsonl), with `extra_acl` added to each; any bad line fails it all."""
    loaded = load_path(path, doc_id, limits=Limits.from_mb(max_file_mb), extra_acl=extra_acl)
    if loaded.line_problems:
        first = loaded.line_problems[0]
        raise LoadError(f"line {first.line}: {first.problem}", first.advice)
    return loaded.documents


def load_path(path: Path, doc_id: str, *, limits: Limits, extra_acl: frozenset[str] = frozenset(), suffix: str | None = None) -> FileLoad:
    """Load one regular file as the type `suffix` (default: its own), never reading past `limits`.

    Symbolic links and special files are refused (see `files.read_regular_file`); a .jsonl file
    gives its good lines as documents and its bad lines as `line_problems`.
    """
    suffix = (suffix or path.suffix).lower()
    if suffix not in _LOADERS and suffix != ".jsonl":
        raise UnsupportedFileError(
            f"no loader for '{suffix or path.name}'",
            f"supported: {' '.join(SUPPORTED_SUFFIXES)}; convert the file or leave it out (--exclude)",
        )
    data = read_regular_file(path, limits.max_bytes)
    if not data.strip():
        raise LoadError("empty file", "nothing to ingest; add content or leave it out")
    if suffix == ".jsonl":
        return _load_jsonl(data, path, extra_acl)
    items = _LOADERS[suffix](data, path, limits)
    documents = [_document(item, doc_id, path, suffix, extra_acl) for item in items]
    stated = frozenset(doc.doc_id for doc, item in zip(documents, items, strict=True) if item.acl is not None)
    return FileLoad(documents, stated, [], len(data))


def _load_jsonl(data: bytes, path: Path, extra_acl: frozenset[str]) -> FileLoad:
    records, line_problems = read_jsonl(_decode_text(data))
    if not records and not line_problems:
        raise LoadError("no documents in the file", "each line must be one JSON object with doc_id and text")
    documents, stated = [], set()
    for record in records:
        try:
            documents.append(
                _document(
                    Loaded(record.text, record.title, record.doc_id, record.acl, record.metadata), record.doc_id, path, ".jsonl", extra_acl
                )
            )
        except LoadError as exc:
            line_problems.append(LineProblem(record.line, record.doc_id, exc.problem, exc.advice))
            continue
        if record.acl is not None:
            stated.add(record.doc_id)
    return FileLoad(documents, frozenset(stated), sorted(line_problems, key=lambda p: p.line), len(data))


def _document(loaded: Loaded, doc_id: str, path: Path, suffix: str, extra_acl: frozenset[str]) -> Document:
    text = loaded.text.strip("\n")
    if not text.strip():
        raise LoadError("no text in the file", "check it is the document you meant; empty files are not ingested")
    metadata = dict(loaded.metadata)
    if "page_starts" in metadata:  # offsets move with the newlines stripped off the front
        lead = len(loaded.text) - len(loaded.text.lstrip("\n"))
        starts = metadata["page_starts"]
        metadata["page_starts"] = (
            [min(max(0, s - lead), len(text)) for s in starts]
            if isinstance(starts, list) and all(type(s) is int for s in starts)
            else starts
        )
    check_metadata(metadata, text)
    acl = (loaded.acl or frozenset()) | extra_acl
    metadata.update({"format": suffix.lstrip("."), "content_hash": content_hash(text, loaded.title, acl)})
    return Document(doc_id=loaded.doc_id or doc_id, title=loaded.title, text=text, source=str(path), acl=acl, metadata=metadata)


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


def _load_txt(data: bytes, path: Path, limits: Limits) -> list[Loaded]:
    text = _decode_text(data)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first_line if 0 < len(first_line) <= 120 else path.stem
    return [Loaded(text=text, title=title)]


_MD_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def _load_markdown(data: bytes, path: Path, limits: Limits) -> list[Loaded]:
    front = split_front_matter(_decode_text(data))
    heading = _MD_HEADING.search(front.body)
    title = front.title or (heading.group(1).strip() if heading else path.stem)
    return [Loaded(text=front.body, title=title, acl=front.acl)]


def _load_html(data: bytes, path: Path, limits: Limits) -> list[Loaded]:
    page_title, raw = html_to_text(_decode_text(data), max_seconds=limits.max_parse_s)
    text = _tidy_whitespace(raw)
    heading = _MD_HEADING.search(text)
    title = page_title or (heading.group(1).strip() if heading else path.stem)
    return [Loaded(text=text, title=title)]


def _tidy_whitespace(text: str) -> str:
    lines = [re.sub(r"[ \t\f\v\xa0]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _load_pdf(data: bytes, path: Path, limits: Limits) -> list[Loaded]:
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


def _load_docx(data: bytes, path: Path, limits: Limits) -> list[Loaded]:
    import docx

    _check_unpacked_size(data, limits.max_unpacked_bytes)
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


def _check_unpacked_size(data: bytes, max_unpacked_bytes: int) -> None:
    """LoadError when the zip would unpack to more than `max_unpacked_bytes`, summing declared sizes.

    The zip reader never returns more than a part declares, so this refuses a zip bomb before
    python-docx unpacks anything.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise LoadError(f"not a readable .docx ({type(exc).__name__})", "re-save it from Word/LibreOffice as .docx") from None
    if total > max_unpacked_bytes:
        raise LoadError(
            f"unpacks to {total / 1024 / 1024:.0f} MB, over the {max_unpacked_bytes / 1024 / 1024:g} MB limit (a zip bomb?)",
            "re-save the document without embedded media, or raise [corpus] max_file_mb (a .docx may unpack to 4x it)",
        )


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


_LOADERS: dict[str, Callable[[bytes, Path, Limits], list[Loaded]]] = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}
