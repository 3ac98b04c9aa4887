"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import numpy as np


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` wall-clock timings of ``fn()``."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def unit_matrix(rng: np.random.Generator, n: int, d: int, offset: np.ndarray) -> np.ndarray:
    """(n, d) float32 unit rows with a shared offset (a cone), built in place."""
    E = rng.standard_normal((n, d), dtype=np.float32)
    step = 65536
    for s in range(0, n, step):
        block = E[s : s + step]
        block += offset
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return E
