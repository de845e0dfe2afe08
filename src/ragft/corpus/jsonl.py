"""`.jsonl` files: one document per line, each line checked on its own.

A bad line (not JSON, nested too deeply, a number too long, a lone surrogate, a field of the wrong
type, metadata the indexer could not use) is reported with its line number and the other lines
are still ingested; the document a bad line names keeps its previous version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ragft.corpus.front_matter import parse_acl
from ragft.corpus.problems import LoadError, printable

_SHAPE = 'each line must be one JSON object like {"doc_id": "...", "title": "...", "text": "...", "acl": ["hr"]}'


@dataclass(frozen=True)
class Record:
    """One good line: its document's fields (`acl` None when the line states no access tags)."""

    line: int
    doc_id: str
    title: str
    text: str
    acl: frozenset[str] | None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LineProblem:
    """One bad line: where, which document it named (when that could be read), what is wrong and what to do."""

    line: int
    doc_id: str | None
    problem: str
    advice: str


def read_jsonl(text: str) -> tuple[list[Record], list[LineProblem]]:
    """The good records and the bad lines of a .jsonl file's text."""
    records: list[Record] = []
    problems: list[LineProblem] = []
    seen: set[str] = set()
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        value: Any = None
        try:
            value = _parse_line(line)
            record = _record(value, line_no)
            if record.doc_id in seen:
                raise LoadError(f"duplicate doc_id '{printable(record.doc_id)}'", "doc ids must be unique within the file")
            seen.add(record.doc_id)
            records.append(record)
        except LoadError as exc:
            problems.append(LineProblem(line_no, _named_id(value), exc.problem, exc.advice))
    return records, problems


def check_metadata(metadata: Mapping[str, Any], text: str) -> None:
    """LoadError unless `metadata` is something the chunker and store can use for `text`.

    `page_starts` (offsets where each page begins, as PDFs give) must be a sorted list of ints
    within the text: anything else would be committed and then break indexing and serving.
    """
    if "page_starts" not in metadata:
        return
    starts = metadata["page_starts"]
    if not isinstance(starts, list) or not all(type(s) is int for s in starts):
        raise LoadError(
            "metadata 'page_starts' must be a list of integers", "give the character offset where each page begins, e.g. [0, 1200]"
        )
    if starts != sorted(starts) or (starts and (starts[0] < 0 or starts[-1] > len(text))):
        raise LoadError(
            f"metadata 'page_starts' must be sorted offsets within the text (0..{len(text)})", "fix the offsets, or leave page_starts out"
        )


def _parse_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise LoadError(f"not valid JSON ({exc.msg} at column {exc.colno})", _SHAPE) from None
    except RecursionError:
        raise LoadError("JSON nested too deeply to read", "flatten the line's structure") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise LoadError(f"JSON value cannot be read ({' '.join(str(exc).split())[:120]})", "shorten or quote the number") from None


def _record(value: Any, line_no: int) -> Record:
    if not isinstance(value, dict):
        raise LoadError("not a JSON object", _SHAPE)
    _check_unicode(value)
    for key in ("doc_id", "text"):
        if not isinstance(value.get(key), str) or not value[key].strip():
            raise LoadError(f"missing or empty '{key}'", 'each line needs string fields "doc_id" and "text"')
    doc_id = value["doc_id"].strip()
    if doc_id != printable(doc_id):
        raise LoadError(f"doc_id has control characters ({printable(doc_id)})", "use plain text ids")
    title = value.get("title")
    if title is not None and not isinstance(title, str | int | float):
        raise LoadError(f"'title' is {type(title).__name__}, not text", 'give "title" as a string')
    metadata = value.get("metadata") if value.get("metadata") is not None else {}
    if not isinstance(metadata, dict):
        raise LoadError(f"'metadata' is {type(metadata).__name__}, not an object", 'give "metadata" as a JSON object, or leave it out')
    check_metadata(metadata, value["text"])
    acl = parse_acl(value["acl"], "'acl'") if "acl" in value else None
    return Record(line_no, doc_id, str(title or "").strip() or doc_id, value["text"], acl, metadata)


def _check_unicode(value: dict[str, Any]) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LoadError(
            f"text is not valid Unicode (a lone surrogate {exc.object[exc.start : exc.end]!a})",
            "write the character correctly or remove it",
        ) from None
    except (ValueError, RecursionError):  # cannot happen for parsed JSON; refused rather than stored
        raise LoadError("JSON value cannot be stored", _SHAPE) from None


def _named_id(value: Any) -> str | None:
    doc_id = value.get("doc_id") if isinstance(value, dict) else None
    if isinstance(doc_id, str) and doc_id.strip() and doc_id.strip() == printable(doc_id.strip()):
        return doc_id.strip()
    return None
