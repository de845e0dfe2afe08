"""Access tags across versions: a document keeps its tags unless an ingest states new ones.

Tags are groups allowed to see a document (any one of them suffices; none means public). A new
version inherits its previous version's tags when neither `--acl` nor the file itself (front
matter, a .jsonl "acl") states them, so re-ingesting a folder without `--acl` never opens up what
an earlier ingest restricted. A stated change is reported; one that widens access (public, or a
group that could not see it before) is refused unless the caller allows widening on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ragft.corpus.loaders import content_hash
from ragft.corpus.problems import LoadError, printable
from ragft.types import Document


@dataclass(frozen=True)
class AclChange:
    """One document whose access tags this ingest changes."""

    doc_id: str
    old: frozenset[str]
    new: frozenset[str]

    @property
    def widens(self) -> bool:
        """True when someone who could not see the document can after the change."""
        return widens(self.old, self.new)

    def describe(self) -> str:
        return f"{describe_acl(self.old)} -> {describe_acl(self.new)}"


def widens(old: frozenset[str], new: frozenset[str]) -> bool:
    """Going public, or adding a group, widens access; removing some groups (not all) narrows it."""
    return bool(old) and (not new or bool(new - old))


def describe_acl(acl: frozenset[str]) -> str:
    return ", ".join(sorted(acl)) or "public"


def settle_acl(doc: Document, previous: Document | None, *, stated: bool, allow_widen: bool) -> tuple[Document, AclChange | None]:
    """`doc` with the tags it should have given its previous version, and the change if any.

    Raises LoadError when the change would widen access without `allow_widen`: the caller keeps
    the previous version of that document.
    """
    if previous is None:
        return doc, None
    acl = doc.acl if stated or allow_widen else previous.acl
    settled = doc if acl == doc.acl else _with_acl(doc, acl)
    if acl == previous.acl:
        return settled, None
    change = AclChange(doc.doc_id, previous.acl, acl)
    if change.widens and not allow_widen:
        raise LoadError(
            f"'{printable(doc.doc_id)}': access would widen ({change.describe()}); kept at its previous version",
            f"keep it with {' '.join('--acl ' + g for g in sorted(previous.acl))}, or widen it on purpose with "
            "--allow-widen-access (HTTP: \"allow_widen_access\": true)",
        )
    return settled, change


def _with_acl(doc: Document, acl: frozenset[str]) -> Document:
    metadata = {**doc.metadata, "content_hash": content_hash(doc.text, doc.title, acl)}
    return replace(doc, acl=acl, metadata=metadata)
