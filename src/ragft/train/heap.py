"""Make glibc give a training step's freed activations back to the OS at once, not keep them resident.

Measured (`benchmarks/bench_train.py memory`, 0.5B fp32, one 512-token row, gradient checkpointing):
without this, a step's resident memory grows by ~45 MB per decoder layer during the forward pass
and keeps growing in the backward pass, although every layer frees its intermediates. glibc serves
those allocations (a few MB to tens of MB each) from its heap once its *dynamic* mmap threshold has
risen past them, and the freed heap blocks stay mapped: ~1.1 GB of a 3.9 GB peak was memory the
process no longer used (`malloc_trim(0)` after the step returned it). With a fixed threshold every
block of at least MMAP_THRESHOLD_BYTES is its own mapping, unmapped when freed, so the resident
memory follows what is live. The cost is the page faults of mapping them afresh (~2.7 million per
512-token step). `bench_train.py memory --cases qa:512 --variants before after after-4mb
--side-by-side` (the three at once, so under one load): peak 4.0 / 2.6 / 3.1 GB, 16.6 / 22.8 /
19.7 CPU-s per step. So this costs ~35% of a step's CPU time for 1.4 GB; a 4 MB threshold is the
middle point. Memory is what this serves (a 4 GB target on a laptop without bf16 units); the
hybrid arm's real training peaked at 2.9 GB with 128 KB, 3.5 GB with 4 MB, 5.0 GB before.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default starting value, held fixed (setting it disables the dynamic rise)


def return_freed_blocks_promptly(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at `threshold_bytes` for this process; False where the C library is not glibc.

    Process-wide and idempotent: later stages (inference) also get their large freed blocks unmapped.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): their allocators behave differently
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold_bytes))
