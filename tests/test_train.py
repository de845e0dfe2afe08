"""The LoRA trainer on a tiny random model: packing, answer-only labels, resume, full disk, GGUF LoRA."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ragft.models.base import DecodingSettings  # noqa: E402
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model  # noqa: E402
from ragft.prompts import build_messages  # noqa: E402
from ragft.train.checkpoint import CheckpointError, read_meta  # noqa: E402
from ragft.train.data import ChatExample, encode_example, pack  # noqa: E402
from ragft.train.trainer import LoraSettings, answer_loss, load_lora_model, train_lora  # noqa: E402
from tests.train_fixtures import EXAMPLES, SETTINGS  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_hf_model(tmp_path_factory.mktemp("tiny") / "model")


def test_packing_has_no_padding_and_gives_the_same_loss_as_separate_examples(tiny: Path):
    tokenizer, model = load_lora_model(tiny, SETTINGS)
    encoded = [encode_example(tokenizer, ex, 256) for ex in EXAMPLES[:3]]
    row = pack(encoded)
    shared = row.segments.count(0)
    assert shared > 10  # the system prompt and chat markup are computed once
    assert row.tokens == sum(len(e.input_ids) for e in encoded) - 2 * shared  # and not one pad token
    second = len(encoded[0].input_ids)  # where the second example's own tokens start
    assert row.position_ids[second] == shared and row.segments[second] == 2
    with torch.no_grad():
        separate = [answer_loss(model, pack([e])) for e in encoded]
        packed = answer_loss(model, row)
        unshared = answer_loss(model, pack(encoded, share_prefix=False))
    assert packed[1] == unshared[1] == sum(n for _, n in separate)
    assert float(packed[0]) == pytest.approx(sum(float(loss) for loss, _ in separate), rel=1e-4)
    assert float(unshared[0]) == pytest.approx(float(packed[0]), rel=1e-4)


def test_labels_cover_exactly_the_answer_and_the_end_of_turn(tiny: Path):
    tokenizer, _ = load_lora_model(tiny, SETTINGS)
    encoded = encode_example(tokenizer, EXAMPLES[5], 256)
    row = pack([encoded])
    learned = [t for t in row.labels if t != -100]
    assert tokenizer.decode(learned) == "Item 5 costs 15 EUR.<|im_end|>"
    assert row.labels[: encoded.answer_start] == [-100] * encoded.answer_start
    prompt = tokenizer.decode(row.input_ids[: encoded.answer_start])
    assert prompt.endswith("<|im_start|>assistant\n") and "What does item 5 cost?" in prompt


def test_over_long_prompts_are_cut_from_the_left_keeping_the_answer(tiny: Path):
    tokenizer, _ = load_lora_model(tiny, SETTINGS)
    long = ChatExample(build_messages("word " * 400 + "What does item 1 cost?"), "Item 1 costs 3 EUR.")
    encoded = encode_example(tokenizer, long, 64)
    assert len(encoded.input_ids) == 64
    assert tokenizer.decode(encoded.input_ids[encoded.answer_start :]) == "Item 1 costs 3 EUR.<|im_end|>"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_lowers_the_validation_loss_and_keeps_the_best_weights(tiny: Path, tmp_path: Path, precision: str):
    settings = LoraSettings(**{**SETTINGS.__dict__, "learning_rate": 3e-3, "epochs": 3, "precision": precision})
    model, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path)
    assert metrics.precision == precision
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)  # LoRA weights stay fp32
    assert metrics.steps == 12 and metrics.epochs_run == 3 and len(metrics.val_loss) == 3
    assert metrics.val_loss[-1] < metrics.val_loss[0]
    assert metrics.best_val_loss == min(metrics.val_loss)
    assert metrics.tokens_per_s > 0 and metrics.peak_rss_mb > 0


def test_gradient_checkpointing_trains_exactly_as_keeping_the_activations(tiny: Path, tmp_path: Path):
    runs = {}
    for checkpointing in (True, False):
        settings = LoraSettings(**{**SETTINGS.__dict__, "precision": "fp32", "gradient_checkpointing": checkpointing})
        model, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path / str(checkpointing))
        assert model.get_base_model().is_gradient_checkpointing == checkpointing
        runs[checkpointing] = (metrics.train_loss, metrics.val_loss, {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k})
    (loss, val, weights), (loss_kept, val_kept, weights_kept) = runs[True], runs[False]
    assert loss == pytest.approx(loss_kept, rel=1e-5) and val == pytest.approx(val_kept, rel=1e-5)
    assert weights.keys() == weights_kept.keys() and all(torch.allclose(weights[k], weights_kept[k], atol=1e-6) for k in weights)
    assert any(float(w.abs().sum()) > 0 for k, w in weights.items() if "lora_B" in k)  # training moved the weights


_KILLABLE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path[:0] = {paths!r}
    from tests.test_train import EXAMPLES, SETTINGS
    from ragft.train.trainer import train_lora
    train_lora(Path({model!r}), EXAMPLES, EXAMPLES[:3], SETTINGS, Path({work!r}), on_step=lambda step, loss: time.sleep(0.5))
""")


def test_a_killed_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(tiny: Path, tmp_path: Path):
    work = tmp_path / "killed"
    script = _KILLABLE.format(paths=[str(Path(__file__).parents[1]), *sys.path], model=str(tiny), work=str(work))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while read_meta(work / "checkpoint") is None:
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = read_meta(work / "checkpoint")["step"]
    assert 0 < killed_at < 8

    resumed, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], SETTINGS, work, resume=True)
    assert metrics.resumed_from_step == killed_at and metrics.steps == 8
    straight, reference = train_lora(tiny, EXAMPLES, EXAMPLES[:3], SETTINGS, tmp_path / "straight")
    assert metrics.val_loss == pytest.approx(reference.val_loss, rel=1e-4)
    for (name, a), (_, b) in zip(resumed.named_parameters(), straight.named_parameters(), strict=True):
        if "lora_" in name:
            assert torch.allclose(a, b, atol=1e-5), name


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    saves = {"count": 0}
    real_save = torch.save

    def save_then_fill_the_disk(obj, path, *args, **kwargs):
        saves["count"] += 1
        if saves["count"] == 2:
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    with pytest.raises(CheckpointError, match=r"disk is full; the previous checkpoint \(step 2\) is intact.*--resume"):
        train_lora(tiny, EXAMPLES, EXAMPLES[:3], SETTINGS, tmp_path)
    monkeypatch.setattr(torch, "save", real_save)
    assert read_meta(tmp_path / "checkpoint")["step"] == 2
    assert not (tmp_path / "checkpoint.tmp").exists()
    _, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], SETTINGS, tmp_path, resume=True)
    assert metrics.resumed_from_step == 2 and metrics.steps == 8


def test_gguf_lora_answers_match_transformers_with_peft(tiny: Path, tmp_path: Path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from ragft.models.llama_cpp import LlamaCppGenerator
    from ragft.models.transformers_backend import TransformersGenerator
    from ragft.train.gguf_lora import convert_peft_to_gguf

    gguf_model = make_tiny_gguf(tiny, tmp_path / "tiny.gguf")
    _, model = load_lora_model(tiny, SETTINGS)
    with torch.no_grad():  # a fresh adapter is a no-op (B = 0): give it weights that change the output
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.3)
    model.save_pretrained(tmp_path / "peft")
    adapter = convert_peft_to_gguf(tmp_path / "peft", json.loads((tiny / "config.json").read_text()), tmp_path / "lora.gguf")
    decoding = DecodingSettings(max_new_tokens=12)
    with_lora = LlamaCppGenerator(gguf_model, threads=1, context_window_tokens=512, lora_path=adapter)
    reference = TransformersGenerator(tiny, threads=1, adapter_path=tmp_path / "peft")
    plain = LlamaCppGenerator(gguf_model, threads=1, context_window_tokens=512)
    for question in ("What is the refund window?", "When does the office open?", "Who approves refunds?"):
        messages = build_messages(question)
        converted = with_lora.generate(messages, decoding).text
        assert converted == reference.generate(messages, decoding).text
        assert converted != plain.generate(messages, decoding).text  # the adapter really is applied
