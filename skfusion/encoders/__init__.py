"""Encoders turning texts and images into L2-normalised embeddings.

* :class:`ClipEncoder` embeds texts and images into a CLIP-family model's
  shared space.
* :class:`TextEncoder` embeds texts with any transformers text model and a
  pooling rule (e.g. sentence-transformers checkpoints).
* :class:`MixtureEncoder` embeds weighted mixtures of texts and images
  (``"2:red shoes + photo.jpg - 0.5:laces"``) as single queries.

Both are stateless scikit-learn transformers returning an
:class:`~skfusion._arrays.EncodedArray` tagged with the encoder's fingerprint.
Loaded models live in a process-wide cache; :func:`clear_cache` empties it.
"""

from ._cache import clear_cache
from ._image_io import ImageLoadError
from .clip import ClipEncoder
from .mixture import MixtureEncoder, parse_query_mixture
from .text import TextEncoder

__all__ = [
    "ClipEncoder",
    "ImageLoadError",
    "MixtureEncoder",
    "TextEncoder",
    "clear_cache",
    "parse_query_mixture",
]
