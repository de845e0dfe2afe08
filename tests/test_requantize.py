"""The default model re-encoded for llama.cpp: published only with the recorded hash, reused, selectable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragft.config.models import DEFAULT_GGUF_TYPES as SETTING_CHOICES
from ragft.models.base import DecodingSettings, ModelError
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.requantize import DEFAULT_GGUF_TYPES, PACKAGED, GGUFType, requantize, requantized_path


def test_the_setting_offers_exactly_the_types_ragft_can_make() -> None:
    assert tuple(DEFAULT_GGUF_TYPES) == SETTING_CHOICES
    assert requantized_path(Path("/nowhere/x.gguf"), PACKAGED) == Path("/nowhere/x.gguf")  # as packaged: no work
    with pytest.raises(ModelError, match="default_gguf_type = 'q2_k' is not one of"):
        requantized_path(Path("/nowhere/x.gguf"), "q2_k")


def test_a_result_with_another_hash_is_not_published_and_the_recorded_one_is_reused(tiny_gguf: Path, tmp_path: Path) -> None:
    target = tmp_path / "tiny-q8_0.gguf"
    with pytest.raises(ModelError, match="re-encoding gave sha256") as caught:
        requantize(tiny_gguf, target, GGUFType("q8_0", "Q8_0", "0" * 64, 1))
    assert not target.exists() and list(tmp_path.iterdir()) == []  # nothing published, no temporary file left
    found = re.search(r"gave sha256 ([0-9a-f]{64})", str(caught.value))
    assert found is not None
    spec = GGUFType("q8_0", "Q8_0", found.group(1), 0)
    with pytest.raises(ModelError, match="bytes, not the recorded 0"):
        requantize(tiny_gguf, target, spec)
    spec = GGUFType("q8_0", "Q8_0", found.group(1), len(_quantized_bytes(tiny_gguf, tmp_path)))
    made = requantize(tiny_gguf, target, spec)
    stamp = made.stat().st_mtime_ns
    assert requantize(tiny_gguf, target, spec).stat().st_mtime_ns == stamp  # verified by its note: not made again
    greedy = DecodingSettings(max_new_tokens=4, temperature=0.0)
    answer = LlamaCppGenerator(made, threads=1).generate([{"role": "user", "content": "Hello"}], greedy)
    assert answer.prompt_tokens > 0  # llama.cpp loads and runs the re-encoded file


def _quantized_bytes(source: Path, tmp_path: Path) -> bytes:
    """The bytes llama.cpp's Q8_0 quantizer writes for `source` (made outside `requantize`)."""
    import llama_cpp

    out = tmp_path / "reference" / "q8.gguf"
    out.parent.mkdir()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    assert llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params) == 0
    data = out.read_bytes()
    out.unlink()
    out.parent.rmdir()
    return data


def test_a_mismatch_serves_the_packaged_file_with_a_warning_and_is_not_redone(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGFT_CACHE_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="re-encoding gave sha256 .* serving the packaged q4_k_m file instead"):
        assert requantized_path(tiny_gguf, "q8_0") == tiny_gguf  # the default model's hash, not the tiny one's
    rejected = tmp_path / "tiny-q8_0.gguf.rejected"
    assert rejected.is_file() and not (tmp_path / "tiny-q8_0.gguf").exists()
    stamp = rejected.stat().st_mtime_ns
    with pytest.warns(UserWarning, match="delete .*rejected to retry"):
        assert requantized_path(tiny_gguf, "q8_0") == tiny_gguf
    assert rejected.stat().st_mtime_ns == stamp and sorted(p.name for p in tmp_path.iterdir()) == ["tiny-q8_0.gguf.rejected"]
