"""Access tags across versions: a document keeps its tags unless an ingest states new ones.

Tags are groups allowed to see a document (any one of them suffices; none means public). A new
version keeps its previous version's tags when neither `--acl` nor the file itself (front matter,
a .jsonl "acl") states them, and keeps the part an earlier `--acl` gave when only the file states
them, so re-ingesting a folder without `--acl` never changes access by itself. A stated change
is reported; one that widens access (public, or a group that could not see it before) is refused
unless the caller allows widening on purpose.
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


def settle_acl(
    doc: Document, previous: Document | None, *, given: frozenset[str], file_states: bool, allow_widen: bool
) -> tuple[Document, AclChange | None]:
    """`doc` with the tags it should have given its previous version, and the change if any.

    `doc.acl` is what this ingest found: the file's own tags plus `given` (this ingest's --acl).
    Without --acl, the tags an earlier --acl gave are kept (recorded as `acl_given` in the
    metadata) and, when the file states none, all previous tags are. Raises LoadError when the
    change would widen access without `allow_widen`: the caller keeps the previous version.
    """
    if given or allow_widen or previous is None:
        acl, given_part = doc.acl, given
    else:
        given_part = frozenset(previous.metadata.get("acl_given", ()))
        acl = doc.acl | given_part if file_states else previous.acl
    settled = _with_acl(doc, acl, given_part)
    if previous is None or acl == previous.acl:
        return settled, None
    change = AclChange(doc.doc_id, previous.acl, acl)
    if change.widens and not allow_widen:
        raise LoadError(
            f"'{printable(doc.doc_id)}': access would widen ({change.describe()}); kept at its previous version",
            f"keep it with {' '.join('--acl ' + g for g in sorted(previous.acl))}, or widen it on purpose with "
            '--allow-widen-access (HTTP: "allow_widen_access": true)',
        )
    return settled, change


def _with_acl(doc: Document, acl: frozenset[str], given: frozenset[str]) -> Document:
    metadata = {**doc.metadata, "acl_given": sorted(given), "content_hash": content_hash(doc.text, doc.title, acl)}
    return replace(doc, acl=acl, metadata=metadata)
