"""Input checks shared by catalogs and fusion estimators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Rows whose L2 norm differs from 1 by more than this are rejected.
NORM_TOLERANCE = 1e-3

#: Rows processed at once by blocked reductions over a catalog.
REDUCTION_BLOCK = 8192


def as_label(value: Any) -> Any:
    """A plain Python value for messages (``'a'`` rather than ``np.str_('a')``)."""
    return value.item() if isinstance(value, np.generic) else value


def check_unit_rows(
    sq_norms: np.ndarray, *, what: str, labels: Sequence[Any] | np.ndarray | None = None
) -> None:
    """Raise ``ValueError`` unless every squared row norm is finite and close to 1.

    Parameters
    ----------
    sq_norms : ndarray of shape (n,)
        Squared L2 norms of the rows being checked.
    what : str
        What the rows are, for the message (e.g. ``"component 'title'"``).
    labels : sequence, optional
        A label per row (item ids); row positions are used when omitted.
    """
    bad_finite = ~np.isfinite(sq_norms)
    if bad_finite.any():
        row = int(np.flatnonzero(bad_finite)[0])
        where = f"row {row}" if labels is None else f"row {row}, id {as_label(labels[row])!r}"
        raise ValueError(
            f"{what} contains NaN or infinite values (first at {where}, "
            f"{int(bad_finite.sum())} row(s) in all)."
        )
    norms = np.sqrt(sq_norms)
    bad_norm = np.abs(norms - 1.0) > NORM_TOLERANCE
    if bad_norm.any():
        row = int(np.flatnonzero(bad_norm)[0])
        where = f"row {row}" if labels is None else f"row {row} (id {as_label(labels[row])!r})"
        raise ValueError(
            f"{what} must hold L2-normalised rows, but {where} has norm "
            f"{norms[row]:.6g} ({int(bad_norm.sum())} row(s) off by more than "
            f"{NORM_TOLERANCE:g}). Normalise the embeddings first (for example with "
            "sklearn.preprocessing.normalize, or normalize=True when building a Catalog)."
        )


def row_sq_norms(X: np.ndarray) -> np.ndarray:
    """Squared L2 norm of each row, computed in blocks without a full temporary."""
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], REDUCTION_BLOCK):
        block = X[start : start + REDUCTION_BLOCK]
        out[start : start + block.shape[0]] = np.einsum("nd,nd->n", block, block)
    return out
