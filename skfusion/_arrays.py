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
    """

    encoder_id: str | None

    def __new__(cls, data: Any, encoder_id: str | None = None) -> EncodedArray:
        obj = np.asarray(data).view(cls)
        obj.encoder_id = encoder_id
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.encoder_id = getattr(obj, "encoder_id", None)

    def __reduce__(self) -> Any:
        # Keep ``encoder_id`` through pickling (joblib workers, GridSearchCV).
        reduced: Any = super().__reduce__()
        reconstruct, args, state = reduced
        return reconstruct, args, (state, self.encoder_id)

    def __setstate__(self, state: Any) -> None:
        base_state, encoder_id = state
        super().__setstate__(base_state)
        self.encoder_id = encoder_id


def encoder_id_of(X: Any) -> str | None:
    """Return the encoder fingerprint attached to ``X``, or None."""
    return getattr(X, "encoder_id", None)
