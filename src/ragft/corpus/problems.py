"""The error every loader raises for a file it cannot ingest, and how its text is made safe to show.

Kept apart from the loaders so the helper modules (front matter, file reading, .jsonl) can raise it
without importing the loaders that import them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ragft.errors import RagftError


class LoadError(RagftError):
    """A file could not be ingested: `problem` says what is wrong, `advice` what to do."""

    def __init__(self, problem: str, advice: str) -> None:
        super().__init__(f"{problem}; {advice}")
        self.problem = problem
        self.advice = advice


class UnsupportedFileError(LoadError):
    """No loader for this file's extension."""


# C0 and C1 control characters (ESC among them), DEL, and the bidi overrides that reorder a line.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with control characters shown as escapes (`\\x1b`), so a name or message cannot drive a terminal.

    Lone surrogates (from a file name that is not UTF-8) become their escaped bytes too.
    """
    text = text.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogates(text) else text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def display_path(path: Path | str) -> str:
    """A path as a printable string: undecodable bytes of a non-UTF-8 name shown as `\\xNN`."""
    raw = os.fsencode(path)
    return printable(raw.decode("utf-8", "backslashreplace"))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True)
class FileProblem:
    """One file (or one line of a .jsonl) that was not ingested: what is wrong and what to do."""

    path: str  # printable: see `display_path`
    problem: str
    advice: str
    skipped: bool = False  # True: left out on purpose (unsupported type, a link not followed), not a failure
