"""Array types shared by encoders, catalogs and fusion estimators."""

from __future__ import annotations

from typing import Any

import numpy as np


class EncodedArray(np.ndarray):
    """A float array of embeddings that remembers which encoder produced it.

    Encoders return this ndarray subclass so that a fusion estimator can
    refuse queries embedded by a different model than its catalog. It
    behaves as a plain :class:`numpy.ndarray` everywhere else; slicing keeps
    the ``encoder_id``.

    Parameters
    ----------
    data : array-like
        The embeddings.
    encoder_id : str or None
        The producing encoder's fingerprint (see ``ClipEncoder.encoder_id_``).
    modality : {"text", "image", "mixed"} or None
        What the rows embed: all texts, all images, or both (per row or
        within query mixtures); None when unknown.
    """

    encoder_id: str | None
    modality: str | None

    def __new__(
        cls, data: Any, encoder_id: str | None = None, modality: str | None = None
    ) -> EncodedArray:
        obj = np.asarray(data).view(cls)
        obj.encoder_id = encoder_id
        obj.modality = modality
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.encoder_id = getattr(obj, "encoder_id", None)
        self.modality = getattr(obj, "modality", None)

    def __reduce__(self) -> Any:
        # Keep the tags through pickling (joblib workers, GridSearchCV).
        reduced: Any = super().__reduce__()
        reconstruct, args, state = reduced
        return reconstruct, args, (state, self.encoder_id, self.modality)

    def __setstate__(self, state: Any) -> None:
        base_state, encoder_id, *rest = state
        super().__setstate__(base_state)
        self.encoder_id = encoder_id
        self.modality = rest[0] if rest else None


def encoder_id_of(X: Any) -> str | None:
    """Return the encoder fingerprint attached to ``X``, or None."""
    return getattr(X, "encoder_id", None)


def modality_of(X: Any) -> str | None:
    """Return the modality tag attached to ``X`` ("text", "image", "mixed"), or None."""
    return getattr(X, "modality", None)


def combine_modalities(flags: Any) -> str | None:
    """ "text", "image" or "mixed" for a sequence of per-item "text"/"image" tags."""
    kinds = {f for f in flags if f is not None}
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "mixed"
