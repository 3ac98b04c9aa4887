"""Old against new, every fusion strategy, in one run.

"Old" is the package as of commit ``3d28536`` (``--old-ref``), exported from
this repository's git objects with ``git archive`` into a temporary folder;
"new" is the working tree. Two versions of ``skfusion`` cannot be imported in
one process, so the script generates the data once
(:func:`skfusion.datasets.make_catalog`: ``--items`` items × 3 components ×
512 dimensions, saved as ``.npy`` files) and starts two worker processes of
itself under the same interpreter, one with ``PYTHONPATH`` set to the old
tree, one with the working tree. Each builds ``Catalog.from_arrays`` and
its covariances; then, strategy by strategy, both fit it (timed once) and
time ``kneighbors(X[:Q], 10)`` for each ``--queries`` Q: the best of up to
``--repeats`` runs after one warm-up, fewer once a cell has taken
``--budget`` seconds. The two versions take turns at every step (which one
goes first alternates between strategies), so a change in the machine's
load falls on both; ``--sequential`` runs old, then new, with half the
memory. The parent prints markdown tables: fit times, and per strategy and
Q the old and new times, their ratio and how many query rows have identical
top-10 ids.

Strategies that learn from judgments (``LearnedFusion``, ``AgreementFusionCV``
with labels) are fitted on ``--fit-queries`` further queries of the same
``make_catalog`` draw, with its graded judgments, identically in both versions.

Usage::

    python benchmarks/bench_old_vs_new.py                    # 300,000 items
    python benchmarks/bench_old_vs_new.py --items 1000000 --sequential
        # 6 GB of embeddings per worker: --sequential holds one worker at a time

Timing asserts never go in tests.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OLD_REF = "3d28536"
#: Environment variables that set the BLAS thread count of the workers.
_BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Seconds a worker waits before timing (see :meth:`_Worker.time`).
_PAUSE_S = 0.5

# (key, label, note): the order in which the worker fits and times them. AgreementFusion
# comes first among the agreement strategies: its fit pays for the catalog's similarity
# covariances, which the others then reuse (cached per catalog in both versions).
STRATEGIES: list[tuple[str, str, str]] = [
    ("average", "AverageFusion", "new: precompute='auto' (fused vectors built at fit)"),
    ("weighted", "WeightedFusion(0.5/0.3/0.2)", "new: precompute='auto'"),
    ("hybrid", "HybridFusion", ""),
    ("agreement", "AgreementFusion(prior=0.75)", "prior passed explicitly (old default 0.25)"),
    (
        "agreement-cv",
        "AgreementFusionCV, label-free",
        "fit() without y; the label-free prior is a module constant, 0.25 old, 0.75 new "
        "(no parameter: not comparable rankings)",
    ),
    (
        "agreement-cv-judged",
        "AgreementFusionCV, judged",
        "fit(X_fit, qrels_fit); new keeps the best candidate only past two standard errors",
    ),
    ("learned", "LearnedFusion(random_state=0)", "fit(X_fit, qrels_fit); new: precompute='auto'"),
    ("combsum", "CombSUM (zscore)", "old CombSUMFusion; new ScoreFusion(method='sum')"),
    ("combmax", "CombMAX (zscore)", "old CombMAXFusion; new ScoreFusion(method='max')"),
    (
        "combmnz",
        "CombMNZ (minmax, depth 100)",
        "old CombMNZFusion; new ScoreFusion(method='mnz', normalization='minmax'), deprecated",
    ),
    ("rrf", "RRFusion (k 60, depth 100)", ""),
    ("calibrated", "CalibratedFusion", "deprecated in new (same class, warns)"),
]


# -- worker (runs under the old or the new package) ------------------------------------


def _estimator(sk: Any, key: str, catalog: Any) -> Any:
    """The estimator ``key`` of the imported package, configured alike in both versions."""
    new = hasattr(sk, "ScoreFusion")
    if key == "average":
        return sk.AverageFusion(catalog)
    if key == "weighted":
        return sk.WeightedFusion(catalog, weights=[0.5, 0.3, 0.2])
    if key == "hybrid":
        return sk.HybridFusion(catalog)
    if key == "agreement":
        return sk.AgreementFusion(catalog, prior=0.75)
    if key in ("agreement-cv", "agreement-cv-judged"):
        return sk.AgreementFusionCV(catalog)
    if key == "learned":
        return sk.LearnedFusion(catalog, random_state=0)
    if key == "combsum":
        return sk.ScoreFusion(catalog, method="sum") if new else sk.CombSUMFusion(catalog)
    if key == "combmax":
        return sk.ScoreFusion(catalog, method="max") if new else sk.CombMAXFusion(catalog)
    if key == "combmnz":
        if new:
            return sk.ScoreFusion(catalog, method="mnz", normalization="minmax", depth=100)
        return sk.CombMNZFusion(catalog, normalization="minmax", depth=100)
    if key == "rrf":
        return sk.RRFusion(catalog, k=60.0, depth=100)
    if key == "calibrated":
        return sk.CalibratedFusion(catalog)
    raise ValueError(key)


def _clear_query_caches() -> None:
    """Forget per-query-batch results, so that every timed call computes them."""
    from skfusion.fusion import agreement

    clear = getattr(agreement, "clear_shares_cache", None)
    if clear is not None:
        clear()  # the cache is held by each catalog
    else:
        agreement._SHARES_CACHE.clear()  # the old package: a module-level table


def _best_of(fn: Callable[[], object], repeats: int, budget: float) -> float:
    """Shortest of up to ``repeats`` timed runs after a warm-up.

    Runs stop early once the warm-up and the runs so far have taken ``budget``
    seconds, after at least one timed run: a call of tens of seconds is timed once.
    """
    t0 = time.perf_counter()
    fn()  # warm-up
    spent = time.perf_counter() - t0
    times: list[float] = []
    while len(times) < repeats and (not times or spent < budget):
        _clear_query_caches()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return min(times)


class _Worker:
    """The worker's state: the catalog, the queries and the fitted estimators."""

    def __init__(self, data_dir: Path):
        import scipy.sparse as sp

        import skfusion as sk

        self.sk = sk
        meta = json.loads((data_dir / "meta.json").read_text())
        names = meta["names"]
        components = {n: np.load(data_dir / f"{n}.npy") for n in names}
        masks = {n: np.load(data_dir / f"mask_{n}.npy") for n in names}
        self.X = np.load(data_dir / "queries.npy")
        self.X_fit = np.load(data_dir / "fit_queries.npy")
        self.y_fit = sp.load_npz(data_dir / "fit_qrels.npz").tocsr()
        t0 = time.perf_counter()
        self.catalog = sk.Catalog.from_arrays(
            components, masks=masks, modalities=meta["modalities"]
        )
        build_s = time.perf_counter() - t0
        del components, masks
        gc.collect()
        t0 = time.perf_counter()
        self.catalog.covariances()
        self.info = {
            "skfusion": str(Path(sk.__file__).resolve().parent),
            "numpy": np.__version__,
            "build_s": build_s,
            "covariances_s": time.perf_counter() - t0,
        }
        self.estimators: dict[str, Any] = {}

    def fit(self, key: str) -> float:
        est = _estimator(self.sk, key, self.catalog)
        gc.collect()
        t0 = time.perf_counter()
        if key in ("agreement-cv-judged", "learned"):
            est.fit(self.X_fit, self.y_fit)
        else:
            est.fit()
        elapsed = time.perf_counter() - t0
        self.estimators[key] = est
        return elapsed

    def time(self, key: str, q: int, repeats: int, budget: float) -> float:
        est, Xq = self.estimators[key], self.X[:q]
        # The other worker has just run: its BLAS threads spin for a while after their
        # last product (OpenBLAS: about 0.1 s) and would share the cores with these runs.
        time.sleep(_PAUSE_S)
        return _best_of(lambda: est.kneighbors(Xq, n_neighbors=10), repeats, budget)

    def ranking(self, key: str) -> dict[str, Any]:
        dist, ind = self.estimators.pop(key).kneighbors(self.X, n_neighbors=10)
        gc.collect()
        return {
            "ids": np.asarray(ind).tolist(),
            "scores": np.asarray(dist, dtype=np.float64).tolist(),
        }


def worker(data_dir: Path) -> None:
    """Serve the parent's requests, one JSON line each, with the ``skfusion`` on ``sys.path``.

    Requests: ``["fit", key]`` (seconds), ``["time", key, q, repeats, budget]`` (best
    seconds), ``["ranking", key]`` (top-10 ids and scores of every query; the
    estimator is dropped). The first reply describes the package and the catalog.
    """
    warnings.simplefilter("ignore")  # deprecations and undefined-score notes
    channel = sys.stdout
    sys.stdout = sys.stderr  # anything the package prints stays off the channel
    state = _Worker(data_dir)
    channel.write(json.dumps(state.info) + "\n")
    channel.flush()
    for line in sys.stdin:
        op, *rest = json.loads(line)
        if op == "fit":
            reply: Any = state.fit(rest[0])
        elif op == "time":
            reply = state.time(rest[0], int(rest[1]), int(rest[2]), float(rest[3]))
        elif op == "ranking":
            reply = state.ranking(rest[0])
        else:
            break
        channel.write(json.dumps(reply) + "\n")
        channel.flush()


# -- parent -----------------------------------------------------------------------------


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs{mem}, {platform.system()} {platform.release()}"


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _make_data(data_dir: Path, n_items: int, n_queries: int, n_fit: int) -> None:
    import scipy.sparse as sp

    from skfusion.datasets import make_catalog

    data = make_catalog(n_items, n_queries + n_fit, random_state=0)
    names = list(data.components)
    for n in names:
        np.save(data_dir / f"{n}.npy", data.components[n])
        np.save(data_dir / f"mask_{n}.npy", np.asarray(data.masks[n]))
    np.save(data_dir / "queries.npy", data.queries[:n_queries])
    np.save(data_dir / "fit_queries.npy", data.queries[n_queries:])
    sp.save_npz(data_dir / "fit_qrels.npz", sp.csr_matrix(data.qrels[n_queries:]))
    meta = {"names": names, "modalities": dict(data.modalities)}
    (data_dir / "meta.json").write_text(json.dumps(meta))


class _Client:
    """A worker process importing the ``skfusion`` under ``root``."""

    def __init__(self, label: str, root: Path, data_dir: Path, blas_threads: int):
        self.label = label
        env = {**os.environ, "PYTHONPATH": str(root)}
        if blas_threads:
            env.update(dict.fromkeys(_BLAS_VARIABLES, str(blas_threads)))
        # The script's folder (sys.path[0] of the worker) holds no skfusion package, and
        # PYTHONPATH comes before the editable install: the worker imports root's.
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(data_dir)],
            env=env,
            cwd=data_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.info: dict[str, Any] = self._reply()
        if Path(self.info["skfusion"]) != (root / "skfusion").resolve():
            self.close()
            raise RuntimeError(f"{label} worker imported {self.info['skfusion']}, not {root}")

    def _reply(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker exited ({self.proc.wait()})")
        return json.loads(line)

    def request(self, *message: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()


def measure(
    roots: dict[str, Path], data_dir: Path, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Fit and time every strategy in both versions; the versions alternate per step."""
    keys = [k for k, _, _ in STRATEGIES if not args.only or k in args.only]
    results: dict[str, dict[str, Any]] = {
        v: {"fit_s": {}, "kneighbors_s": {}, "ids": {}, "scores": {}} for v in roots
    }
    groups = [[v] for v in roots] if args.sequential else [list(roots)]
    for group in groups:
        clients = {}
        for v in group:
            t0 = time.perf_counter()
            clients[v] = _Client(v, roots[v], data_dir, args.blas_threads)
            results[v].update(clients[v].info)
            print(
                f"{v}: {clients[v].info['skfusion']} loaded in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        for i, key in enumerate(keys):
            order = group if i % 2 == 0 else group[::-1]  # neither always goes first
            for v in order:
                results[v]["fit_s"][key] = clients[v].request("fit", key)
            times: dict[str, dict[str, float]] = {v: {} for v in group}
            for q in args.queries:
                for v in order:
                    times[v][str(q)] = clients[v].request("time", key, q, args.repeats, args.budget)
            for v in order:
                results[v]["kneighbors_s"][key] = times[v]
                ranking = clients[v].request("ranking", key)
                results[v]["ids"][key] = ranking["ids"]
                results[v]["scores"][key] = ranking["scores"]
            print(f"  {key} done ({_load()})", flush=True)
        for client in clients.values():
            client.close()
    return results


def _compare(old: dict[str, Any], new: dict[str, Any], key: str, q: int) -> str:
    """Rows (of the first q) whose top-10 ids are identical, in order; and as sets."""
    a = np.asarray(old["ids"][key])[:q]
    b = np.asarray(new["ids"][key])[:q]
    same = int((a == b).all(axis=1).sum())
    same_set = sum(set(r) == set(s) for r, s in zip(a.tolist(), b.tolist(), strict=True))
    text = f"{same}/{q}"
    if same_set != same:
        text += f" ({same_set}/{q} as sets)"
    return text


def report(old: dict[str, Any], new: dict[str, Any], queries: list[int]) -> None:
    labels = {key: (label, note) for key, label, note in STRATEGIES}
    keys = [k for k, _, _ in STRATEGIES if k in new["fit_s"] and k in old["fit_s"]]
    print()
    print(f"Catalog.from_arrays: old {old['build_s']:.2f} s, new {new['build_s']:.2f} s")
    print(
        f"Catalog.covariances(): old {old['covariances_s']:.2f} s, new {new['covariances_s']:.2f} s"
    )
    print()
    print("| strategy | old fit s | new fit s | old/new | note |")
    print("|---|---:|---:|---:|---|")
    for key in keys:
        fo, fn = old["fit_s"][key], new["fit_s"][key]
        ratio = fo / fn if fn > 0 else float("inf")
        print(f"| {labels[key][0]} | {fo:.2f} | {fn:.2f} | {ratio:.2f} | {labels[key][1]} |")
    print()
    print("| strategy | Q | old ms | new ms | old/new | top-10 ids identical |")
    print("|---|---:|---:|---:|---:|---|")
    slower = []
    for key in keys:
        for q in queries:
            to = old["kneighbors_s"][key][str(q)] * 1e3
            tn = new["kneighbors_s"][key][str(q)] * 1e3
            ratio = to / tn
            if ratio < 1.0:
                slower.append(f"{labels[key][0]} Q={q} ({ratio:.2f})")
            same = _compare(old, new, key, q)
            print(f"| {labels[key][0]} | {q} | {to:.1f} | {tn:.1f} | {ratio:.2f} | {same} |")
    print()
    print("new slower than old (old/new < 1): " + (", ".join(slower) if slower else "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--repeats", type=int, default=10, help="most timed runs after a warm-up")
    parser.add_argument(
        "--budget",
        type=float,
        default=5.0,
        help="seconds per strategy, Q and version after which timed runs stop (at least one)",
    )
    parser.add_argument(
        "--fit-queries", type=int, default=32, help="judged queries for the supervised fits"
    )
    parser.add_argument("--old-ref", default=DEFAULT_OLD_REF, help="git commit of 'old'")
    parser.add_argument("--only", nargs="+", default=[], choices=[k for k, _, _ in STRATEGIES])
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS threads per worker (0: the environment's). One by default: with BLAS on "
        "two threads, a machine busy with other jobs slowed the many small products of "
        "CombMNZ and RRF up to tenfold, at random. Searches still run on every core "
        "through skfusion's own worker threads.",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="run old, then new (half the memory) instead of alternating between them",
    )
    parser.add_argument("--worker", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker))
        return

    start = time.perf_counter()
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {_machine()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"load average at start: {_load()}")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", args.old_ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"old: {commit}; new: working tree {REPO}; {args.items:,} items × 3 × 512, "
        f"Q = {args.queries}, top-10, best of up to {args.repeats} after a warm-up "
        f"({args.budget:g} s budget per cell), "
        f"BLAS threads per worker: {args.blas_threads or 'default'}, "
        f"{args.fit_queries} judged fit queries"
    )
    with tempfile.TemporaryDirectory(prefix="skfusion-old-new-") as tmp:
        tmp_path = Path(tmp)
        old_root = tmp_path / "old"
        data_dir = tmp_path / "data"
        old_root.mkdir()
        data_dir.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "skfusion"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        t0 = time.perf_counter()
        _make_data(data_dir, args.items, max(args.queries), args.fit_queries)
        gc.collect()
        print(f"make_catalog: {time.perf_counter() - t0:.0f} s", flush=True)
        results = measure({"old": old_root, "new": REPO}, data_dir, args)
    report(results["old"], results["new"], sorted(args.queries))
    print()
    print(f"load average at end: {_load()}")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
