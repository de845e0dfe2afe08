"""Training's memory bounds keep its arithmetic: the LM head's per-slice backward, glibc's fixed mmap threshold."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ragft.models.testing import make_tiny_hf_model  # noqa: E402
from ragft.train import trainer  # noqa: E402
from ragft.train.data import ChatExample, encode_example, pack  # noqa: E402
from ragft.train.trainer import answer_backward, answer_loss, load_lora_model  # noqa: E402
from tests.train_fixtures import EXAMPLES, SETTINGS  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_hf_model(tmp_path_factory.mktemp("tiny") / "model")


def _lora_grads(model: object) -> dict[str, object]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}  # type: ignore[attr-defined]


@pytest.mark.parametrize("checkpointing", [True, False])
def test_the_per_slice_backward_gives_the_summed_loss_and_its_gradients(tiny: Path, monkeypatch: pytest.MonkeyPatch, checkpointing: bool):
    settings = trainer.LoraSettings(**{**SETTINGS.__dict__, "precision": "fp32", "gradient_checkpointing": checkpointing})
    tokenizer, model = load_lora_model(tiny, settings)
    with torch.no_grad():  # fresh LoRA B is zero, which would leave every lora_A gradient zero: nothing to compare
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.02)
    text = ChatExample([], "A chunk learned as text: every one of its tokens is an answer token here. " * 3)
    row = pack([encode_example(tokenizer, ex, 256) for ex in (*EXAMPLES[:3], text)], share_prefix=False)
    monkeypatch.setattr(trainer, "LOGIT_SLICE_ROWS", 7)  # many slices, the last one short
    model.train()
    summed, count = answer_loss(model, row)
    (summed * 0.37).backward()
    plain = _lora_grads(model)
    model.zero_grad(set_to_none=True)
    loss, sliced_count = answer_backward(model, row, lambda slice_loss: slice_loss * 0.37)
    sliced = _lora_grads(model)
    assert count == sliced_count > 4 * 7 and count % 7  # more than four slices, a short last one
    assert loss == pytest.approx(float(summed.detach()), rel=1e-5)
    assert plain.keys() == sliced.keys() and len(plain) > 0
    assert all(float(plain[k].abs().max()) > 0 for k in plain)  # every LoRA matrix got a gradient to compare
    for name in plain:
        torch.testing.assert_close(sliced[name], plain[name], rtol=1e-4, atol=1e-7)


def test_a_row_without_answer_tokens_is_skipped_without_touching_the_gradients(tiny: Path):
    tokenizer, model = load_lora_model(tiny, SETTINGS)
    row = pack([encode_example(tokenizer, EXAMPLES[0], 256)])
    empty = type(row)(row.input_ids, row.position_ids, [-100] * row.tokens, row.segments)
    assert answer_backward(model, empty, lambda loss: loss) == (0.0, 0)
    assert all(p.grad is None for p in model.parameters())


# Freed heap blocks pinned under a live one stay resident with glibc's dynamic threshold; fixed, each is unmapped.
_HEAP = textwrap.dedent("""
    import ctypes, sys
    sys.path[:0] = {paths!r}
    from ragft.train.heap import return_freed_blocks_promptly
    fixed = return_freed_blocks_promptly() if sys.argv[1] == "fixed" else None
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    def rss_mb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon")) // 1024
    libc.free(libc.malloc(24 << 20))  # a freed 24 MB mapping: glibc's dynamic threshold rises past 4 MB blocks
    blocks = [libc.malloc(4 << 20) for _ in range(64)]
    for b in blocks:
        ctypes.memset(b, 1, 4 << 20)
    before = rss_mb()
    for b in blocks[:-1]:  # the last stays live, as a step's parameters and optimizer state stay
        libc.free(b)
    print(fixed, before - rss_mb())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc/self/status: Linux only")
def test_a_fixed_mmap_threshold_hands_freed_blocks_back_at_once():
    paths = [str(Path(__file__).parents[1] / "src")]
    released = {}
    for mode in ("dynamic", "fixed"):
        out = subprocess.run([sys.executable, "-c", _HEAP.format(paths=paths), mode], capture_output=True, text=True, check=True)
        fixed, mb = out.stdout.split()
        released[mode] = int(mb)
        if mode == "fixed" and fixed == "False":
            pytest.skip("the C library is not glibc: no mallopt")
    assert released["dynamic"] < 32  # 252 MB freed, still resident
    assert released["fixed"] > 200  # unmapped as it was freed
