"""The encoders' base class and their input checks and output normalisation.

:class:`BaseEncoder` composes the encoders' concerns, each in its own module:
model handling (device, precision, dtype, model names and fingerprints) in
:mod:`._model`, tokenising and batching in :mod:`._tokens`, progress reporting
in :mod:`._progress`. Their names are imported here too, so ``from ._base import
...`` keeps working.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context

from .._arrays import EncodedArray
from .._warnings import WarnOnceMixin
from . import _cache
from ._model import display_name as display_name
from ._model import dtype_kwargs as dtype_kwargs
from ._model import encoder_device
from ._model import fingerprint_hex as fingerprint_hex
from ._model import resolve_precision as resolve_precision
from ._model import torch_dtype as torch_dtype
from ._progress import progress as progress
from ._tokens import CPU_BATCH_TOKENS as CPU_BATCH_TOKENS
from ._tokens import TokenizerEntry as TokenizerEntry
from ._tokens import batches as batches
from ._tokens import context_length as context_length
from ._tokens import length_batches as length_batches
from ._tokens import load_tokenizer as load_tokenizer
from ._tokens import resolve_batch_tokens as resolve_batch_tokens
from ._tokens import token_lengths as token_lengths
from ._tokens import tokenize as tokenize

__all__ = ["BaseEncoder"]


def as_item_list(X: Any) -> list[Any]:
    """Turn the encoders' input into a list of items.

    Accepts any iterable of items (list, tuple, 1-D array, pandas Series), a
    2-D array or DataFrame with exactly one column.

    Parameters
    ----------
    X : iterable
        The input.

    Returns
    -------
    list
        The items in order.

    Raises
    ------
    TypeError
        If ``X`` is a single string, path or image rather than a collection,
        or is not iterable.
    ValueError
        If ``X`` is empty or has more than one column.
    """
    if isinstance(X, str | bytes | Image.Image | os.PathLike):
        raise TypeError(
            f"X must be a collection of items (e.g. a list), got a single {type(X).__name__}; "
            "wrap it in a list."
        )
    ndim = getattr(X, "ndim", None)
    shape = getattr(X, "shape", None)
    if ndim == 2 and shape is not None:
        if shape[1] != 1:
            raise ValueError(
                f"X must be one-dimensional or have a single column; got shape {tuple(shape)}."
            )
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X, dtype=object)[:, 0]
    elif ndim is not None and ndim > 2:
        raise ValueError(f"X must be one-dimensional; got shape {tuple(shape or ())}.")
    try:
        items = list(X)
    except TypeError as exc:
        raise TypeError(f"X must be an iterable of items, got {type(X).__name__}.") from exc
    if not items:
        raise ValueError("X is empty: at least one item is required.")
    return items


class BaseEncoder(WarnOnceMixin, TransformerMixin, BaseEstimator):
    """Common base of :class:`ClipEncoder` and :class:`TextEncoder`.

    Subclasses implement ``_model_entry`` (load through the cache and return
    an object with ``fingerprint`` and ``embedding_dim``) and ``_encode``.
    """

    _kind: ClassVar[str] = "encoder"
    _feature_prefix: ClassVar[str] = "emb"

    # Set by subclasses' __init__.
    model: str | os.PathLike[str]
    device: str
    precision: str
    batch_size: int
    show_progress: bool

    # -- loading ---------------------------------------------------------------

    @staticmethod
    def clear_cache() -> None:
        """Drop every cached model, tokenizer and processor (shared by all encoders).

        Encoders keep working afterwards: they reload on their next use.
        Memory is released once no other reference to the models remains.

        Examples
        --------
        >>> from skfusion import TextEncoder
        >>> TextEncoder.clear_cache()
        """
        _cache.clear_cache()

    def _validate_params(self) -> None:
        super()._validate_params()
        encoder_device(self.device)

    def _resolved(self) -> tuple[str, str]:
        device = encoder_device(self.device)
        return device, resolve_precision(self.precision, device)

    def _model_entry(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_fitted(self, entry: Any) -> None:
        device, dtype_name = self._resolved()
        self.encoder_id_ = f"{self._kind}:{display_name(self.model)}:{entry.fingerprint}"
        self.embedding_dim_ = int(entry.embedding_dim)
        self.device_ = device
        self.precision_ = dtype_name

    # -- sklearn API -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None) -> BaseEncoder:
        """Validate the parameters and load the model.

        The encoder is stateless: ``fit`` learns nothing from ``X``. It loads
        the model (through the process-wide cache) and records the fitted
        attributes.

        Parameters
        ----------
        X : ignored
            Not used, present for API consistency.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self
            The encoder, with ``encoder_id_``, ``embedding_dim_``, ``device_``
            and ``precision_`` set.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter is invalid.
        """
        self._set_fitted(self._model_entry())
        return self

    def get_encoder_id(self) -> str:
        """Return the fingerprint of the encoder's model, loading it if needed.

        Returns
        -------
        str
            ``"<kind>:<model name>:<12 hex characters>"``; see the class
            documentation for what the hash covers.
        """
        self._validate_params()
        self._set_fitted(self._model_entry())
        return self.encoder_id_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names, ``<prefix>0`` to ``<prefix><dim - 1>``.

        Parameters
        ----------
        input_features : ignored
            Not used, present for API consistency.

        Returns
        -------
        numpy.ndarray of str
            One name per embedding dimension.
        """
        dim = getattr(self, "embedding_dim_", None)
        if dim is None:
            self._validate_params()
            dim = int(self._model_entry().embedding_dim)
        return np.asarray([f"{self._feature_prefix}{i}" for i in range(dim)], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = []
        return tags

    # -- warnings --------------------------------------------------------------

    def _warning_owner(self) -> str:
        return f"{type(self).__name__}({display_name(self.model)!r})"

    # -- output ----------------------------------------------------------------

    def _finish(self, out: np.ndarray, entry: Any, modality: str | None = None) -> EncodedArray:
        """Check, L2-normalise and wrap the raw embeddings."""
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise FloatingPointError(
                f"The model produced non-finite values for X[{bad}] "
                f"({int((~finite).sum())} row(s) affected); try precision='float32'."
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        if zero.any():
            bad = int(np.flatnonzero(zero)[0])
            raise FloatingPointError(f"The model produced an all-zero embedding for X[{bad}].")
        out /= norms
        self._set_fitted(entry)
        return EncodedArray(np.ascontiguousarray(out, dtype=np.float32), self.encoder_id_, modality)
