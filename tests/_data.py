"""Small random data shared by the tests."""

from __future__ import annotations

import numpy as np

from skfusion import Catalog


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


def grouped_queries(seed: int = 0) -> tuple[Catalog, np.ndarray, np.ndarray, np.ndarray]:
    """Items with a 'good' and a 'noise' component; 3 noisy queries per target item.

    The three queries of one target share a source, so they form a group: a
    split that puts some in training and others in test leaks the target.
    Judgments are graded: the target has gain 3, its nearest neighbour gain 1.
    """
    rng = np.random.default_rng(seed)
    n_items, dim = 150, 16
    good = unit_rows(rng, (n_items, dim))
    noise = unit_rows(rng, (n_items, dim))
    cat = Catalog.from_arrays({"good": good, "noise": noise})
    sources = rng.choice(n_items, size=40, replace=False)
    targets = np.repeat(sources, 3)
    raw = good[targets] + rng.standard_normal((targets.size, dim)) * 0.4
    X = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    y = np.zeros((targets.size, n_items))
    y[np.arange(targets.size), targets] = 3
    sims = good @ good.T
    np.fill_diagonal(sims, -np.inf)
    y[np.arange(targets.size), sims[targets].argmax(axis=1)] = 1
    return cat, X, y, np.repeat(np.arange(40), 3)
