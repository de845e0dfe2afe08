"""Cheap checks that bound what a hostile file can cost before its real parser sees it.

A .docx is a zip: its parts' declared sizes are summed before python-docx unpacks anything (the
zip reader never returns more than a part declares), so a zip bomb is refused in microseconds.
HTML's cost in the tree parser grows with how deeply elements nest (a page of unclosed `<div>`s
is quadratic); a linear tokenizer pass measures the nesting first and refuses what is too deep.
"""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser

from ragft.corpus.problems import LoadError

# Elements that never hold content, and those a browser closes when a sibling opens (`<p>a<p>b`).
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_SELF_CLOSING_SIBLINGS = frozenset("p li dt dd tr td th option".split())


def check_unpacked_size(data: bytes, max_unpacked_bytes: int) -> None:
    """LoadError when the zip in `data` would unpack to more than `max_unpacked_bytes` (declared sizes)."""
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


def check_html_depth(html: str, max_depth: int) -> None:
    """LoadError when elements in `html` nest deeper than `max_depth` (unclosed tags counted as browsers would)."""
    probe = _DepthProbe(max_depth)
    try:
        probe.feed(html)
        probe.close()
    except _TooDeep:
        raise LoadError(
            f"HTML nested more than {max_depth} elements deep (unclosed tags?)",
            "fix the page's markup (close its tags), or save it as text and ingest that",
        ) from None


class _TooDeep(Exception):
    pass


class _DepthProbe(HTMLParser):
    """Tracks the open-element stack only; stops at the first element past the limit."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(convert_charrefs=False)
        self.max_depth = max_depth
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        if tag in _SELF_CLOSING_SIBLINGS and self.open and self.open[-1] == tag:
            return  # `<p>a<p>b`: the second closes the first
        self.open.append(tag)
        if len(self.open) > self.max_depth:
            raise _TooDeep

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i] == tag:
                del self.open[i:]
                return
