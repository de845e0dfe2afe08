"""Resumable checkpoints written so that a kill or a full disk never corrupts the last good one.

A checkpoint is a folder (`state.pt` + `meta.json`). A new one is written beside the old under
a temporary name and swapped in by renames; if writing fails (ENOSPC, a kill), the temporary
folder is discarded and the previous checkpoint stays exactly as it was.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.files import swap_directory, write_synced


class CheckpointError(RagftError, OSError):
    """A checkpoint could not be written or read; the message says what survived and what to do."""


def save_checkpoint(directory: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Replace the checkpoint in `directory` with `state` (tensors) and `meta` (JSON), atomically."""
    import torch

    tmp = directory.with_name(directory.name + ".tmp")
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        torch.save(state, tmp / "state.pt")
        write_synced(tmp / "meta.json", json.dumps(meta, indent=1).encode())
        swap_directory(tmp, directory)  # leaves `old` as the last good checkpoint if killed mid-swap
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not directory.exists():
            old.rename(directory)
        previous = read_meta(directory)
        kept = f"the previous checkpoint (step {previous['step']}) is intact" if previous else "no earlier checkpoint exists"
        why = "the disk is full" if exc.errno == errno.ENOSPC else f"writing failed ({exc})"
        raise CheckpointError(
            f"{directory}: could not save the checkpoint at step {meta.get('step')}: {why}; {kept}. Free some space and rerun with --resume"
        ) from exc


def read_meta(directory: Path) -> dict[str, Any] | None:
    """The checkpoint's meta.json, or None if there is no complete checkpoint."""
    found = _existing(directory)
    if found is None:
        return None
    try:
        return json.loads((found / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_checkpoint(directory: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(state, meta) of the checkpoint in `directory`, or None when there is none."""
    import torch

    found = _existing(directory)
    if found is None:
        return None
    meta = read_meta(found)
    try:
        # Onto the CPU: a run saved on a GPU resumes anywhere (loading copies tensors to the model's device).
        state = torch.load(found / "state.pt", weights_only=True, map_location="cpu")
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{found}: the checkpoint cannot be read ({exc}); delete it and train without --resume") from exc
    if meta is None:
        raise CheckpointError(f"{found}: meta.json is missing or damaged; delete the folder and train without --resume")
    return state, meta


def _existing(directory: Path) -> Path | None:
    # A kill between the two renames leaves only the ".old" folder: it is the last good one.
    for candidate in (directory, directory.with_name(directory.name + ".old")):
        if (candidate / "meta.json").is_file() and (candidate / "state.pt").is_file():
            return candidate
    return None
