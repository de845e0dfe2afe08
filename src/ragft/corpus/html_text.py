"""HTML to text in one linear pass, with a time limit: hostile markup cannot make it slow.

A tree parser that inserts separators around every block is quadratic on a page of unclosed
`<div>`s or `<p>`s (500 KB of them held an ingest for minutes), so the text is produced while
tokenizing: the open-element stack is kept with a count per tag, so closing tags cost amortised
O(1) however deep the nesting, and the page is fed in slices so a deadline can stop it.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

from ragft.corpus.problems import LoadError

_DROP = frozenset(("script", "style", "nav", "header", "footer", "aside", "noscript", "form", "iframe", "svg", "template", "head", "title"))
_BLOCKS = frozenset(
    (
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "table",
        "tr",
        "blockquote",
        "pre",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
    )
)
_VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"])
_HEADING = re.compile(r"h([1-6])")
_SLICE = 64 * 1024


def html_to_text(html: str, *, max_seconds: float) -> tuple[str, str]:
    """(page title, text) of `html`: boilerplate dropped, headings as '#' lines, table cells joined by ' | '.

    Only `<main>` (else `<article>`, else the body) is kept when the page has one. LoadError when
    parsing takes longer than `max_seconds`.
    """
    parser = _TextParser()
    deadline = time.perf_counter() + max_seconds
    for start in range(0, len(html), _SLICE):
        parser.feed(html[start : start + _SLICE])
        if time.perf_counter() > deadline:
            raise LoadError(
                f"HTML took over {max_seconds:g} s to read (stopped)", "simplify or split the page, or save it as text and ingest that"
            )
    parser.close()
    return " ".join("".join(parser.title).split()), parser.text()


class _TextParser(HTMLParser):
    """Collects the text of the body, of `<main>` and of `<article>` as it tokenizes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.open: dict[str, int] = {}  # open elements per tag; a tag stays a key once seen
        self.dropping = 0  # open elements whose text is boilerplate
        self.title: list[str] = []
        self.parts: dict[str, list[str]] = {"body": [], "main": [], "article": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.emit("\n" if tag == "br" else "")
            return
        if tag == "body" and self.open.get("head"):
            self.handle_endtag("head")  # `</head>` may be left out; the body still counts
        self.separate(tag, before=True)
        self.stack.append(tag)
        self.open[tag] = self.open.get(tag, 0) + 1
        self.dropping += tag in _DROP

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.emit("\n" if tag == "br" else "")

    def handle_endtag(self, tag: str) -> None:
        if not self.open.get(tag):
            return  # a stray closing tag: nothing to close
        while self.stack:
            top = self.stack.pop()
            self.open[top] -= 1
            self.dropping -= top in _DROP
            self.separate(top, before=False)
            if top == tag:
                return

    def handle_data(self, data: str) -> None:
        if self.open.get("title") and not self.open.get("svg"):  # an svg's <title> names a picture, not the page
            self.title.append(data)
        self.emit(data)

    def separate(self, tag: str, *, before: bool) -> None:
        heading = _HEADING.fullmatch(tag)
        if heading:
            self.emit("\n\n" + "#" * int(heading.group(1)) + " " if before else "\n\n")
        elif tag in _BLOCKS:
            self.emit("\n\n")
        elif tag in ("td", "th") and not before:
            self.emit(" | ")

    def emit(self, text: str) -> None:
        if not text or self.dropping:
            return
        self.parts["body"].append(text)
        for scope in ("main", "article"):
            if self.open.get(scope):
                self.parts[scope].append(text)

    def text(self) -> str:
        scope = next((scope for scope in ("main", "article") if scope in self.open), "body")
        return "".join(self.parts[scope])
