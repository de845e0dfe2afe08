"""What may be served: the start-up refusal for arms trained on restricted documents, and loading.

Retrieval filters restricted passages per user, but fine-tuned weights cannot be filtered: an arm
that learned from a restricted document may repeat it to anyone. So serving such an arm needs
an explicit `allow_restricted_training=True`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ragft import arms
from ragft.corpus.store import StoreError
from ragft.errors import RagftError
from ragft.systems.build import index_corpus
from ragft.train.adapter_files import TRAINING_SET_FILE
from ragft.train.manifest import adapter_dir
from ragft.types import System
from ragft.workspace import Workspace

log = logging.getLogger("ragft.serve")


class RestrictedTrainingError(RagftError, RuntimeError):
    """A trained arm learned from restricted documents and serving it was not explicitly allowed."""


def restricted_training_docs(ws: Workspace, system_name: str) -> list[str]:
    """Doc ids of restricted documents in the training set of `system_name`'s adapter (none for outsider-safe arms).

    A name outside the arm registry (a system handed to the server directly) has no adapter here.
    """
    spec = arms.ARMS.get(system_name)
    arm = None if spec is None or spec.outsider_safe else spec.adapter
    path = adapter_dir(ws, arm) / TRAINING_SET_FILE if arm else None
    if path is None or not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RestrictedTrainingError(f"{path}: unreadable training set ({exc}); retrain with `ragft train --arm {arm}`") from exc
    restricted = {c["doc_id"] for c in raw.get("chunks", []) if c.get("acl")}
    learned = {item.get("doc_id", "") for key in ("facts", "pairs", "chunks") for item in raw.get(key, [])} - {""}
    for doc_id in learned - restricted:  # the document may have become restricted after training
        try:
            if ws.store.document(doc_id).acl:
                restricted.add(doc_id)
        except StoreError:
            continue
    return sorted(restricted)


def check_restricted_training(ws: Workspace, system_names: Iterable[str], *, allow_restricted_training: bool = False) -> None:
    """Raise RestrictedTrainingError naming the documents at risk, unless explicitly allowed."""
    if allow_restricted_training:
        return
    for name in system_names:
        docs = restricted_training_docs(ws, name)
        if docs:
            raise RestrictedTrainingError(
                f"refusing to serve {name!r}: its adapter was trained on restricted documents ({', '.join(docs)}), and "
                "fine-tuned weights cannot be filtered per user, so any caller could be told their contents; serve 'rag' "
                "instead, retrain without them, or pass --allow-restricted-training if every caller may see them"
            )


@dataclass(frozen=True)
class Servable:
    """The system to serve, the corpus version it answers from, and why that is not the latest ("" when it is)."""

    system: System
    version: int | None
    note: str = ""


def load_system(ws: Workspace, system_name: str) -> Servable:
    """Build the named arm the way the CLI and evaluator do (any arm in the registry may be served).

    A retrieving arm is served from the newest corpus version that can be indexed: a version that
    fails to index (e.g. stored by an older ragft before its metadata was checked) is skipped with
    the reason, which the server logs and reports in /v1/health, instead of keeping it from starting.
    """
    latest = ws.store.latest_version()
    if not arms.spec(system_name).retrieves or latest is None:
        return Servable(arms.build(ws, system_name), latest)
    skipped: list[str] = []
    for version in range(latest, 0, -1):
        try:
            indexed = index_corpus(ws, version)
        except Exception as exc:  # any failure to index a version means: do not serve that version
            skipped.append(f"v{version} could not be indexed ({type(exc).__name__}: {exc})")
            log.warning("corpus %s", skipped[-1])
            continue
        note = f"serving corpus v{version}, the newest that could be indexed: {'; '.join(skipped)}" if skipped else ""
        return Servable(arms.build(ws, system_name, indexed=indexed), version, note)
    raise RagftError(f"no corpus version can be served: {'; '.join(skipped)}")
