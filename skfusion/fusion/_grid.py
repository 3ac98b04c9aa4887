"""Grids of weight vectors for tuning fusion weights."""

from __future__ import annotations

import numpy as np


def simplex_grid(n_components: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with coordinates that are multiples of ``step``.

    The grid to tune fixed component weights over (``WeightedFusion``,
    ``ScoreFusion``, ``AgreementFusionCV(prior_weights_grid=...)``) with
    ``GridSearchCV``: every ``w`` with ``w_c ∈ {0, step, 2·step, …, 1}`` and
    ``Σ_c w_c = 1``, in lexicographically decreasing order.

    Parameters
    ----------
    n_components : int
        At least 1.
    step : float
        ``1 / step`` must be a whole number (e.g. 0.1, 0.05, 0.25).

    Returns
    -------
    ndarray of shape (n_points, n_components)
        Rows sum to 1; ``C(n + c - 1, c - 1)`` rows for ``n = 1 / step``
        and ``c = n_components``.

    Examples
    --------
    >>> from skfusion.fusion import simplex_grid
    >>> simplex_grid(2, 0.5)
    array([[1. , 0. ],
           [0.5, 0.5],
           [0. , 1. ]])
    """
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise TypeError(f"n_components must be an int, got {n_components!r}.")
    if isinstance(step, bool) or not isinstance(step, int | float | np.floating):
        raise TypeError(f"step must be a number, got {step!r}.")
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"step must be positive and finite, got {step}.")
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
