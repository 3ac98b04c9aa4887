"""A cheap deterministic encoder and a catalog build run as a subprocess by test_resumable."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

N_ROWS = 40
SHARD_SIZE = 4
DELAY = 0.01  # seconds per item


class SlowHashEncoder:
    """Embeds strings by hashing their bytes into 6 dims; sleeps ``delay`` s per item.

    Rejects texts containing "bad" with a ValueError (a per-item failure).
    """

    def __init__(self, delay: float = DELAY, fail_after: int | None = None) -> None:
        self.delay = delay
        self.fail_after = fail_after
        self.calls = 0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"delay": self.delay}

    def transform(self, values: list[Any]) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        out = np.zeros((len(values), 6))
        for i, v in enumerate(values):
            if "bad" in v:
                raise ValueError(f"cannot embed {v!r}")
            for j, byte in enumerate(v.encode("utf-8")):
                out[i, (byte * 7 + j) % 6] += 1.0 + (j % 3)
            time.sleep(self.delay)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def frame(n: int = N_ROWS) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [f"item{i:03d}" for i in range(n)],
            "title": [
                f"title {i} " + "x" * (i % 5) if i % 13 != 7 else "bad title" for i in range(n)
            ],
            "body": [f"body text number {i * 31 % 17}" if i != 22 else "" for i in range(n)],
        }
    )


def encoders(**kwargs: Any) -> dict[str, Any]:
    return {"title": SlowHashEncoder(**kwargs), "text": ("body", SlowHashEncoder(**kwargs))}


def build(path: str) -> Any:
    from skfusion import Catalog

    return Catalog.build(frame(), encoders(), path, on_error="skip", shard_size=SHARD_SIZE)


if __name__ == "__main__":
    build(sys.argv[1])
