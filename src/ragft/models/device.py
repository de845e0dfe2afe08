"""Where training and the transformers backend run (`[models] device`), and in which arithmetic.

Every decision here is a function of the settings and an `Accelerators` value (what torch sees),
so the CUDA branches are exercised on a CPU-only machine by passing what a GPU would report; only
`accelerators()` asks torch. On the CPU the choices are exactly those of `runtime.resolve_precision`
(bf16 where the CPU multiplies it in hardware, else fp32); on a GPU, "auto" is bf16 where the GPU
multiplies it natively (compute capability 8+: A100, H100, RTX 30xx and later) and fp16 elsewhere
(T4, V100), which in training needs loss scaling (`TrainingArithmetic.loss_scaling`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Any

from ragft.config import ConfigError
from ragft.config.models import DEVICE_PATTERN, PRECISIONS
from ragft.models.runtime import describe_machine, resolve_precision

QUANTIZATIONS = ("none", "4bit")


@dataclass(frozen=True)
class Accelerators:
    """The CUDA GPUs torch sees, in device order: each one's name and whether it multiplies bf16 natively."""

    names: tuple[str, ...] = ()
    native_bf16: tuple[bool, ...] = ()
    torch_version: str = ""

    @property
    def count(self) -> int:
        return len(self.names)


def accelerators() -> Accelerators:
    """What this process's torch sees (imports torch; no GPU is initialised when there is none)."""
    import torch

    if not torch.cuda.is_available():
        return Accelerators(torch_version=torch.__version__)
    count = torch.cuda.device_count()
    names = tuple(torch.cuda.get_device_name(i) for i in range(count))
    return Accelerators(names, tuple(_native_bf16(torch, i) for i in range(count)), torch.__version__)


def _native_bf16(torch: Any, index: int) -> bool:
    # is_bf16_supported() says True on pre-Ampere GPUs too unless emulation is excluded, and there bf16 is slow.
    with torch.cuda.device(index):
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def resolve_device(setting: str, accel: Accelerators | None = None) -> str:
    """`[models] device` resolved: "cpu" or "cuda:N"; ConfigError naming the setting when the GPU is not there."""
    if not DEVICE_PATTERN.fullmatch(setting):
        raise ConfigError(f'[models] device = {setting!r} is not known; choose "auto", "cpu", "cuda" or "cuda:N"')
    if setting == "cpu":
        return "cpu"
    accel = accel if accel is not None else accelerators()
    if setting == "auto":
        return "cuda:0" if accel.count else "cpu"
    index = int(setting.partition(":")[2] or 0)
    if not accel.count:
        build = f" (torch {accel.torch_version})" if accel.torch_version else ""
        raise ConfigError(
            f"[models] device = {setting!r}, but torch.cuda is not available{build}: no GPU is visible, or this torch "
            'is a CPU-only build ("+cpu"). Set device = "auto" or "cpu" in ragft.toml, or install a CUDA build of torch'
        )
    if index >= accel.count:
        raise ConfigError(
            f"[models] device = {setting!r}, but torch sees {accel.count} GPU(s): cuda:0 to cuda:{accel.count - 1}; "
            "fix [models] device in ragft.toml"
        )
    return f"cuda:{index}"


def on_gpu(setting: str) -> bool:
    """Whether `[models] device` puts the work on a GPU here ("auto" asks torch; a missing GPU is an error)."""
    return setting != "cpu" and resolve_device(setting).startswith("cuda")


def weights_precision(precision: str, device: str, accel: Accelerators | None = None) -> str:
    """The arithmetic weights run in on `device` (resolved): "bf16", "fp16" or "fp32".

    An explicit "bf16" or "fp32" is kept; "auto" is the CPU's choice on the CPU, and on a GPU bf16
    where it multiplies bf16 natively, else fp16.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if device == "cpu" or precision != "auto":
        return resolve_precision(precision)
    accel = accel if accel is not None else accelerators()
    return "bf16" if accel.native_bf16[_index(device)] else "fp16"


@dataclass(frozen=True)
class TrainingArithmetic:
    """How a LoRA run computes: its device, the frozen base weights' dtype (the compute dtype of 4-bit
    ones), their quantization, and what follows from them: autocast and loss scaling."""

    device: str  # "cpu" or "cuda:N"
    device_name: str  # the GPU's name, or the CPU's description
    weights: str  # "bf16" | "fp16" | "fp32"
    quantization: str = "none"  # "none" | "4bit" (NF4 through bitsandbytes)

    @property
    def autocast(self) -> str | None:
        """The dtype the forward pass autocasts to (None: plain fp32)."""
        return None if self.weights == "fp32" else self.weights

    @property
    def loss_scaling(self) -> bool:
        """fp16 gradients underflow without a GradScaler; bf16 has fp32's range and needs none."""
        return self.weights == "fp16"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "autocast": self.autocast, "loss_scaling": self.loss_scaling}


def training_arithmetic(precision: str, device: str, quantize_base: str = "none", accel: Accelerators | None = None) -> TrainingArithmetic:
    """`[training] precision` + `quantize_base` on `[models] device`, resolved; ConfigError for what cannot run here."""
    if quantize_base not in QUANTIZATIONS:
        raise ConfigError(f"[training] quantize_base = {quantize_base!r} is not known; choose one of: {', '.join(QUANTIZATIONS)}")
    if device != "cpu" and accel is None:
        accel = accelerators()
    resolved = resolve_device(device, accel)
    weights = weights_precision(precision, resolved, accel)
    if quantize_base == "4bit":
        _check_4bit(resolved, device)
    return TrainingArithmetic(resolved, device_name(resolved, accel), weights, quantize_base)


def _check_4bit(resolved: str, setting: str) -> None:
    if resolved == "cpu":
        raise ConfigError(
            f'[training] quantize_base = "4bit" needs a CUDA GPU (bitsandbytes\' 4-bit kernels), but [models] device = '
            f'{setting!r} runs on the CPU here: set quantize_base = "none", or train on a machine with a GPU'
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            '[training] quantize_base = "4bit" needs the bitsandbytes package: run `pip install "ragft[qlora]"` '
            '(or set quantize_base = "none")'
        )


def device_name(device: str, accel: Accelerators | None = None) -> str:
    """What `device` (resolved) is, for manifests and reports: the GPU's name, or the CPU's description."""
    if device == "cpu":
        return describe_machine()
    accel = accel if accel is not None else accelerators()
    return accel.names[_index(device)]


def _index(device: str) -> int:
    return int(device.partition(":")[2] or 0)
