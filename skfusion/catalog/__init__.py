"""The item catalog: named component embeddings, their statistics, storage and indexes.

:class:`Catalog` (``_catalog``) holds the arrays, masks, ids and modalities and
the statistics computed from them; ``_storage`` writes and reads catalog
directories (manifest, checksums, atomic replacement, pickling by reference);
``_build`` builds catalogs from DataFrames (the bad-input policy and resumable,
sharded builds); ``_index`` holds the ANN indexes.
"""

from ._catalog import Catalog

__all__ = ["Catalog"]
