"""The demo's two figures, drawn with matplotlib's object API (no pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._cranfield import DemoResult

_LABELS = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "mrr": "MRR"}


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            'The demo report draws its plots with matplotlib: pip install "skfusion[demo]".'
        ) from exc
    return Figure(figsize=(width, height), dpi=120, layout="constrained")


def plot_strategies(result: DemoResult, path: Path) -> Path:
    """Grouped bars: each metric's mean per strategy with its 95% bootstrap CI.

    The baseline's tick reads "(baseline)" and its bars are hatched; a star
    above a bar marks a difference from the baseline significant after Holm's
    correction (p < 0.05), as in the printed table.
    """
    table = result.benchmark.table
    baseline = result.benchmark.baseline
    metrics = list(result.benchmark.metrics)
    strategies = list(dict.fromkeys(table["strategy"]))
    fig = _figure(1.6 + 1.1 * len(strategies), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / len(metrics)
    x = np.arange(len(strategies))
    for j, metric in enumerate(metrics):
        rows = table[table["metric"] == metric].set_index("strategy").loc[strategies]
        means = rows["mean"].to_numpy()
        err = np.vstack([means - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - means])
        pos = x + (j - (len(metrics) - 1) / 2) * width
        bars = ax.bar(pos, means, width, yerr=err, capsize=3, label=_LABELS.get(metric, metric))
        for bar, name in zip(bars, strategies, strict=True):
            if name == baseline:
                bar.set_hatch("//")
        significant = rows["significant"].to_numpy(dtype=bool)
        for xi, top, sig in zip(pos, rows["ci_high"].to_numpy(), significant, strict=True):
            if sig:
                ax.annotate("*", (xi, top), ha="center", va="bottom", fontsize=11)
    labels = [f"{s}\n(baseline)" if s == baseline else s for s in strategies]
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set_ylabel("mean over held-out queries")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right", ncols=len(metrics))
    ax.set_title(
        f"{result.dataset}: {len(result.query_ids)} queries, 95% bootstrap CIs "
        f"({result.mode} encoder); * differs from {baseline} (Holm p < 0.05)"
    )
    fig.savefig(path)
    return path


def plot_simplex(result: DemoResult, path: Path) -> Path:
    """nDCG@10 of fixed weights over the simplex of three components (a ternary map)."""
    land = result.simplex
    w = np.asarray(land["weights"])
    values = np.asarray(land["ndcg@10"])
    # Barycentric → plane: corners at (0, 0), (1, 0), (1/2, √3/2).
    px = w[:, 1] + 0.5 * w[:, 2]
    py = (np.sqrt(3) / 2) * w[:, 2]
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    filled = ax.tricontourf(px, py, values, levels=14, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="nDCG@10 (all queries)", shrink=0.8)
    best = int(np.argmax(values))
    ax.plot(px[best], py[best], marker="*", color="white", markersize=14, markeredgecolor="k")
    names = land["components"]
    corners = [(0, 0), (1, 0), (0.5, np.sqrt(3) / 2)]
    offsets = [(-0.04, -0.05), (0.04, -0.05), (0.0, 0.04)]
    for name, (cx, cy), (dx, dy) in zip(names, corners, offsets, strict=True):
        ax.annotate(name, (cx + dx, cy + dy), ha="center", va="center")
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], color="k", linewidth=0.8)
    ax.set_xlim(-0.15, 1.15)
    ax.set_ylim(-0.1, 0.95)
    ax.set_aspect("equal")
    ax.set_axis_off()
    bw = ", ".join(f"{n} {v:.2f}" for n, v in zip(names, w[best], strict=True))
    ax.set_title(
        f"nDCG@10 of fixed weights over three components\nbest (★): {bw} → {values[best]:.3f}",
        fontsize=10,
    )
    fig.savefig(path)
    return path
