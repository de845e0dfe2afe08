"""What changed between two corpus versions, down to the sentences of each changed document.

The freshness evaluation builds its `changed_fact` probes from these sentence pairs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ragft.corpus.store import DocumentStore

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class DocumentChange:
    """A document present in both versions with different content."""

    doc_id: str
    title: str
    old_version: int
    new_version: int
    removed_sentences: tuple[str, ...]
    added_sentences: tuple[str, ...]


@dataclass(frozen=True)
class CorpusDiff:
    old: int
    new: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[DocumentChange, ...]


def sentences(text: str) -> list[str]:
    """Sentences and lines of `text`, stripped, empty ones dropped."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def diff_versions(store: DocumentStore, old: int, new: int) -> CorpusDiff:
    """Added, removed and changed documents from corpus version `old` to `new`."""
    before = {doc.doc_id: doc for doc in store.documents(old)}
    after = {doc.doc_id: doc for doc in store.documents(new)}
    changed = []
    for doc_id in sorted(before.keys() & after.keys()):
        old_doc, new_doc = before[doc_id], after[doc_id]
        if old_doc.version == new_doc.version:
            continue
        removed, added = changed_sentences(old_doc.text, new_doc.text)
        changed.append(DocumentChange(doc_id, new_doc.title, old_doc.version, new_doc.version, removed, added))
    return CorpusDiff(
        old=old,
        new=new,
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(changed),
    )


def changed_sentences(old_text: str, new_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sentences only in the old text, and sentences only in the new text, in document order."""
    old_sentences, new_sentences = sentences(old_text), sentences(new_text)
    removed: list[str] = []
    added: list[str] = []
    matcher = difflib.SequenceMatcher(a=old_sentences, b=new_sentences, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed.extend(old_sentences[i1:i2])
            added.extend(new_sentences[j1:j2])
    return tuple(removed), tuple(added)
