"""Weighted query mixtures: several texts and images, added and subtracted, as one query."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

from .._arrays import EncodedArray, combine_modalities, encoder_id_of
from ._image_io import is_image_reference

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
# A term separator is " + " or " - " with spaces around it, so hyphens inside
# words ("t-shirt") and paths are left alone.
_SEPARATOR = re.compile(r"\s+([+-])\s+")
_WEIGHT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*:(.*)$", re.S)


def parse_query_mixture(spec: str) -> list[tuple[float, str]]:
    """Split a mixture like ``"2:red shoes + photo.jpg - 0.5:laces"`` into weighted terms.

    Terms are separated by `` + `` or `` - `` (spaces around the sign; the
    first term may start with ``-``). A term may start with ``weight:``; the
    default weight is 1, and a ``-`` separator negates it. The syntax follows
    rclip's query arithmetic.

    Parameters
    ----------
    spec : str

    Returns
    -------
    list of (weight, text) tuples
        The texts are stripped; whether each is an image is decided later.

    Raises
    ------
    ValueError
        An empty spec or an empty term.

    Examples
    --------
    >>> parse_query_mixture("2:red shoes + photo.jpg - 0.5:laces")
    [(2.0, 'red shoes'), (1.0, 'photo.jpg'), (-0.5, 'laces')]
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"A query mixture must be a non-empty string, got {spec!r}.")
    text = spec.strip()
    sign = 1.0
    if text.startswith("- "):
        sign, text = -1.0, text[2:]
    parts = _SEPARATOR.split(text)
    terms: list[tuple[float, str]] = []
    signs = [sign] + [1.0 if op == "+" else -1.0 for op in parts[1::2]]
    for term_sign, raw in zip(signs, parts[0::2], strict=True):
        weight = 1.0
        m = _WEIGHT.match(raw)
        if m:
            weight, raw = float(m.group(1)), m.group(2)
        content = raw.strip()
        if not content:
            raise ValueError(f"Query mixture {spec!r} has an empty term.")
        terms.append((term_sign * weight, content))
    return terms


class MixtureEncoder(TransformerMixin, BaseEstimator):
    """Encode query mixtures: ``normalize(Σ_t w_t · encode(term_t))``.

    Each query is a mixture of texts and images with weights, negative ones
    included — a string such as ``"2:red shoes + photo.jpg - 0.5:laces"``
    (see :func:`parse_query_mixture`) or a sequence of ``(weight, item)``
    pairs whose items are texts, image paths/URLs or PIL images. Every term
    is embedded by ``encoder`` (a :class:`~skfusion.ClipEncoder` with
    ``modality="auto"`` embeds both texts and images into one space), the
    weighted sum is L2-normalised, and the result is one unit query row,
    tagged with the encoder's fingerprint. A plain string without operators
    is a one-term mixture, so ordinary queries pass through unchanged.

    Parameters
    ----------
    encoder : transformer
        Embeds a list of terms; its output rows must be unit-norm.

    Examples
    --------
    >>> enc = MixtureEncoder(ClipEncoder("openai/clip-vit-base-patch32"))  # doctest: +SKIP
    >>> queries = ["red running shoes - 0.5:laces", [(1, "shoe.jpg"), (0.5, "blue")]]
    >>> enc.transform(queries)  # doctest: +SKIP
    """

    def __init__(self, encoder: Any):
        self.encoder = encoder

    def fit(self, X: Any = None, y: Any = None) -> MixtureEncoder:
        """Fit (load) the wrapped encoder; X and y are ignored."""
        self.encoder_ = clone(self.encoder).fit()
        return self

    def _terms(self, query: Any, index: int) -> list[tuple[float, Any]]:
        if isinstance(query, str):
            terms: list[tuple[float, Any]] = list(parse_query_mixture(query))
        elif isinstance(query, Sequence):
            terms = []
            for pair in query:
                if not (isinstance(pair, tuple | list) and len(pair) == 2):
                    raise ValueError(
                        f"X[{index}] must be a mixture string or a sequence of (weight, item) "
                        f"pairs; got the element {pair!r}."
                    )
                terms.append((float(pair[0]), pair[1]))
            if not terms:
                raise ValueError(f"X[{index}] is an empty mixture.")
        else:
            raise TypeError(
                f"X[{index}] is of type {type(query).__name__}; give a mixture string or a "
                "sequence of (weight, item) pairs."
            )
        for weight, item in terms:
            if not math.isfinite(weight):
                raise ValueError(f"X[{index}] has a non-finite weight {weight!r} for {item!r}.")
            looks_like_file = isinstance(item, str) and (
                "/" in item or os.sep in item or not any(ch.isspace() for ch in item)
            )
            if (
                looks_like_file
                and item.lower().endswith(_IMAGE_SUFFIXES)
                and not is_image_reference(item)
            ):
                raise ValueError(f"X[{index}]: image file {item!r} does not exist.")
        if all(w == 0 for w, _ in terms):
            raise ValueError(f"X[{index}]: every weight of the mixture is zero.")
        # TextEncoder has no modality: it embeds text only, like ClipEncoder(modality="text").
        if getattr(self.encoder, "modality", "text") == "text":
            images = [it for _, it in terms if is_image_reference(it)]
            if images:
                raise ValueError(
                    f"X[{index}] has the image term {images[0]!r}, but the encoder embeds text "
                    "only; use ClipEncoder(..., modality='auto')."
                )
        return terms

    def transform(self, X: Any) -> EncodedArray:
        """Embed each mixture as one unit row.

        Returns
        -------
        EncodedArray of shape (n_queries, dim), float32

        Raises
        ------
        ValueError
            Unparseable mixtures, all-zero weights, a missing image file, an
            image term for a text-only encoder, or terms that cancel exactly.
        """
        if not hasattr(self, "encoder_"):
            self.fit()
        queries = list(X) if not isinstance(X, str) else None
        if queries is None:
            raise TypeError("X must be a list of mixtures, not a single string.")
        per_query = [self._terms(q, i) for i, q in enumerate(queries)]
        items = [item for terms in per_query for _, item in terms]
        raw = self.encoder_.transform(items)
        encoder_id = encoder_id_of(raw) or getattr(self.encoder_, "encoder_id_", None)
        E = np.asarray(raw, dtype=np.float64)
        out = np.empty((len(queries), E.shape[1]), dtype=np.float32)
        row = 0
        for i, terms in enumerate(per_query):
            w = np.array([t[0] for t in terms])
            v = w @ E[row : row + len(terms)]
            row += len(terms)
            norm = float(np.linalg.norm(v))
            if norm < 1e-6:
                raise ValueError(f"X[{i}]: the weighted terms cancel out (a zero vector).")
            out[i] = v / norm
        kinds = ["image" if is_image_reference(item) else "text" for item in items]
        return EncodedArray(out, encoder_id, combine_modalities(kinds))
