"""What may be served: the start-up refusal for arms trained on restricted documents, and loading.

Retrieval filters restricted passages per user, but fine-tuned weights cannot be filtered: an arm
that learned from a restricted document may repeat it to anyone. So serving such an arm needs
an explicit `allow_restricted_training=True`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ragft import arms
from ragft.corpus.store import StoreError
from ragft.errors import RagftError
from ragft.train.arms import TRAINING_SET_FILE
from ragft.train.manifest import adapter_dir
from ragft.types import System
from ragft.workspace import Workspace


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


def load_system(ws: Workspace, system_name: str) -> System:
    """Build the named arm the way the CLI and evaluator do (any arm in the registry may be served)."""
    return arms.build(ws, system_name)
