"""Interoperability with trec_eval (run and qrels files) and BEIR datasets."""

from ._beir import load_beir, save_beir
from ._trec import (
    Qrels,
    Run,
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
    "Qrels",
    "Run",
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
