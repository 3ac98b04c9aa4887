"""Grids of weight vectors for tuning fusion weights."""

from __future__ import annotations

import numpy as np


def simplex_grid(n_components: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with coordinates that are multiples of ``step``.

    Parameters
    ----------
    n_components : int
    step : float
        ``1 / step`` must be a whole number (e.g. 0.1, 0.05, 0.25).

    Returns
    -------
    ndarray of shape (n_points, n_components)
        Rows sum to 1; ``C(n + c - 1, c - 1)`` rows for ``n = 1 / step``.
    """
    n = round(1.0 / step)
    if n < 1 or abs(n * step - 1.0) > 1e-9:
        raise ValueError(f"1 / step must be a whole number, got step={step}.")
    if n_components < 1:
        raise ValueError("n_components must be at least 1.")

    def compositions(total: int, parts: int) -> list[list[int]]:
        if parts == 1:
            return [[total]]
        return [
            [i, *rest] for i in range(total, -1, -1) for rest in compositions(total - i, parts - 1)
        ]

    return np.array(compositions(n, n_components), dtype=np.float64) / n
