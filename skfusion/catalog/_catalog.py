"""The catalog itself: component arrays, masks, ids, modalities and their statistics."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._arrays import encoder_id_of, modality_of
from .._gram import component_covariance, component_mean, global_weights_from_means, item_gram
from .._validation import REDUCTION_BLOCK, as_label, check_unit_rows, normalize_rows
from . import _build, _storage
from ._derived import STATE_ATTRIBUTE, DerivedStore, store_of
from ._index import CatalogIndex, build_catalog_index
from ._storage import STORAGE_DTYPES, SavedStatistics

__all__ = ["Catalog"]


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def _present_rows(
    arrays: Mapping[str, np.ndarray],
    names: Sequence[str],
    ids: np.ndarray,
    masks: Mapping[str, Any] | None,
) -> dict[str, np.ndarray]:
    """Which rows of each component hold an embedding, checked against ``masks``."""
    given = dict(masks or {})
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"masks names unknown components {unknown}; components are {list(names)}.")
    present: dict[str, np.ndarray] = {}
    for name in names:
        arr = arrays[name]
        n = arr.shape[0]
        all_nan = np.zeros(n, dtype=bool)
        any_nan = np.zeros(n, dtype=bool)
        for start in range(0, n, REDUCTION_BLOCK):
            nan = np.isnan(arr[start : start + REDUCTION_BLOCK])
            all_nan[start : start + nan.shape[0]] = nan.all(axis=1)
            any_nan[start : start + nan.shape[0]] = nan.any(axis=1)
        partial = np.flatnonzero(any_nan & ~all_nan)
        if partial.size:
            raise ValueError(
                f"Component {name!r} has NaN in part of the row of item "
                f"{as_label(ids[partial[0]])!r} (row {partial[0]}); a missing component must "
                "be an all-NaN or all-zero row with its mask False."
            )
        if name not in given:
            present[name] = ~all_nan
            continue
        m = np.asarray(given[name])
        if m.shape != (n,) or m.dtype != np.bool_:
            raise ValueError(
                f"masks[{name!r}] must be a boolean array of shape ({n},), got dtype "
                f"{m.dtype} and shape {m.shape}."
            )
        nan_present = np.flatnonzero(m & all_nan)
        if nan_present.size:
            raise ValueError(
                f"masks[{name!r}] marks item {as_label(ids[nan_present[0]])!r} (row "
                f"{nan_present[0]}) present, but its row is all NaN."
            )
        absent = np.flatnonzero(~m)
        if absent.size:
            rows = np.asarray(arr[absent])
            filled = np.flatnonzero(~(np.isnan(rows).all(axis=1) | (rows == 0).all(axis=1)))
            if filled.size:
                row = absent[filled[0]]
                raise ValueError(
                    f"masks[{name!r}] marks item {as_label(ids[row])!r} (row {row}) missing, "
                    f"but its row holds an embedding ({filled.size} such row(s)); missing rows "
                    "must be all zero or all NaN."
                )
        present[name] = m.copy()
    return present


def _checked_lexical(
    lexical: Mapping[str, Any] | None, names: Sequence[str], ids: np.ndarray
) -> dict[str, Any]:
    """Lexical components as checked, read-only float32 CSR arrays (see ``from_arrays``).

    Each must be a SciPy sparse matrix or array of shape (n_items, n_terms)
    with finite, non-negative values; it is converted to float32 CSR with
    summed duplicates, sorted indices and no stored zeros (an empty row marks
    the component missing for that item).
    """
    import scipy.sparse as sp

    if lexical is None:
        return {}
    if not isinstance(lexical, Mapping):
        raise TypeError(
            f"lexical must be a mapping of name to sparse matrix, got {type(lexical).__name__}."
        )
    n_items = ids.shape[0]
    out: dict[str, Any] = {}
    for name, matrix in lexical.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Lexical component names must be non-empty strings, got {name!r}.")
        if name in names:
            raise ValueError(
                f"Lexical component {name!r} has the name of a dense component; names must "
                f"be unique (dense components are {list(names)})."
            )
        if not sp.issparse(matrix):
            raise TypeError(
                f"Lexical component {name!r} must be a scipy.sparse matrix or array, got "
                f"{type(matrix).__name__} (e.g. BM25Encoder().document_weights(texts))."
            )
        if matrix.ndim != 2 or matrix.shape[0] != n_items or matrix.shape[1] < 1:
            raise ValueError(
                f"Lexical component {name!r} must have shape (n_items, n_terms) = "
                f"({n_items}, >=1), got {matrix.shape}."
            )
        if matrix.dtype.kind not in "fiub":
            raise ValueError(
                f"Lexical component {name!r} must be numeric, got dtype {matrix.dtype}."
            )
        csr = sp.csr_array(matrix, dtype=np.float32, copy=True)
        csr.sum_duplicates()
        csr.sort_indices()
        data = csr.data
        bad = np.flatnonzero(~np.isfinite(data) | (data < 0))
        if bad.size:
            row = int(np.searchsorted(csr.indptr, bad[0], side="right") - 1)
            raise ValueError(
                f"Lexical component {name!r} holds {float(data[bad[0]])!r} in the row of item "
                f"{as_label(ids[row])!r} (row {row}); lexical weights must be finite and "
                "non-negative."
            )
        csr.eliminate_zeros()
        if csr.nnz == 0:
            raise ValueError(
                f"Lexical component {name!r} has no item with a term (every row is empty)."
            )
        for arr in (csr.data, csr.indices, csr.indptr):
            arr.flags.writeable = False
        out[name] = csr
    return out


def _checked_ids(ids: Sequence[Any] | np.ndarray | None, n_items: int) -> np.ndarray:
    """The item ids as a 1-D array: one per item, unique, comparable, never None."""
    if ids is None:
        return np.arange(n_items)
    id_array = np.asarray(ids)
    if id_array.ndim != 1 or id_array.shape[0] != n_items:
        raise ValueError(
            f"Got {id_array.shape[0] if id_array.ndim else 1} ids for {n_items} items; "
            "ids must be a 1-D sequence with one id per item."
        )
    if id_array.dtype == object:
        nones = [row for row, value in enumerate(id_array.tolist()) if value is None]
        if nones:
            raise ValueError(
                f"Item ids must not be None, but the id of row {nones[0]} is None "
                f"({len(nones)} such row(s))."
            )
    try:
        uniq, counts = np.unique(id_array, return_counts=True)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in id_array.tolist()})
        raise ValueError(
            f"Item ids must be mutually comparable (all strings or all numbers); got ids of "
            f"types {kinds}."
        ) from exc
    if uniq.shape[0] != n_items:
        dup = uniq[counts > 1][:5].tolist()  # plain Python values
        raise ValueError(f"Item ids must be unique; duplicated: {dup}.")
    return id_array


#: Largest difference between a saved Gram entry and the one recomputed from the rows.
_GRAM_TOLERANCE = 1e-5
#: Largest difference between a saved mean coordinate and the recomputed one.
_MEAN_TOLERANCE = 1e-4


def _saved_present(
    arrays: Mapping[str, np.ndarray],
    names: Sequence[str],
    ids: np.ndarray,
    saved: SavedStatistics,
) -> dict[str, np.ndarray]:
    """Which rows of a saved catalog hold an embedding, checking the saved statistics.

    A saved catalog stores missing components as zero rows (Gram diagonal 0).
    The Gram entries and means must be finite. With
    ``saved.check_components`` every component is read block by block
    (:data:`REDUCTION_BLOCK` rows at a time, so a memory-mapped catalog is
    never read into memory at once): values must be finite, the masks are the
    non-zero rows, and the saved Gram entries and means must equal the ones
    recomputed from the rows within float tolerance. Otherwise the masks are
    the non-zero Gram diagonal entries.
    """
    gram, means = saved.gram, saved.means
    C, n = len(names), ids.shape[0]
    bad = np.argwhere(~np.isfinite(gram))
    if bad.size:
        row = int(bad[0][2])
        raise ValueError(
            f"Catalog file {saved.gram_file} holds a non-finite Gram entry for item "
            f"{as_label(ids[row])!r} (row {row}); the catalog is corrupt."
        )
    if not np.isfinite(means).all():
        raise ValueError(
            f"Catalog file {saved.means_file} holds non-finite means; the catalog is corrupt."
        )
    if not saved.check_components:
        return {name: np.asarray(gram[c, c]) != 0 for c, name in enumerate(names)}
    present = {name: np.empty(n, dtype=bool) for name in names}
    sums = np.zeros((C, means.shape[1]), dtype=np.float64)
    for start in range(0, n, REDUCTION_BLOCK):
        stop = min(start + REDUCTION_BLOCK, n)
        blocks = []
        for c, name in enumerate(names):
            block = np.asarray(arrays[name][start:stop], dtype=np.float32)
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                raise ValueError(
                    f"Catalog file {saved.component_files[c]} (component {name!r}) holds NaN "
                    f"or infinite values in the row of item {as_label(ids[row])!r} (row {row}); "
                    "the catalog is corrupt."
                )
            present[name][start:stop] = block.any(axis=1)
            sums[c] += block.sum(axis=0, dtype=np.float64)
            blocks.append(block)
        K = item_gram(blocks)  # exactly how the constructor computes them
        off = np.abs(K - gram[:, :, start:stop]) > _GRAM_TOLERANCE
        if off.any():
            a, b, i = (int(v) for v in np.argwhere(off)[0])
            row = start + i
            raise ValueError(
                f"Catalog file {saved.gram_file} does not match the components: the "
                f"Gram entry ({names[a]!r}, {names[b]!r}) of item "
                f"{as_label(ids[row])!r} (row {row}) is "
                f"{float(gram[a, b, row]):.6g}, but the rows give {float(K[a, b, i]):.6g}."
            )
    saved.sums = sums
    return present


def _check_saved_means(names: Sequence[str], mask: np.ndarray, saved: SavedStatistics) -> None:
    """Raise ``ValueError`` unless the saved means are the means of the rows read."""
    if saved.sums is None:
        return
    for c, name in enumerate(names):
        expected = saved.sums[c] / max(int(mask[c].sum()), 1)
        off = np.abs(expected - saved.means[c]) > _MEAN_TOLERANCE * (1.0 + np.abs(expected))
        if off.any():
            raise ValueError(
                f"Catalog file {saved.means_file} does not match the components: the mean of "
                f"component {name!r} differs from the mean of its rows (coordinate "
                f"{int(np.flatnonzero(off)[0])})."
            )


def _storage_dtype(dtype: Any) -> np.dtype[Any]:
    """The checked storage dtype of a catalog's component matrices."""
    name = str(dtype)
    if name == "bfloat16":
        raise ValueError(
            "dtype='bfloat16' is not supported for catalog storage: NumPy has no bfloat16 "
            "type. Use dtype='float16' (the same memory, more mantissa bits for unit vectors)."
        )
    if name not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {list(STORAGE_DTYPES)}, got {dtype!r}.")
    return np.dtype(name)


class Catalog:
    """A read-only collection of items, each embedded as several named components.

    Every component is a float32 matrix of shape ``(n_items, dim)`` with
    L2-normalised rows, all in one embedding space (one dimension ``dim``).
    At construction the catalog computes what every fusion strategy needs:
    the per-item Gram entries ``gram[c, c', i] = e_ic · e_ic'`` and the
    component means, from which the global weights follow in O(C·d).

    A catalog is a shared handle: :func:`sklearn.base.clone`, :func:`copy.copy`
    and :func:`copy.deepcopy` return the same object, so estimators cloned by
    :class:`~sklearn.model_selection.GridSearchCV` share its arrays instead of
    copying them. Its arrays are read-only.

    Build one with :meth:`from_arrays` (precomputed embeddings),
    :meth:`from_frame` (a DataFrame and one encoder per component) or
    :meth:`load` (a directory written by :meth:`save`).

    Parameters
    ----------
    components : mapping of str to ndarray of shape (n_items, dim)
        Component name to embeddings.
    ids : sequence, optional
        One unique id per item; ``0 .. n_items - 1`` when omitted.
    encoder_ids : mapping of str to str or None, optional
        The fingerprint of the encoder that produced each component. Arrays
        returned by skfusion's encoders carry it and are picked up
        automatically.
    normalize : bool, default=False
        L2-normalise rows instead of rejecting rows that are not unit-norm.
    masks : mapping of str to array-like of bool, optional
        Which items have each component (see :meth:`from_arrays`).
    modalities : mapping of str to str, optional
        What each component embeds (see :meth:`from_arrays`).
    dtype : {"float32", "float16"}, default="float32"
        Storage of the component matrices (see :meth:`from_arrays`).
    lexical : mapping of str to scipy sparse matrix, optional
        Sparse lexical components such as BM25 document weights (see
        :meth:`from_arrays` and :doc:`/lexical`).

    Attributes
    ----------
    ids : ndarray of shape (n_items,)
    components : dict of str to ndarray of shape (n_items, dim)
    names : tuple of str
    gram : ndarray of shape (n_components, n_components, n_items)
    means : ndarray of shape (n_components, dim), float64
    encoder_ids : dict of str to str or None
    lexical_names : tuple of str
    lexical : dict of str to scipy.sparse.csr_array of shape (n_items, n_terms)

    Raises
    ------
    ValueError
        Empty catalog, components of different shapes, non-finite values,
        rows that are not unit-norm (naming the component and the item id),
        duplicate or misaligned ids.

    Examples
    --------
    >>> import numpy as np
    >>> from skfusion import Catalog
    >>> rng = np.random.default_rng(0)
    >>> title = rng.standard_normal((4, 8)).astype(np.float32)
    >>> image = rng.standard_normal((4, 8)).astype(np.float32)
    >>> cat = Catalog.from_arrays({"title": title, "image": image}, normalize=True)
    >>> cat.names, cat.n_items, cat.dim
    (('title', 'image'), 4, 8)
    """

    def __init__(
        self,
        components: Mapping[str, np.ndarray],
        ids: Sequence[Any] | np.ndarray | None = None,
        *,
        encoder_ids: Mapping[str, str | None] | None = None,
        normalize: bool = False,
        masks: Mapping[str, Any] | None = None,
        modalities: Mapping[str, str | None] | None = None,
        dtype: str = "float32",
        lexical: Mapping[str, Any] | None = None,
        _saved: SavedStatistics | None = None,
    ) -> None:
        # ``_saved``: the statistics of a catalog directory (``Catalog.load``), checked
        # against the components instead of computed; missing components are zero rows.
        store = _storage_dtype(dtype)
        if not isinstance(components, Mapping) or len(components) == 0:
            raise ValueError(
                "A catalog needs at least one component: pass a mapping of component name "
                "to an (n_items, dim) array."
            )
        names = tuple(components)
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"Component names must be non-empty strings, got {name!r}.")
        found_ids = {name: encoder_id_of(components[name]) for name in names}
        found_modalities = {name: modality_of(components[name]) for name in names}
        unknown_mod = sorted(set(modalities or {}) - set(names))
        if unknown_mod:
            raise ValueError(
                f"modalities names unknown components {unknown_mod}; components are {list(names)}."
            )
        mods = {n: (modalities or {}).get(n) or found_modalities[n] for n in names}
        for name, mod in mods.items():
            if mod not in (None, "text", "image", "mixed"):
                raise ValueError(
                    f"The modality of component {name!r} must be 'text', 'image', 'mixed' or "
                    f"None, got {mod!r}."
                )
        arrays: dict[str, np.ndarray] = {}
        shape: tuple[int, int] | None = None
        for name in names:
            raw = components[name]
            if isinstance(raw, np.memmap):
                # A memory-mapped matrix already in the storage dtype stays on disk.
                keep = raw.dtype == store and not normalize
                arr = raw if keep else np.asarray(raw, dtype=np.float32)
            else:
                arr = np.asarray(raw)
                if arr.dtype.kind not in "fiu":
                    raise ValueError(
                        f"Component {name!r} must be a numeric array, got dtype {arr.dtype}."
                    )
                keep = store if arr.dtype == store and not normalize else np.float32
                if normalize and arr.dtype == np.float64:
                    keep = np.float64
                arr = np.ascontiguousarray(arr, dtype=keep)
            if arr.ndim != 2:
                raise ValueError(
                    f"Component {name!r} must be 2-D (n_items, dim), got shape {arr.shape}."
                )
            if shape is None:
                shape = (arr.shape[0], arr.shape[1])
            elif arr.shape != shape:
                raise ValueError(
                    f"Component {name!r} has shape {arr.shape}, but component {names[0]!r} "
                    f"has shape {shape}: every component needs one row per item and the "
                    "same dimension."
                )
            arrays[name] = arr
        assert shape is not None
        n_items, dim = shape
        if n_items == 0 or dim == 0:
            raise ValueError(f"The catalog is empty: components have shape {shape}.")
        id_array = _checked_ids(ids, n_items)

        if _saved is not None:
            if masks is not None or normalize:
                raise ValueError("Saved statistics cannot be combined with masks or normalize.")
            present = _saved_present(arrays, names, id_array, _saved)
        else:
            present = _present_rows(arrays, names, id_array, masks)
            for name in names:
                absent = ~present[name]
                # Absent rows already zero in float32 (a build's memory-mapped assembly) are
                # kept as they are, not copied into memory.
                if absent.any() and (
                    arrays[name].dtype != np.float32 or np.isnan(arrays[name][absent]).any()
                ):
                    arr = np.array(arrays[name], dtype=np.float32)  # never modify the input
                    arr[absent] = 0.0
                    arrays[name] = arr
        mask = np.stack([present[n] for n in names])
        empty_items = np.flatnonzero(~mask.any(axis=0))
        if empty_items.size:
            item = as_label(id_array[empty_items[0]])
            raise ValueError(
                f"Item {item!r} (row {empty_items[0]}) has no component at all "
                f"({empty_items.size} such item(s)); an item needs at least one embedding."
            )
        empty_components = [n for n in names if not present[n].any()]
        if empty_components:
            raise ValueError(f"Component(s) {empty_components} are missing for every item.")

        if normalize:
            for name in names:
                arrays[name] = normalize_rows(
                    arrays[name],
                    what=f"Component {name!r}",
                    labels=id_array,
                    skip=~present[name],
                    hint="Mark it missing with masks= instead.",
                )

        if store != np.float32:  # stored rounded; the Gram and means describe the stored rows
            arrays = {
                n: arrays[n] if arrays[n].dtype == store else arrays[n].astype(store) for n in names
            }
        component_list = [arrays[n] for n in names]
        gram = item_gram(component_list) if _saved is None else _saved.gram
        for c, name in enumerate(names):
            diag = np.where(present[name], gram[c, c], np.float32(1.0))
            what = f"Component {name!r}"
            if _saved is not None:
                what += f" ({_saved.component_files[c]}; Gram entries of {_saved.gram_file})"
            check_unit_rows(diag, what=what, labels=id_array)
        if _saved is None:
            counts = mask.sum(axis=1)
            means = np.stack(
                [
                    component_mean(E) * (n_items / k)
                    for E, k in zip(component_list, counts, strict=True)
                ]
            )
        else:
            _check_saved_means(names, mask, _saved)
            means = _saved.means

        enc: dict[str, str | None] = {}
        for name in names:
            given = None if encoder_ids is None else encoder_ids.get(name)
            enc[name] = given if given is not None else found_ids[name]
        if encoder_ids is not None:
            unknown = sorted(set(encoder_ids) - set(names))
            if unknown:
                raise ValueError(
                    f"encoder_ids names unknown components {unknown}; components are {list(names)}."
                )

        lexical_arrays = _checked_lexical(lexical, names, id_array)

        self._names = names
        self._lexical = lexical_arrays
        self._arrays = {n: _readonly(arrays[n]) for n in names}
        self._ids = _readonly(id_array)
        self._gram = _readonly(np.asarray(gram, dtype=np.float32))
        self._means = _readonly(np.asarray(means, dtype=np.float64))
        self._mask = _readonly(mask)
        self._encoder_ids = enc
        self._modalities = mods
        self._errors: list[dict[str, Any]] = []
        self._source: tuple[str, bool, str] | None = None
        self._index: CatalogIndex | None = None

    @classmethod
    def from_arrays(
        cls,
        components: Mapping[str, np.ndarray],
        ids: Sequence[Any] | np.ndarray | None = None,
        *,
        encoder_ids: Mapping[str, str | None] | None = None,
        normalize: bool = False,
        masks: Mapping[str, Any] | None = None,
        modalities: Mapping[str, str | None] | None = None,
        dtype: str = "float32",
        lexical: Mapping[str, Any] | None = None,
    ) -> Catalog:
        """Build a catalog from precomputed embeddings.

        Parameters
        ----------
        components : mapping of str to ndarray of shape (n_items, dim)
            Component name to embeddings, in the order the components should have.
        ids : sequence, optional
            One unique id per item; ``0 .. n_items - 1`` when omitted.
        encoder_ids : mapping of str to str, optional
            The producing encoder's fingerprint per component (taken from
            encoder outputs automatically).
        normalize : bool, default=False
            L2-normalise rows instead of rejecting non-unit rows.
        masks : mapping of str to array-like of bool of shape (n_items,), optional
            Which items have each component (True = present). Rows of absent
            components must be all zero or all NaN; an all-NaN row marks its
            component absent even without a mask.
        modalities : mapping of str to {"text", "image", "mixed"}, optional
            What each component embeds (taken from encoder outputs
            automatically); fusion estimators refuse image queries when no
            component is an image one.
        dtype : {"float32", "float16"}, default="float32"
            Storage of the component matrices. ``"float16"`` halves memory
            and disk (and the bytes a scan reads); rows are rounded once when
            stored, the Gram entries and means are float32/float64 values of
            the rounded rows, and scoring accumulates in float32 (see
            :doc:`/backends`).
        lexical : mapping of str to scipy sparse matrix of shape (n_items, n_terms), optional
            Lexical components (see :doc:`/lexical`): sparse non-negative
            document-term weights, e.g. BM25 weights from
            :meth:`skfusion.encoders.BM25Encoder.document_weights`, one row
            per item in id order. An item with an empty row lacks that
            component. Names must differ from the dense components' names.

        Returns
        -------
        Catalog
        """
        return cls(
            components,
            ids,
            encoder_ids=encoder_ids,
            normalize=normalize,
            masks=masks,
            modalities=modalities,
            dtype=dtype,
            lexical=lexical,
        )

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        encoders: Mapping[str, Any],
        *,
        id_column: str | None = "id",
        on_error: Literal["raise", "skip"] = "raise",
        missing: Literal["mask", "error"] = "mask",
    ) -> Catalog:
        """Embed the columns of a DataFrame, one encoder per component.

        Every cell is checked before encoding. A missing cell (None, NaN,
        ``pd.NA``, ``pd.NaT``, or an empty or whitespace-only string or
        ``bytes``) is masked by default: it is not sent to the encoder, the
        item keeps its other components and that component's row is zero
        with its mask False (``catalog.mask``; ``(~catalog.mask).sum(axis=1)``
        counts the masked cells of each component). ``bytes`` that are not
        valid UTF-8 are rejected (valid UTF-8 ``bytes`` are decoded to
        ``str``). An item whose id repeats an earlier row's is rejected; the
        first row keeps the id. Encoders then report items they cannot
        embed (an image that cannot be read, downloaded or decoded, a value
        of the wrong type): encoders with a ``transform_partial`` method
        (:class:`~skfusion.encoders.ClipEncoder`) report them directly;
        for other encoders a failed ``transform`` is retried item by item to
        find the culprits. Each component's modality is what its encoder
        declares (a ``TextEncoder`` embeds text; a ``ClipEncoder`` with
        ``modality="text"`` or ``"image"``; unknown otherwise).

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per item.
        encoders : mapping of str to encoder or (column, encoder)
            Component name to the encoder that embeds it. The component is
            read from the column of the same name, or from ``column`` when a
            ``(column, encoder)`` pair is given. Encoders are skfusion
            encoders or any transformer whose ``transform`` maps a list of
            column values to an (n, dim) array.
        id_column : str or None, default="id"
            The column holding item ids; None uses the frame's index (the row
            positions for a default ``RangeIndex``).
        on_error : {"raise", "skip"}, default="raise"
            ``"raise"``: the first rejected item raises
            :class:`~skfusion.CatalogBuildError` (a ``ValueError``)
            naming the item id, the component and the reason. ``"skip"``:
            rejected items are left out of every component (the catalog's
            rows stay aligned) and listed in ``errors_``. A whole item is
            dropped even when only one of its components failed to encode.
        missing : {"mask", "error"}, default="mask"
            ``"mask"``: a missing cell masks its component for that item
            (see ``masks=`` in :meth:`from_arrays`) and is not an error; an
            item whose every component is missing cannot be ranked and is
            rejected (under ``on_error``, reason ``"every component is
            missing"``, component None). ``"error"``: a missing cell
            rejects its item under ``on_error`` (the only behaviour before
            ``missing`` existed).

        Returns
        -------
        Catalog
            With ``errors_``: one row per rejection (``id``, ``component``,
            ``reason``; ``component`` is None for a duplicated id), empty
            when nothing was rejected.

        Raises
        ------
        ValueError
            A missing column (under either policy), a rejected item under
            ``on_error="raise"``, every item rejected, or (under
            ``missing="mask"``) a component missing for every kept item.
        """
        return _build.from_frame(
            cls, frame, encoders, id_column=id_column, on_error=on_error, missing=missing
        )

    @classmethod
    def build(
        cls,
        frame: Any,
        encoders: Mapping[str, Any],
        path: str | os.PathLike[str],
        *,
        id_column: str | None = "id",
        on_error: Literal["raise", "skip"] = "raise",
        shard_size: int = 1024,
        resume: bool = True,
        missing: Literal["mask", "error"] = "mask",
    ) -> Catalog:
        """Embed a DataFrame into a catalog on disk, resumably and atomically.

        Like :meth:`from_frame`, but the rows are encoded in shards of
        ``shard_size`` rows; each finished shard (embeddings, masks, row ids,
        rejections and its row range) is written atomically to
        ``path/.shards/`` with its SHA-256 beside it; on resume a shard that
        fails its checksum (damaged, truncated, empty) or holds another row
        range (swapped) is encoded again. Run again
        with the same inputs after a crash or a kill, the build skips the
        finished shards. At the end the catalog is assembled, written to
        ``path`` with :meth:`save` (atomically; the shards are removed) and
        loaded back. Running it once more with the same inputs returns the
        finished catalog without encoding anything.

        ``path/.shards/fingerprint.json`` records a SHA-256 of the inputs
        (ids, the contents of the encoded columns, each encoder's class,
        parameters and model fingerprint, ``on_error``, ``missing`` and
        ``shard_size``); resuming with different inputs raises, and so does
        resuming a build started before ``missing`` existed (its shards have
        no masks). Images named by a path are
        identified by the path, not the file's bytes.

        Parameters
        ----------
        frame, encoders, id_column, on_error, missing
            As for :meth:`from_frame`.
        path : path-like
            The catalog directory to create.
        shard_size : int, default=1024
            Rows per shard.
        resume : bool, default=True
            Reuse the finished shards (or the finished catalog) of an
            earlier run with the same inputs. False discards any earlier
            progress, and replaces a catalog already at ``path``.

        Returns
        -------
        Catalog
            ``Catalog.load(path)``, with ``errors_``.

        Raises
        ------
        ValueError
            As :meth:`from_frame`; resuming a build of different inputs.
        FileExistsError
            ``path`` holds something else than this build (another catalog
            when ``resume``, or unrelated files).
        """
        return _build.build(
            cls,
            frame,
            encoders,
            path,
            id_column=id_column,
            on_error=on_error,
            shard_size=shard_size,
            resume=resume,
            missing=missing,
        )

    # -- sharing ----------------------------------------------------------------------
    def __sklearn_clone__(self) -> Catalog:
        return self

    def __copy__(self) -> Catalog:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Catalog:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A catalog loaded from disk pickles as a reference to its directory (a few
        # hundred bytes, reopened memory-mapped), so pickled estimators and joblib
        # workers never carry its arrays; an in-memory catalog pickles its arrays.
        if self._source is not None:
            index = self._index if self._index is not None and self._index.source is None else None
            return (_storage.reopen, (type(self), *self._source, index))
        return super().__reduce_ex__(protocol)

    def __getstate__(self) -> dict[str, Any]:
        # The derived-data store (locks, caches) is never pickled: an unpickled catalog
        # starts with an empty one and recomputes entries on demand.
        state = dict(self.__dict__)
        state.pop(STATE_ATTRIBUTE, None)
        return state

    def _derived(self) -> DerivedStore:
        """This catalog's store of derived data (``skfusion/catalog/_derived.py``).

        Statistics and caches computed from the arrays (the covariances here;
        fused vectors, similarity blocks and agreement statistics in
        :mod:`skfusion.fusion`) are kept in it, so they are shared by clones,
        go away with the catalog and are never pickled.
        """
        return store_of(self)

    # -- accessors --------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Component names, in order."""
        return self._names

    @property
    def lexical_names(self) -> tuple[str, ...]:
        """Lexical component names, in order (empty without lexical components)."""
        return tuple(self._lexical)

    @property
    def lexical(self) -> dict[str, Any]:
        """Lexical component name to its read-only (n_items, n_terms) float32 CSR array."""
        return dict(self._lexical)

    @property
    def components(self) -> dict[str, np.ndarray]:
        """Component name to its read-only (n_items, dim) float32 matrix."""
        return dict(self._arrays)

    @property
    def ids(self) -> np.ndarray:
        """Item ids, in row order."""
        return self._ids

    @property
    def gram(self) -> np.ndarray:
        """Per-item Gram entries, shape (n_components, n_components, n_items)."""
        return self._gram

    @property
    def means(self) -> np.ndarray:
        """Component mean vectors, shape (n_components, dim), float64."""
        return self._means

    @property
    def mask(self) -> np.ndarray:
        """Which items have each component: read-only bool array (n_components, n_items)."""
        return self._mask

    @property
    def has_missing(self) -> bool:
        """Whether some item lacks some component."""
        return not bool(self._mask.all())

    @property
    def modalities(self) -> dict[str, str | None]:
        """Component name to what it embeds: "text", "image", "mixed" or None (unknown)."""
        return dict(self._modalities)

    @property
    def encoder_ids(self) -> dict[str, str | None]:
        """Component name to the fingerprint of the encoder that produced it."""
        return dict(self._encoder_ids)

    @property
    def errors_(self) -> Any:
        """Items rejected while building: a DataFrame with ``id``, ``component``, ``reason``.

        Filled by :meth:`from_frame` and :meth:`build` with ``on_error="skip"``
        and kept by :meth:`save` / :meth:`load`; empty (with those columns)
        otherwise. Requires pandas.
        """
        import pandas as pd

        records = getattr(self, "_errors", [])
        return pd.DataFrame.from_records(records, columns=["id", "component", "reason"])

    @property
    def n_items(self) -> int:
        return int(self._ids.shape[0])

    @property
    def n_components(self) -> int:
        return len(self._names)

    @property
    def dim(self) -> int:
        return int(self._arrays[self._names[0]].shape[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        """Storage dtype of the component matrices (float32 or float16)."""
        return self._arrays[self._names[0]].dtype

    @property
    def nbytes(self) -> int:
        """Bytes held by the component matrices."""
        return sum(a.nbytes for a in self._arrays.values())

    def matrices(self) -> list[np.ndarray]:
        """The component matrices as a list, in component order."""
        return [self._arrays[n] for n in self._names]

    def global_weights(self) -> np.ndarray:
        """``G_c``: the mean pairwise cosine of each component over all N² pairs.

        Equal to ``‖mean_c‖²`` (docs/strategies.md), so it costs O(C·d) here.
        """
        return global_weights_from_means(self._means)

    def covariances(self) -> np.ndarray:
        """``Σ_c = (1/N_c) Σ_i (e_ic − m_c)(e_ic − m_c)ᵀ`` over the items that have component c.

        With the means this gives the exact mean and variance of any query's
        similarities over the catalog, ``μ = q·m_c`` and ``σ² = qᵀ Σ_c q``,
        without a pass over the items at query time. Computed on first use
        (one centred ``Eᵀ E`` product per component) and kept with the
        catalog's derived data (not pickled).

        Returns
        -------
        ndarray of shape (n_components, dim, dim), float64, read-only
        """

        def build() -> np.ndarray:
            return _readonly(
                np.stack(
                    [
                        component_covariance(E, self._means[c], self._mask[c])
                        for c, E in enumerate(self.matrices())
                    ]
                )
            )

        covariances: np.ndarray = self._derived().get_or_build("catalog.covariances", build)
        return covariances

    # -- approximate search ------------------------------------------------------------
    def build_index(
        self,
        kind: str = "ivf",
        *,
        n_lists: int | None = None,
        n_probe: int | None = None,
        encoding: str = "sq8",
        random_state: int | None = 0,
        target_recall: float | None = None,
        recall_k: int = 10,
        calibration_queries: Any = None,
    ) -> Catalog:
        """Build the ANN indexes that ``approximate=True`` fusion estimators search.

        One inner-product index per component, over the items that have the
        component (item positions as labels), and one static *fused* index
        over every item's global-weight fusion
        ``f_i = Σ_c G_c e_ic / ‖Σ_c G_c e_ic‖`` (``G_c`` from
        :meth:`global_weights`, recorded normalised to sum 1): the same unit
        vectors, bit for bit, that static fusion with these weights
        precomputes. The indexes only
        propose candidates: the estimators re-score every candidate exactly
        (see :doc:`/approximate`). The index belongs to the catalog:
        :meth:`save` writes it with the identity of this catalog,
        :meth:`load` opens its files and parses them on the first search
        (refusing an index built for another catalog), and clones share it. Requires faiss
        (``pip install "skfusion[ann]"``).

        Parameters
        ----------
        kind : {"ivf", "hnsw", "flat"}, default="ivf"
            ``"ivf"``: an inverted file (spherical k-means lists, faiss
            ``IVF``); ``"hnsw"``: a navigable small-world graph (slow to
            build on large catalogs); ``"flat"``: exhaustive search (exact
            candidates, no speed-up; for checks and small catalogs).
        n_lists : int, optional
            IVF lists per index; ``round(sqrt(n))`` for the ``n`` items of
            the sparsest component (at least 39 items per list) when omitted.
        n_probe : int, optional
            Search breadth: IVF lists probed per query (default
            ``min(n_lists, 32)``) or HNSW ``efSearch`` (default 128). It can
            be changed later through ``catalog.ann_index.n_probe``.
        encoding : {"sq8", "fp16", "flat"}, default="sq8"
            How an IVF index stores vectors: 8-bit scalar quantisation (a
            quarter of float32's memory), float16, or float32. Quantisation
            only affects which candidates are proposed, never the returned
            scores.
        random_state : int or None, default=0
            Seed of the k-means training sample and initialisation (and of
            the calibration's pseudo-queries).
        target_recall : float in (0, 1], optional
            Calibrate the search parameters: measure, on calibration
            queries, recall@``recall_k`` of the candidates against exact
            search, and keep the cheapest ``n_probe`` (unless ``n_probe`` is
            given) and candidate count reaching the target. A query's recall
            is the worst over the exact top-``recall_k`` lists of each
            component and of the static fusion (see :doc:`/approximate`).
            The choice, the measured recall, its sample size and a 95%
            Wilson lower bound are kept in ``ann_index.calibration`` (saved
            with the catalog), and ``approximate=True`` estimators with
            ``n_candidates=None`` use the calibrated count. A warning says
            when no setting reaches the target (the best one is kept).
            None (the default) keeps the given or default parameters.
        recall_k : int, default=10
            The ``k`` of the calibrated recall@k.
        calibration_queries : array-like of shape (n_queries, dim), optional
            Queries to calibrate on (normalised here). By default 256
            pseudo-queries are drawn from the catalog: a random item's
            component plus Gaussian noise, renormalised, at cosine ≈ 0.4 to
            that component. Only with ``target_recall``.

        Returns
        -------
        Catalog
            ``self``, with :attr:`ann_index` set.

        Raises
        ------
        ImportError
            faiss is not installed.
        ValueError
            An unknown ``kind`` or ``encoding``, a non-positive ``n_lists``
            or ``n_probe``, more lists than items, ``target_recall`` outside
            (0, 1], or calibration queries of the wrong shape or non-finite.
        """
        self._index = build_catalog_index(
            self.matrices(),
            np.asarray(self._mask),
            self.global_weights(),
            self._gram,
            kind=kind,
            n_lists=n_lists,
            n_probe=n_probe,
            encoding=encoding,
            random_state=random_state,
            target_recall=target_recall,
            recall_k=recall_k,
            calibration_queries=calibration_queries,
        )
        return self

    @property
    def ann_index(self) -> CatalogIndex | None:
        """The ANN index from :meth:`build_index` (or :meth:`load`), or None."""
        return self._index

    def component_index(self, names: Iterable[str]) -> list[int]:
        """Positions of the given component names; unknown names raise ``ValueError``."""
        out = []
        for name in names:
            if name not in self._names:
                raise ValueError(
                    f"Unknown component {name!r}; this catalog's components are "
                    f"{list(self._names)}."
                )
            out.append(self._names.index(name))
        return out

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        lexical = f", lexical={list(self._lexical)}" if self._lexical else ""
        return (
            f"Catalog(n_items={self.n_items}, dim={self.dim}, components={list(self._names)}"
            f"{lexical})"
        )

    # -- persistence ------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the catalog to the directory ``path``.

        The layout is plain ``.npy`` files (no pickle) plus ``manifest.json``
        with the schema version, shapes, encoder fingerprints and a SHA-256
        checksum of each file. The directory is written beside its
        destination (with the permissions the umask gives a new directory)
        and swapped into place atomically under a lock on the parent
        directory, so ``path`` holds the old or the new complete catalog at
        every instant and concurrent saves to one path take turns. An ANN
        index from :meth:`build_index` is saved too (one checksummed faiss
        file per index, bound to this catalog's ids and components).

        Parameters
        ----------
        path : path-like
            Destination directory; must not exist unless ``overwrite``.
        overwrite : bool, default=False
            Replace an existing directory, which must be empty or hold a
            skfusion catalog (its manifest's files, and the ``build.json``
            and ``.shards`` of :meth:`build`).

        Returns
        -------
        pathlib.Path
            The directory written.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False, or ``path`` holds
            something other than a catalog (the message names what).
        """
        return self._write(Path(path), overwrite=overwrite, extra={})

    def _write(self, dest: Path, *, overwrite: bool, extra: Mapping[str, str]) -> Path:
        """:meth:`save`, plus ``extra`` text files (name to content) in the directory."""
        return _storage.write(self, dest, overwrite=overwrite, extra=extra)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True
    ) -> Catalog:
        """Read a catalog written by :meth:`save`.

        Everything in the directory is treated as untrusted input (see
        :doc:`/catalog`): the manifest is checked key by key; only plain file
        names inside the directory, each used once, are opened (a symbolic
        link leaving the directory is refused); ``.npy`` headers must match
        the manifest and the file sizes before anything is allocated; with
        ``verify`` every file's SHA-256 is checked and the components are
        validated like :meth:`from_arrays` (finite values, unit rows or zero
        rows for missing components, Gram entries and means equal to the
        ones the rows give), block by block. A catalog left at
        ``.<name>.old`` by a save interrupted between its renames is moved
        back first.

        Parameters
        ----------
        path : path-like
            The catalog directory.
        mmap : bool, default=True
            Memory-map the component matrices read-only instead of reading
            them into memory; catalogs larger than RAM stay searchable.
        verify : bool, default=True
            Check every file's SHA-256 against the manifest and the component
            values against the statistics (reads each file once or twice,
            :data:`~skfusion._validation.REDUCTION_BLOCK` rows at a time).
            False skips both, for directories you trust: the manifest, file
            names, headers, sizes, ids and the statistics' own values are
            still checked, and the masks come from the Gram diagonal.

        Returns
        -------
        Catalog

        Raises
        ------
        ValueError
            Not a skfusion catalog, an invalid manifest (naming
            ``manifest.json`` and the key), an unknown schema version, a file
            name that leaves the directory, a missing file, a checksum,
            header, size or shape mismatch, non-finite or non-unit rows or
            statistics inconsistent with the components (naming the file and
            the item), or an ANN index built for another catalog.
        """
        return _storage.load(cls, path, mmap=mmap, checksums=bool(verify), contents=bool(verify))
