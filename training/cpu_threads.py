"""How many CPU threads a demo training uses: one by default, since the build machine is shared.

Measured on the 2-core build machine while other jobs ran: a ResNet50 training step at 64x64 cost 28 ms of CPU per
image with one torch thread and 170-290 ms with two (the OpenMP workers wait on each other whenever a core is
taken), so one thread trains several times faster there. On an idle machine two threads are up to twice as fast:
set MSK_MAPS_TRAIN_THREADS=2. The thread count changes float summation order, never the recipe.
"""

from __future__ import annotations

import os

import torch

__all__ = ["TRAIN_THREADS_ENV", "use_training_threads"]

TRAIN_THREADS_ENV = "MSK_MAPS_TRAIN_THREADS"


def use_training_threads() -> int:
    """Set torch's intra-op threads from MSK_MAPS_TRAIN_THREADS (default 1); returns the count."""
    value = os.environ.get(TRAIN_THREADS_ENV, "1")
    try:
        threads = int(value)
    except ValueError as exc:
        raise SystemExit(f"{TRAIN_THREADS_ENV} must be a whole number of threads, got {value!r}") from exc
    if threads < 1:
        raise SystemExit(f"{TRAIN_THREADS_ENV} must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    return threads
