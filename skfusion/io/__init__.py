"""Interoperability with trec_eval (run and qrels files) and BEIR datasets.

Runs and judgments in memory are plain nested dictionaries, as with
``pytrec_eval``: a run maps query id → item id → score, qrels map query id →
item id → integer grade.
"""

from .._warnings import deprecated_attributes
from ._beir import load_beir, save_beir
from ._trec import (
    matrix_to_qrels,
    qrels_to_matrix,
    read_trec_qrels,
    read_trec_run,
    run_from_scores,
    run_from_topk,
    write_trec_qrels,
    write_trec_run,
)

__all__ = [
    "load_beir",
    "matrix_to_qrels",
    "qrels_to_matrix",
    "read_trec_qrels",
    "read_trec_run",
    "run_from_scores",
    "run_from_topk",
    "save_beir",
    "write_trec_qrels",
    "write_trec_run",
]

#: Deprecated name -> (private module, replacement named in the FutureWarning).
_DEPRECATED: dict[str, tuple[str, str]] = {
    "Run": ("._trec", "dict[str, dict[str, float]] (query id -> item id -> score)"),
    "Qrels": ("._trec", "dict[str, dict[str, int]] (query id -> item id -> grade)"),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
