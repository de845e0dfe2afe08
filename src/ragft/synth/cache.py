"""Synthesized training data cached per chunk content, so a document update regenerates only what changed.

Model synthesis costs several generations per chunk; after an update most chunks are unchanged.
A chunk's facts and passages are stored under the sha256 of its title, its text and every setting
that shapes them, with offsets relative to the chunk and no ids: a hit is rebased onto the chunk
that asks (which may sit at another offset, or in a renamed document). Entries are written
atomically; an unreadable entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ragft.files import write_atomic
from ragft.synth.types import Fact, Passage
from ragft.types import Chunk

_SHAPING = ("synthesis", "facts_per_chunk", "paraphrases", "rewrites", "raw_chunks", "seed")
RECIPE = 3  # raised when the synthesis code changes what it makes of a chunk, so older entries are not reused


class SynthesisCache:
    """Per-chunk facts and passages in `directory`; `scope` names what else shapes them (mode, generator)."""

    def __init__(self, directory: Path, scope: str = "") -> None:
        self.directory = directory
        self.scope = scope

    def key(self, chunk: Chunk, settings: Any, extra: str = "") -> str:
        shaping = {name: getattr(settings, name, None) for name in _SHAPING}
        payload = json.dumps([RECIPE, self.scope, extra, shaping, chunk.title, chunk.text], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def get(self, chunk: Chunk, settings: Any, extra: str = "") -> tuple[list[Fact], list[Passage]] | None:
        """The cached (facts, passages) for `chunk`, rebased onto it; None on a miss."""
        path = self.directory / f"{self.key(chunk, settings, extra)}.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            facts = [
                Fact(
                    **{
                        **f,
                        "fact_id": f"{chunk.chunk_id}/{f['fact_id']}",
                        "doc_id": chunk.doc_id,
                        "chunk_id": chunk.chunk_id,
                        "start": chunk.start + f["start"],
                        "end": chunk.start + f["end"],
                        "questions": tuple(f["questions"]),
                        "reverse": tuple(f["reverse"]),
                    }
                )
                for f in raw["facts"]
            ]
            passages = [Passage(chunk.chunk_id, chunk.doc_id, p["style"], p["text"]) for p in raw["passages"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return facts, passages

    def put(self, chunk: Chunk, settings: Any, facts: Sequence[Fact], passages: Sequence[Passage], extra: str = "") -> None:
        """Store `chunk`'s facts and passages (offsets made chunk-relative, ids dropped)."""
        relative = [
            asdict(
                replace(
                    f, fact_id=f.fact_id.rsplit("/", 1)[-1], doc_id="", chunk_id="", start=f.start - chunk.start, end=f.end - chunk.start
                )
            )
            for f in facts
        ]
        payload = {"facts": relative, "passages": [{"style": p.style, "text": p.text} for p in passages]}
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.directory / f"{self.key(chunk, settings, extra)}.json", json.dumps(payload, ensure_ascii=False).encode("utf-8"))
