"""Which corpus versions a shared Qdrant collection holds, and which ones garbage collection may drop.

Several replicas (processes, maybe on several machines) sync corpus versions into one collection
with no lock server between them. Everything here is therefore written so that no replica ever
reads, changes and writes back a value another replica may be writing:

- A *build* is one corpus version indexed with one content fingerprint (embedder, texts, tags, BM25
  weights): `"corpus-v3@<fingerprint[:20]>"`. Its points have ids derived from the build and the
  chunk, and payload `build`, so two replicas writing the same build upsert the same points
  (idempotent), and two builds never write to the same point.
- Each build has two bookkeeping points of its own, written by idempotent upserts keyed by the build
  (never a shared dict): a *marker*, written before its first chunk point, so garbage collection can
  find the points of a build whose replica crashed; and a *record*, written after its last chunk
  point, so a half-built version is never trusted: a build is "built" only once its record exists.
- Garbage collection (`builds_to_drop`): within a version family ("corpus-v*"), the newest
  KEEP_VERSIONS built builds are kept (by version number, then by when they were recorded). A built
  build ranked below them is dropped; an unfinished build is dropped only when its version number is
  below the oldest kept one (a crashed or superseded build). Builds this process is syncing or
  serving are never dropped by it. A replica still reading a version ranked below the newest
  KEEP_VERSIONS can lose it (Qdrant offers no lease to say "still in use"): keeping the previous
  version is what lets a replica finish its searches while the others move to the next one.
- Dropping deletes the record first (no one trusts the build from then on), then its chunk points,
  then the marker, so a crash part-way leaves a marker that the next collection finds again.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ragft.types import Chunk

KEEP_VERSIONS = 2  # built versions of one family kept: the newest two (a comparison's version and the next)
MARKER, RECORD = "marker", "record"  # the `kind` of a build's bookkeeping points
_NAMESPACE = uuid.UUID("6f1c3c1e-5b8e-4d0e-9a43-1b2f3c4d5e6f")
_VERSION_NUMBER = re.compile(r"-v(\d+)")


def version_family(version_key: str) -> str:
    """The version key with its number taken out: "corpus-v3-hostile" -> "corpus-v*-hostile"."""
    return _VERSION_NUMBER.sub("-v*", version_key, count=1)


def version_number(version_key: str) -> int:
    """The corpus version's number ("corpus-v3-hostile" -> 3; 0 when the key has none)."""
    found = _VERSION_NUMBER.search(version_key)
    return int(found.group(1)) if found else 0


def point_key(embedder_key: str, chunk: Chunk, sha: str) -> str:
    """A chunk's key: the same text, tags and embedder give the same key (and vector) in every version."""
    return str(uuid.uuid5(_NAMESPACE, f"{embedder_key}\0{chunk.chunk_id}\0{sha}\0{','.join(sorted(chunk.acl))}"))


def sync_fingerprint(dense_keys: Sequence[str], weights: Sequence[tuple[np.ndarray, np.ndarray]], tokenizer: str) -> str:
    """What a version's sync wrote: its points (text, tags, embedder) and every BM25 weight."""
    digest = hashlib.sha256(tokenizer.encode())
    for key, (indices, values) in zip(dense_keys, weights):
        digest.update(key.encode())
        digest.update(indices.astype(np.int64).tobytes())
        digest.update(values.astype(np.float32).tobytes())
    return digest.hexdigest()


def build_name(version_key: str, fingerprint: str) -> str:
    """The build of `version_key` whose content has this fingerprint."""
    return f"{version_key}@{fingerprint[:20]}"


def chunk_point_id(build: str, dense_key: str) -> str:
    """The id of one chunk's point in one build (its dense vector and BM25 weights)."""
    return str(uuid.uuid5(_NAMESPACE, f"{build}\0{dense_key}"))


def bookkeeping_id(kind: str, build: str) -> str:
    """The id of a build's marker or record point."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}\0{build}"))


def bookkeeping_payload(kind: str, build: str, version_key: str, points: int) -> dict[str, Any]:
    """A marker's or record's payload; `of_build` (not `build`) so chunk searches never match it."""
    return {
        "kind": kind,
        "of_build": build,
        "version": version_key,
        "family": version_family(version_key),
        "number": version_number(version_key),
        "points": points,
        "written_at": time.time(),
    }


@dataclass(frozen=True)
class Build:
    """One build as its bookkeeping points describe it."""

    name: str
    version_key: str
    family: str
    number: int
    built: bool  # its record exists: every chunk point was written
    recorded_at: float  # when the record was written (0.0 while unfinished)


def builds_from(payloads: Iterable[Mapping[str, Any]]) -> list[Build]:
    """The builds that these marker and record payloads describe (a record makes its build built)."""
    found: dict[str, Build] = {}
    for payload in payloads:
        name = str(payload["of_build"])
        built = payload["kind"] == RECORD
        if name in found and (found[name].built or not built):
            continue
        found[name] = Build(
            name,
            str(payload["version"]),
            str(payload["family"]),
            int(payload["number"]),
            built,
            float(payload["written_at"]) if built else 0.0,
        )
    return sorted(found.values(), key=lambda build: build.name)


def builds_to_drop(builds: Sequence[Build], family: str, protected: set[str], keep: int = KEEP_VERSIONS) -> list[str]:
    """The builds of `family` that garbage collection drops (the rule is in this module's docstring)."""
    same = [build for build in builds if build.family == family]
    built = sorted((b for b in same if b.built), key=lambda b: (b.number, b.recorded_at, b.name), reverse=True)
    if len(built) < keep:  # with fewer built versions than kept ones, every build may still be needed
        return []
    kept = {build.name for build in built[:keep]}
    oldest_kept = built[keep - 1].number
    return [
        build.name
        for build in same
        if build.name not in kept and build.name not in protected and (build.built or build.number < oldest_kept)
    ]
