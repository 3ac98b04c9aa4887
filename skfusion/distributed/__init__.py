"""Running skfusion beyond one machine on Dask (optional extra ``skfusion[dask]``).

- :func:`encode_parquet` embeds a catalog stored as Parquet across a
  ``dask.distributed`` cluster, one task per shard, resumable after failed
  tasks, into a catalog directory that :meth:`skfusion.Catalog.load` reads.
- :func:`save_shards` and :func:`sharded_kneighbors` rank a catalog split
  into shards exactly, one task per shard, merging per-shard top-k lists.
- Grid searches run on a cluster through joblib's Dask backend; see
  ``docs/distributed.md``.

Importing this module needs neither dask nor pyarrow; calling its functions
does (``pip install "skfusion[dask]"``).
"""

from ._encode import ShardSchemaError, encode_parquet
from ._search import save_shards, sharded_kneighbors

__all__ = ["ShardSchemaError", "encode_parquet", "save_shards", "sharded_kneighbors"]
