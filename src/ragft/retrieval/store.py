"""On-disk layout of a built index and the atomic publish that keeps a half-written one unloadable.

`index_dir/<version_key>/` holds manifest.json (written last), chunk_ids.json, vectors.npy,
bm25/ and, for large corpora, hnsw.usearch. A build is written to a hidden temporary folder and
renamed into place, so a crash leaves either the old index, no index, or the new one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ragft.files import write_synced

MANIFEST_FILE = "manifest.json"
CHUNK_IDS_FILE = "chunk_ids.json"
BM25_DIR = "bm25"
FORMAT_VERSION = 1
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_STALE_TEMP_S = 3600.0  # a temp folder this old belongs to a build that died


def check_version_key(version_key: str) -> str:
    """A version key becomes a folder name, so it must be one plain path segment."""
    if not _SAFE_KEY.match(version_key):
        raise ValueError(
            f"version_key {version_key!r} is not a safe folder name: use 1-128 letters, digits, '.', '_' or '-', "
            "not starting with '.' or '-'"
        )
    return version_key


def read_manifest(index_path: Path) -> dict[str, Any] | None:
    """The manifest of a complete index, or None if there is none (or it is unreadable)."""
    try:
        return json.loads((index_path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def new_temp_dir(index_dir: Path, version_key: str) -> Path:
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / f".tmp-{version_key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def write_json(path: Path, value: Any) -> None:
    """Write JSON and fsync it, so the manifest is on disk before the rename that publishes it."""
    write_synced(path, json.dumps(value).encode("utf-8"))


def publish(temp: Path, final: Path) -> None:
    """Move a finished build into place, replacing any previous index of the same key (or yielding to a
    concurrent build of the same key)."""
    try:
        if final.exists():
            trash = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
            os.rename(final, trash)
            os.rename(temp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(temp, final)
    except OSError:
        # Another process (a replica sharing this folder) published the same key between our check and
        # our rename. Keys name a corpus version and its manifest fingerprints the chunks, so theirs is
        # as good as ours: keep theirs if it is complete, else re-raise.
        if read_manifest(final) is None:
            raise
        shutil.rmtree(temp, ignore_errors=True)


def remove_leftovers(index_dir: Path) -> None:
    """Delete replaced indexes and temp folders of builds that died (old enough not to be running)."""
    if not index_dir.is_dir():
        return
    now = time.time()
    for path in index_dir.iterdir():
        if path.name.startswith(".old-") or (path.name.startswith(".tmp-") and now - path.stat().st_mtime > _STALE_TEMP_S):
            shutil.rmtree(path, ignore_errors=True)
