"""The demo's lexical evidence: BM25 over each Cranfield document's joined fields."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..catalog import Catalog
from ..encoders.lexical import BM25Encoder
from ..metrics import ranking_metrics

#: The name of the lexical component the demo adds.
LEXICAL_NAME = "bm25"
#: Cranfield's fields, joined (in this order) into the text BM25 indexes.
TEXT_FIELDS = ("title", "abstract", "authors", "bibliography")


def bm25_encoder() -> BM25Encoder:
    """The demo's BM25: English stop words and Snowball stemming (PyStemmer)."""
    return BM25Encoder(stop_words="english", stemmer="english")


def with_bm25(catalog: Catalog, queries: Any) -> tuple[Catalog, Any]:
    """The catalog with a ``bm25`` lexical component, and queries widened to match.

    BM25 (:class:`~skfusion.encoders.BM25Encoder`, fitted on the documents)
    indexes each Cranfield document's fields joined by spaces, in the
    catalog's item order; the returned query matrix is
    ``[dense query embeddings | BM25 query term counts]`` (CSR), what
    ``make_union(dense_encoder, bm25)`` gives, so vector strategies use its
    dense columns and lexical-aware ones both. ``queries`` are the 225
    Cranfield queries in :func:`~skfusion.datasets.load_cranfield` order.
    """
    from ..datasets import load_cranfield

    data = load_cranfield()
    position = {str(item): row for row, item in enumerate(data.ids)}
    rows = [position[str(item)] for item in catalog.ids]
    fields = [list(getattr(data, f)) for f in TEXT_FIELDS]
    texts = [" ".join(str(f[row]) for f in fields if f[row]) for row in rows]
    encoder = bm25_encoder().fit(texts)
    names = catalog.names
    widened = Catalog.from_arrays(
        catalog.components,
        ids=catalog.ids,
        masks={name: np.asarray(catalog.mask[c]) for c, name in enumerate(names)},
        encoder_ids=catalog.encoder_ids,
        modalities=catalog.modalities,
        lexical={LEXICAL_NAME: encoder.document_weights(texts)},
    )
    dense = sp.csr_array(np.asarray(queries, dtype=np.float32))
    X = sp.hstack([dense, encoder.transform(list(data.queries))], format="csr")
    return widened, X


#: The dense + lexical row (the recommended default, choosing its lexical weight) and the
#: lexical evidence alone.
FUSED, LEXICAL_ROW = "agreement-cv", "bm25"


def lexical_comparisons(
    benchmark: Any,
    relevance: Any,
    metrics: tuple[str, ...],
    *,
    n_resamples: int,
    random_state: int,
) -> list[dict[str, Any]]:
    """Paired tests of the dense + lexical row against BM25 alone and the best dense row.

    The best dense-only row is the one with the highest mean of the first
    metric among the rows that use no lexical evidence (every row but
    ``FUSED`` and ``LEXICAL_ROW``): picking it on the test queries favours
    it, so the comparison is conservative. For each metric (plus
    ``recall@100``, from the held-out rankings), a paired randomisation test
    of ``FUSED`` against each, Holm-corrected over the two. Empty when the
    benchmark lacks either row.
    """
    from ..evaluation import adjust_pvalues, permutation_test

    runs = benchmark.runs
    if FUSED not in runs or LEXICAL_ROW not in runs:
        return []
    dense_rows = [name for name in runs if name not in (FUSED, LEXICAL_ROW)]
    best_dense = max(dense_rows, key=lambda name: float(runs[name].per_query[metrics[0]].mean()))

    def per_query(name: str, metric: str) -> np.ndarray:
        if metric in runs[name].per_query:
            values: np.ndarray = runs[name].per_query[metric]
            return values
        out: np.ndarray = ranking_metrics(
            relevance, ranking=runs[name].ranking, metrics=[metric], per_query=True
        )[metric]
        return out

    rows: list[dict[str, Any]] = []
    for metric in (*metrics, "recall@100"):
        fused = per_query(FUSED, metric)
        versus = (LEXICAL_ROW, best_dense)
        tests = [
            permutation_test(
                fused,
                per_query(other, metric),
                n_resamples=n_resamples,
                random_state=random_state,
            )
            for other in versus
        ]
        holm = adjust_pvalues([t.p_value for t in tests], method="holm")
        for other, test, p in zip(versus, tests, holm, strict=True):
            rows.append(
                {
                    "strategy": FUSED,
                    "versus": other,
                    "metric": metric,
                    "mean": float(fused.mean()),
                    "versus_mean": float(per_query(other, metric).mean()),
                    "mean_difference": float(test.mean_difference),
                    "p_value": float(p),
                    "p_uncorrected": float(test.p_value),
                }
            )
    return rows
