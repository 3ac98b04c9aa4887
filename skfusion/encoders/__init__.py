"""Encoders turning texts and images into L2-normalised embeddings.

* :class:`ClipEncoder` embeds texts and images into a CLIP-family model's
  shared space.
* :class:`TextEncoder` embeds texts with any transformers text model and a
  pooling rule (e.g. sentence-transformers checkpoints).
* :class:`BM25Encoder` gives sparse BM25 query and document vectors for
  lexical components (no model; scikit-learn's ``CountVectorizer``).
* :class:`MixtureEncoder` embeds weighted mixtures of texts and images
  (``"2:red shoes + photo.jpg - 0.5:laces"``) as single queries.

The model encoders are stateless scikit-learn transformers returning an
:class:`~skfusion._arrays.EncodedArray` tagged with the encoder's fingerprint.
Loaded models live in a process-wide cache (``ClipEncoder.clear_cache()``
empties it).
"""

from .._warnings import deprecated_attributes
from ._image_io import ImageLoadError
from .clip import ClipEncoder
from .lexical import BM25Encoder
from .mixture import MixtureEncoder
from .text import TextEncoder

__all__ = [
    "BM25Encoder",
    "ClipEncoder",
    "ImageLoadError",
    "MixtureEncoder",
    "TextEncoder",
]

#: Deprecated name -> (private module, replacement named in the FutureWarning).
_DEPRECATED: dict[str, tuple[str, str]] = {
    "clear_cache": ("._cache", "ClipEncoder.clear_cache() (the cache all encoders share)"),
    "parse_query_mixture": (".mixture", "MixtureEncoder, which parses the same strings"),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
