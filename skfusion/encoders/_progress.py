"""Progress reporting of the encoders: a tqdm bar when asked for and installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress"]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


@contextmanager
def progress(enabled: bool, total: int, desc: str) -> Iterator[Any]:
    """A tqdm progress bar when ``enabled`` and tqdm is importable, else a no-op."""
    bar: Any = _NoProgress()
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            pass
        else:
            bar = tqdm(total=total, desc=desc, unit="item")
    try:
        yield bar
    finally:
        bar.close()
