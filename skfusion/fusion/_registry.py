"""Registry of fusion strategies by name, for the functional API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .average import average_weights
from .hybrid import hybrid_weights
from .weighted import weighted_weights

#: A weight function maps similarities (C, Q, B) and keyword parameters to
#: normalised weights, (C,) when static or (C, Q, B) when query-aware.
WeightFunction = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Strategy:
    """A named vector-fusion strategy.

    Attributes
    ----------
    name : str
    weights : callable
        ``weights(S, *, global_weights, **params) -> W``.
    params : tuple of str
        Keyword parameters the strategy accepts.
    needs_global_weights : bool
        Whether ``G_c`` must be computed from the catalog.
    required : tuple of str
        Parameters without a default.
    """

    name: str
    weights: WeightFunction
    params: tuple[str, ...]
    needs_global_weights: bool
    required: tuple[str, ...] = ()


STRATEGIES: dict[str, Strategy] = {
    "average": Strategy("average", average_weights, (), False),
    "weighted": Strategy("weighted", weighted_weights, ("weights",), False, ("weights",)),
    "hybrid": Strategy("hybrid", hybrid_weights, ("negative",), True),
}


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name; unknown names raise ``ValueError`` listing the valid ones."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown fusion strategy {name!r}; valid strategies are {sorted(STRATEGIES)}."
        ) from None
