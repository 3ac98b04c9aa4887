"""Small random data shared by the tests."""

from __future__ import annotations

import numpy as np


def unit_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def correlated_components(
    rng: np.random.Generator, n_items: int, dim: int, n_components: int = 3
) -> np.ndarray:
    """(C, N, d) unit components sharing a per-item topic and a common offset.

    Components of one item are correlated (as title, description and image of
    one product are) and every component has a non-zero mean (CLIP's cone
    effect), so global weights differ from zero and from each other.
    """
    topic = rng.standard_normal((n_items, dim))
    out = []
    for c in range(n_components):
        offset = rng.standard_normal(dim) * (0.5 + c)
        x = topic + rng.standard_normal((n_items, dim)) * (0.5 + 0.5 * c) + offset
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return np.stack(out).astype(np.float32)
