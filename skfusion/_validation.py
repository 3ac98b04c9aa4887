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


def _where(row: int, labels: Sequence[Any] | np.ndarray | None) -> str:
    """``"row 3"`` or ``"row 3 (id 'x')"`` for messages."""
    return f"row {row}" if labels is None else f"row {row} (id {as_label(labels[row])!r})"


def check_unit_rows(
    sq_norms: np.ndarray, *, what: str, labels: Sequence[Any] | np.ndarray | None = None
) -> None:
    """Raise ``ValueError`` unless every squared row norm is finite and close to 1.

    Parameters
    ----------
    sq_norms : ndarray of shape (n,)
        Squared L2 norms of the rows being checked, as :func:`row_sq_norms`
        returns them: NaN for a row holding a NaN or infinite value, ``+inf``
        for a finite row whose squared norm overflows.
    what : str
        What the rows are, for the message (e.g. ``"component 'title'"``).
    labels : sequence, optional
        A label per row (item ids); row positions are used when omitted.

    Raises
    ------
    ValueError
        Naming the first offending row: one with a NaN squared norm
        ("contains NaN or infinite values"), or one whose norm is not within
        :data:`NORM_TOLERANCE` of 1 (a ``+inf`` squared norm is reported as
        an infinite norm).
    """
    sq_norms = np.asarray(sq_norms, dtype=np.float64)
    bad_finite = np.isnan(sq_norms) | (sq_norms == -np.inf)
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
        norm = (
            f"norm {norms[row]:.6g}"
            if np.isfinite(norms[row])
            else "an infinite norm (an infinite value, or values too large to square)"
        )
        raise ValueError(
            f"{what} must hold L2-normalised rows, but {_where(row, labels)} has {norm} "
            f"({int(bad_norm.sum())} row(s) off by more than "
            f"{NORM_TOLERANCE:g}). Normalise the embeddings first (for example with "
            "sklearn.preprocessing.normalize, or normalize=True when building a Catalog)."
        )


#: Squared norms a plain float32 or float64 sum computes accurately: a finite sum
#: had no square overflow, and squares lost to float32 underflow (< 2**-126 each)
#: are below 2**-46 of a sum >= 2**-60 even over a million dimensions.
_SAFE_SQ_RANGE = (2.0**-60, 2.0**100)


def _fast_sq(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(block, squared norms)``, summed in the block's float dtype (float64 for others).

    Fast but unguarded: entries outside :data:`_SAFE_SQ_RANGE` (``inf``,
    NaN, 0, tiny) must be recomputed with :func:`_scaled_block`.
    """
    if block.dtype not in (np.float32, np.float64):
        block = np.asarray(block, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sq = np.einsum("nd,nd->n", block, block)
    return block, np.asarray(sq, dtype=np.float64)


def _unsafe(sq: np.ndarray) -> np.ndarray:
    """Rows whose fast squared norm may be wrong (NaN included)."""
    low, high = _SAFE_SQ_RANGE
    return ~((sq >= low) & (sq <= high))


def _scaled_block(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scaled, scale, root)`` for some rows, in float64, free of over/underflow.

    ``scale`` is each row's largest absolute value (NaN for a row holding a
    NaN, ``inf`` for one holding an infinity), ``scaled`` the row divided by
    it (entries in ``[-1, 1]``; zero rows stay zero) and ``root`` the L2 norm
    of ``scaled``, which lies in ``[1, sqrt(dim)]`` for a finite non-zero row.
    The row's norm is ``scale * root``.
    """
    values = np.asarray(block, dtype=np.float64)
    if values.shape[1] == 0:
        zeros = np.zeros(values.shape[0])
        return values, zeros, zeros
    with np.errstate(invalid="ignore"):
        scale = np.max(np.abs(values), axis=1)
    usable = np.isfinite(scale) & (scale > 0)
    divisor = np.where(usable, scale, 1.0)[:, None]
    scaled = np.where(usable[:, None], values / divisor, 0.0)
    root = np.sqrt(np.einsum("nd,nd->n", scaled, scaled))
    return scaled, scale, root


def _robust_norms(rows: np.ndarray) -> np.ndarray:
    """Norms of ``rows`` by :func:`_scaled_block`; NaN for a row with NaN or inf."""
    _, scale, root = _scaled_block(rows)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = scale * root
    norms[~np.isfinite(scale)] = np.nan
    return norms


def row_norms(X: np.ndarray) -> np.ndarray:
    """L2 norm of each row in float64, without overflow or underflow on the way.

    A row whose plain sum of squares could have overflowed or underflowed
    is divided by its largest absolute value before squaring, so a row of
    ``1e30`` (or of float64's largest value, or of subnormals) gets its true
    norm rather than ``inf`` or 0. Only a norm that itself exceeds float64's
    range is ``inf``.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Real rows, any float or integer dtype; processed in blocks of
        :data:`REDUCTION_BLOCK` rows.

    Returns
    -------
    norms : ndarray of float64, shape (n,)
        NaN for a row holding a NaN or infinite value; 0 only for an
        all-zero row.
    """
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], REDUCTION_BLOCK):
        block, sq = _fast_sq(X[start : start + REDUCTION_BLOCK])
        norms = np.sqrt(sq)
        odd = _unsafe(sq)
        if odd.any():
            norms[odd] = _robust_norms(block[odd])
        out[start : start + sq.shape[0]] = norms
    return out


def row_sq_norms(X: np.ndarray) -> np.ndarray:
    """Squared L2 norm of each row in float64, for :func:`check_unit_rows`.

    Rows are summed in their own float dtype (fast); a row whose sum could
    have overflowed or underflowed is recomputed as in :func:`row_norms`, so
    a float32 row of ``1e30`` has squared norm about ``2e60``, not ``inf``.
    A squared norm beyond float64's range is ``+inf``; a row holding a NaN
    or an infinity gives NaN.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Real rows; processed in blocks without a full temporary.

    Returns
    -------
    sq_norms : ndarray of float64, shape (n,)
    """
    out = np.empty(X.shape[0], dtype=np.float64)
    for start in range(0, X.shape[0], REDUCTION_BLOCK):
        block, sq = _fast_sq(X[start : start + REDUCTION_BLOCK])
        odd = _unsafe(sq)
        if odd.any():
            with np.errstate(over="ignore"):
                sq[odd] = _robust_norms(block[odd]) ** 2
        out[start : start + sq.shape[0]] = sq
    return out


def normalize_rows(
    X: np.ndarray,
    *,
    what: str,
    labels: Sequence[Any] | np.ndarray | None = None,
    skip: np.ndarray | None = None,
    dtype: Any = np.float32,
    hint: str = "",
) -> np.ndarray:
    """Divide each row by its L2 norm, robustly; refuse rows that cannot be normalised.

    A row whose plain sum of squares could overflow or underflow is first
    divided by its largest absolute value (in float64), then by the norm of
    the result, so any finite non-zero row -- ``1e30``, float32's or
    float64's largest value, subnormals -- becomes a unit row. Only a row
    whose entries are all exactly zero is "all-zero".

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Real rows of any float or integer dtype (convert float64 input here,
        not before: a float64 value beyond float32's range would already be
        ``inf`` in float32).
    what : str
        What the rows are, for messages (e.g. ``"Component 'title'"``).
    labels : sequence, optional
        A label per row (item ids) for messages; row positions otherwise.
    skip : ndarray of bool, shape (n,), optional
        Rows not to check or normalise (missing components); they are
        returned as zeros.
    dtype : dtype, default=numpy.float32
        The dtype of the result.
    hint : str, default=""
        Appended to the all-zero message (e.g. how to mark a row missing).

    Returns
    -------
    unit : ndarray of shape (n, dim)
        A new array; ``X`` is not modified.

    Raises
    ------
    ValueError
        A row (not skipped) holding a NaN or an infinite value, or a row of
        zeros; the message names the first such row and counts them.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n, dim), got shape {X.shape}.")
    if X.dtype.kind not in "fiu":
        raise ValueError(f"{what} must be real numbers, got dtype {X.dtype}.")
    n = X.shape[0]
    checked = np.ones(n, dtype=bool) if skip is None else ~np.asarray(skip, dtype=bool)
    if checked.shape != (n,):
        raise ValueError(f"skip must have shape ({n},), got {checked.shape}.")
    norms = row_norms(X)
    for bad, problem, extra in (
        (np.isnan(norms) & checked, "NaN or infinite values in", ""),
        ((norms == 0) & checked, "an all-zero row for", f" {hint}" if hint else ""),
    ):
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            where = (
                f"row {first}"
                if labels is None
                else f"item {as_label(labels[first])!r} (row {first})"
            )
            raise ValueError(
                f"{what} has {problem} {where}; {int(bad.sum())} such row(s) in all, which "
                f"cannot be normalised.{extra}"
            )
    out = np.zeros(X.shape, dtype=dtype)
    for start in range(0, n, REDUCTION_BLOCK):
        stop = min(start + REDUCTION_BLOCK, n)
        block, sq = _fast_sq(X[start:stop])
        keep = checked[start:stop]
        safe = keep & ~_unsafe(sq)
        odd = keep & ~safe
        rows = np.flatnonzero(safe)
        root = np.sqrt(sq).astype(block.dtype)[:, None]  # in the block's dtype: no temporary
        if rows.size == keep.size:
            out[start:stop] = block / root
        elif rows.size:
            out[start + rows] = block[rows] / root[rows]
        if odd.any():
            scaled, _, root = _scaled_block(block[odd])
            out[start + np.flatnonzero(odd)] = scaled / root[:, None]
    return out
