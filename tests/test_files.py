"""Atomic writes: a failed write leaves the previous file or folder whole, and no temp files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.files import atomic_writer, swap_directory, write_atomic


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "data.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["data.json"]
    assert target.stat().st_mode & 0o777 == 0o600  # private: stored artefacts can quote restricted documents


def test_a_write_that_fails_midway_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    write_atomic(target, b"previous")
    with pytest.raises(RuntimeError, match="hash mismatch"), atomic_writer(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("hash mismatch")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_swap_directory_replaces_the_folder(tmp_path: Path) -> None:
    final, staging = tmp_path / "adapter", tmp_path / ".adapter.new"
    final.mkdir()
    (final / "v").write_text("1")
    staging.mkdir()
    (staging / "v").write_text("2")
    swap_directory(staging, final)
    assert (final / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_swap_directory_keeps_a_leftover_old_folder_until_the_new_one_is_in(tmp_path: Path) -> None:
    # A kill between the two renames left only `<final>.old`, the last complete version.
    old, staging, final = tmp_path / "ckpt.old", tmp_path / "ckpt.tmp", tmp_path / "ckpt"
    old.mkdir()
    (old / "step").write_text("10")
    staging.mkdir()
    (staging / "step").write_text("20")
    swap_directory(staging, final)
    assert (final / "step").read_text() == "20" and not old.exists()
