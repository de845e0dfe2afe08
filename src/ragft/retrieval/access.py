"""Access control for retrieval: which chunk rows a user may see, computed once per group set.

Chunks are grouped by their acl, so a user's visibility is a few vectorised ORs, not a loop
over chunks. The result feeds both retrievers before their top-k, so a hidden chunk can never
be returned and never takes a candidate slot from a visible one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ragft.retrieval.dense import Visibility
from ragft.types import Chunk, User

_MAX_CACHED = 256  # distinct group sets remembered; a server with more users recomputes (cheap)


class AccessIndex:
    """Rows grouped by acl for one list of chunks (row i is chunks[i])."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        by_acl: dict[frozenset[str], list[int]] = {}
        for row, chunk in enumerate(chunks):
            if chunk.acl:
                by_acl.setdefault(chunk.acl, []).append(row)
        self._acl_rows = [(acl, np.asarray(rows, dtype=np.int64)) for acl, rows in by_acl.items()]
        self._public = np.ones(len(chunks), dtype=bool)
        for _, rows in self._acl_rows:
            self._public[rows] = False
        self._cache: dict[frozenset[str] | None, Visibility | None] = {}
        self._lock = threading.Lock()

    def visible_to(self, user: User | None) -> Visibility | None:
        """The rows `user` may see; None means every row (the common all-public case).

        `user` None is an anonymous outsider: public chunks only.
        """
        if not self._acl_rows:
            return None
        groups = None if user is None else user.groups
        with self._lock:
            if groups in self._cache:
                return self._cache[groups]
        allowed = self._public.copy()
        if user is not None:
            for acl, rows in self._acl_rows:
                if user.may_see(acl):
                    allowed[rows] = True
        visibility = None if allowed.all() else Visibility(allowed, np.flatnonzero(~allowed))
        with self._lock:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[groups] = visibility
        return visibility
