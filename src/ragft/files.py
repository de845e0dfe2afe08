"""Writing files and folders so that a crash or a full disk never leaves a half-written one.

Readers see either the previous version or the whole new one: files are written to a temp file
beside the target, synced, then renamed over it; folders are built under a staging name and
swapped in. Every stored artefact of ragft goes through here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: published by rename when the block exits normally,
    discarded (the previous `path` untouched) when it raises.

    The file stays private to its owner (mode 0600, as mkstemp creates it): training sets, indexes
    and answers can quote documents restricted to a group."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step (see `atomic_writer`)."""
    with atomic_writer(path) as out:
        out.write(data)


def write_synced(path: Path, data: bytes) -> None:
    """Write `data` and fsync it, for a file inside a staging folder that a later rename publishes
    (the bytes must be on disk before that rename)."""
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def swap_directory(staging: Path, final: Path) -> None:
    """Move a finished `staging` folder to `final`, replacing what was there.

    The previous folder is renamed to `<final>.old` first and deleted only after the swap, so a
    kill between the two renames leaves `<final>.old` as the last complete version.
    """
    old = final.with_name(final.name + ".old")
    if final.exists():  # else a leftover `old` may be the only complete version: keep it until the swap
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
