"""`[models] device` and the arithmetic it implies, for training and the transformers backend.

Every decision is tested on this CPU-only machine by handing the resolver what a GPU would report
(`Accelerators`); the loss-scaling (fp16) training path runs for real on the CPU. The tests that
need a CUDA GPU are at the end and are skipped, saying why, where torch sees none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ragft.config import ConfigError, ModelsConfig  # noqa: E402
from ragft.models import device as device_module  # noqa: E402
from ragft.models.base import DecodingSettings  # noqa: E402
from ragft.models.device import (  # noqa: E402
    Accelerators,
    TrainingArithmetic,
    accelerators,
    device_name,
    resolve_device,
    training_arithmetic,
    weights_precision,
)
from ragft.models.factory import build_generator, resolve_backend  # noqa: E402
from ragft.models.runtime import resolve_precision  # noqa: E402
from ragft.models.testing import make_tiny_hf_model  # noqa: E402
from ragft.models.transformers_backend import TransformersGenerator  # noqa: E402
from ragft.train.checkpoint import load_checkpoint  # noqa: E402
from ragft.train.trainer import LoraSettings, train_lora  # noqa: E402
from ragft.workspace import Workspace  # noqa: E402
from tests.train_fixtures import EXAMPLES, SETTINGS  # noqa: E402

NO_GPU = Accelerators(torch_version="2.13.0+cpu")
AMPERE = Accelerators(("NVIDIA A100",), (True,))
TWO_OLD = Accelerators(("Tesla T4", "Tesla T4"), (False, False))
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(
    not HAS_CUDA, reason="no CUDA GPU here (torch.cuda.is_available() is False); the CPU tests above simulate one for the device logic"
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_hf_model(tmp_path_factory.mktemp("tiny") / "model")


# ---- which device


def test_cpu_is_the_cpu_and_auto_takes_the_first_gpu_when_there_is_one() -> None:
    assert resolve_device("cpu", AMPERE) == "cpu"
    assert resolve_device("auto", NO_GPU) == "cpu"
    assert resolve_device("auto", AMPERE) == "cuda:0"
    assert resolve_device("cuda", TWO_OLD) == "cuda:0" and resolve_device("cuda:1", TWO_OLD) == "cuda:1"


def test_cuda_without_a_gpu_is_an_error_naming_the_setting_and_the_way_out() -> None:
    with pytest.raises(ConfigError) as missing:
        resolve_device("cuda", NO_GPU)
    message = str(missing.value)
    assert "[models] device = 'cuda'" in message and "torch.cuda is not available (torch 2.13.0+cpu)" in message
    assert 'device = "auto" or "cpu"' in message
    with pytest.raises(ConfigError, match=r"torch sees 2 GPU\(s\): cuda:0 to cuda:1"):
        resolve_device("cuda:2", TWO_OLD)
    with pytest.raises(ConfigError, match="is not known"):
        resolve_device("gpu", AMPERE)


def test_this_machine_is_asked_when_no_accelerators_are_given() -> None:
    seen = accelerators()
    assert seen.count == torch.cuda.device_count() and seen.torch_version == torch.__version__
    assert resolve_device("auto") == ("cuda:0" if HAS_CUDA else "cpu")
    assert device_name("cpu") and device_name("cuda:1", TWO_OLD) == "Tesla T4"


def test_the_device_setting_is_checked_when_ragft_toml_loads(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    assert ws.config.models.device == "auto"
    assert ws.with_settings({"device": "cuda:3"}).config.models.device == "cuda:3"  # whether GPU 3 exists is asked when used
    with pytest.raises(ConfigError, match=r"\[models\] device = 'gpu' is not known; choose \"auto\", \"cpu\", \"cuda\" or \"cuda:N\""):
        ws.with_settings({"device": "gpu"})


# ---- which arithmetic


def test_on_the_cpu_the_weights_precision_is_the_cpus_choice_as_before() -> None:
    for precision in ("auto", "bf16", "fp32"):
        assert weights_precision(precision, "cpu", AMPERE) == resolve_precision(precision)


def test_on_a_gpu_auto_is_bf16_where_it_is_native_else_fp16_and_an_explicit_choice_is_kept() -> None:
    assert weights_precision("auto", "cuda:0", AMPERE) == "bf16"
    assert weights_precision("auto", "cuda:1", TWO_OLD) == "fp16"
    assert weights_precision("fp32", "cuda:0", TWO_OLD) == "fp32" and weights_precision("bf16", "cuda:0", TWO_OLD) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        weights_precision("fp8", "cuda:0", AMPERE)


def test_training_autocasts_in_the_weights_dtype_and_scales_the_loss_only_in_fp16() -> None:
    bf16 = training_arithmetic("auto", "cuda", accel=AMPERE)
    assert (bf16.device, bf16.device_name, bf16.weights, bf16.autocast, bf16.loss_scaling) == (
        "cuda:0",
        "NVIDIA A100",
        "bf16",
        "bf16",
        False,
    )
    fp16 = training_arithmetic("auto", "auto", accel=TWO_OLD)
    assert (fp16.weights, fp16.autocast, fp16.loss_scaling) == ("fp16", "fp16", True)
    fp32 = training_arithmetic("fp32", "cpu")
    assert (fp32.device, fp32.autocast, fp32.loss_scaling, fp32.quantization) == ("cpu", None, False, "none")
    assert fp16.to_dict() == {
        "device": "cuda:0",
        "device_name": "Tesla T4",
        "weights": "fp16",
        "quantization": "none",
        "autocast": "fp16",
        "loss_scaling": True,
    }


def test_4bit_base_weights_need_a_gpu_and_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r'quantize_base = "4bit" needs a CUDA GPU .* \[models\] device = \'cpu\' runs on the CPU'):
        training_arithmetic("auto", "cpu", "4bit")
    with pytest.raises(ConfigError, match=r"needs a CUDA GPU"):
        training_arithmetic("auto", "auto", "4bit", accel=NO_GPU)
    monkeypatch.setattr(device_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r'needs the bitsandbytes package: run `pip install "ragft\[qlora\]"`'):
        training_arithmetic("auto", "cuda", "4bit", accel=AMPERE)
    monkeypatch.setattr(device_module.importlib.util, "find_spec", lambda name: object())
    assert training_arithmetic("auto", "cuda", "4bit", accel=AMPERE).quantization == "4bit"
    with pytest.raises(ConfigError, match="quantize_base = '8bit' is not known"):
        training_arithmetic("auto", "cpu", "8bit")


# ---- the backends follow the setting


def test_an_explicit_gpu_that_is_not_there_fails_when_the_generator_is_built(tiny: Path) -> None:
    if HAS_CUDA:
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=r"\[models\] device = 'cuda:0'"):
        build_generator(ModelsConfig(generator_backend="transformers", generator=str(tiny), device="cuda:0"))
    with pytest.raises(ConfigError, match=r"\[models\] device = 'cuda'"):
        TransformersGenerator(tiny, device="cuda").warm_up()


def test_auto_serves_the_default_model_with_transformers_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "accelerators", lambda: TWO_OLD)
    monkeypatch.setattr("ragft.models.factory.cpu_has_fast_bf16", lambda: False)
    assert resolve_backend(ModelsConfig()) == "transformers", "the PyPI llama.cpp wheel would leave the GPU idle"
    assert resolve_backend(ModelsConfig(device="cpu")) == "llama_cpp"
    monkeypatch.setattr(device_module, "accelerators", lambda: NO_GPU)
    assert resolve_backend(ModelsConfig()) == "llama_cpp"


def test_the_transformers_backend_runs_on_the_configured_device_and_says_so(tiny: Path) -> None:
    generator = build_generator(ModelsConfig(generator_backend="transformers", generator=str(tiny), device="cpu", threads=1))
    generation = generator.generate([{"role": "user", "content": "Refund window?"}], DecodingSettings(max_new_tokens=3))
    assert generation.extra["device"] == "cpu" and generation.extra["precision"] in ("bf16", "fp32")
    assert isinstance(generator, TransformersGenerator) and next(generator._model.parameters()).device.type == "cpu"


def test_training_on_the_cpu_records_where_and_how_it_ran(tiny: Path, tmp_path: Path) -> None:
    settings = LoraSettings(**{**SETTINGS.__dict__, "epochs": 1, "device": "cpu", "precision": "fp32"})
    _, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path)
    assert (metrics.device, metrics.precision, metrics.quantization, metrics.loss_scaling) == ("cpu", "fp32", "none", False)
    assert metrics.device_name == device_name("cpu")
    assert "scaler" not in load_checkpoint(tmp_path / "checkpoint")[0], "no loss scaler without fp16"


def test_fp16_training_scales_the_loss_lowers_it_and_resumes_the_scaler(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU-without-bf16 path (fp16 weights, fp16 autocast, GradScaler), run on the CPU, which torch allows."""
    monkeypatch.setattr(LoraSettings, "arithmetic", lambda self: TrainingArithmetic("cpu", "simulated T4", "fp16"))
    settings = LoraSettings(**{**SETTINGS.__dict__, "learning_rate": 3e-3, "epochs": 3})
    model, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path)
    assert model.get_base_model().dtype == torch.float16
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad), "LoRA weights stay fp32"
    assert (metrics.precision, metrics.loss_scaling, metrics.device_name) == ("fp16", True, "simulated T4")
    assert metrics.val_loss[-1] < metrics.val_loss[0]
    state, _ = load_checkpoint(tmp_path / "checkpoint")
    assert state["scaler"]["scale"] > 0, "the loss scale is checkpointed"
    _, resumed = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path, resume=True)
    assert resumed.resumed_from_step == metrics.steps


# ---- on a real GPU (skipped here)


@needs_cuda
def test_training_on_cuda_puts_the_model_there_and_records_it(tiny: Path, tmp_path: Path) -> None:
    settings = LoraSettings(**{**SETTINGS.__dict__, "epochs": 2, "device": "cuda", "learning_rate": 3e-3})
    model, metrics = train_lora(tiny, EXAMPLES, EXAMPLES[:3], settings, tmp_path)
    assert next(model.parameters()).device.type == "cuda" and metrics.device == "cuda:0"
    assert metrics.precision == weights_precision("auto", "cuda:0") and metrics.val_loss[-1] < metrics.val_loss[0]


@needs_cuda
def test_the_transformers_backend_on_cuda_in_fp32_gives_the_cpus_first_token(tiny: Path) -> None:
    messages = [{"role": "user", "content": "Refund window?"}]
    settings = DecodingSettings(max_new_tokens=1)
    on_gpu = TransformersGenerator(tiny, device="cuda", precision="fp32").generate(messages, settings)
    on_cpu = TransformersGenerator(tiny, device="cpu", precision="fp32").generate(messages, settings)
    assert on_gpu.extra["device"] == "cuda:0" and on_gpu.text == on_cpu.text


def test_what_torch_reports_for_each_gpu_is_read_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """`accelerators()` on a (simulated) two-GPU machine: names, and bf16 asked of each device without emulation."""
    import contextlib

    current = {"index": -1}

    @contextlib.contextmanager
    def on(index: int):  # torch.cuda.device(index) selects the device is_bf16_supported() asks about
        current["index"] = index
        yield

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: ["NVIDIA H100", "Tesla V100"][i])
    monkeypatch.setattr(torch.cuda, "device", on)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: current["index"] == 0 and not including_emulation)
    seen = accelerators()
    assert seen == Accelerators(("NVIDIA H100", "Tesla V100"), (True, False), torch.__version__)
    assert weights_precision("auto", resolve_device("cuda:1")) == "fp16" and device_name("cuda:0") == "NVIDIA H100"
