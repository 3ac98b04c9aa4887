"""Scale benchmark: exact hybrid top-10 against the floor, by N, Q and backend.

The floor is the time of the C bare matrix products ``Q @ E_c.T`` over the
catalog (every exact strategy must read each component matrix once), taken
in the same run and on the same arrays as the timed code; each line prints
the ratio of the two. Modes:

``--mode cpu`` (default)
    N × 3 × 512 float32 (and float16) catalogs; backends ``numpy`` with one
    thread (the engine as it was before item ranges were split over
    threads), ``numpy`` on all cores, and ``torch`` on the CPU.
``--mode gpu``
    For a machine with CUDA: 2,000,000 × 3 × 512 float16 resident on the
    device; the floor is the three float16 products on the device, the
    baseline a naive torch version (the same Gram-form formulas on whole
    arrays, then ``torch.topk``), against ``backend="torch"``.
``--mode mmap``
    Writes a float16 catalog of ``--n`` items block by block to ``--path``
    (never held in memory), searches it exactly from a child process with the
    catalog memory-mapped, prints the child's wall time and peak RSS
    (``ru_maxrss``: resident file pages included), then deletes the catalog
    unless ``--keep``.

Run without ``nice``, on an otherwise quiet machine where possible; the
output says the load average at the start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import best_of, unit_matrix

from skfusion import Catalog
from skfusion.fusion import HybridFusion
from skfusion.fusion._backends import NumpyBackend, TorchBackend, available_cores


def _header() -> None:
    load = os.getloadavg()
    print(
        f"# {available_cores()} core(s); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"numpy {np.__version__}"
    )


def _queries(rng: np.random.Generator, nq: int, d: int) -> np.ndarray:
    return unit_matrix(rng, nq, d, np.zeros(d, dtype=np.float32))


def _topk(est: HybridFusion, q: np.ndarray, backend: object) -> None:
    # The estimator's public path with a given backend object (thread counts included).
    from skfusion.fusion._engine import topk_scores

    cat = est.catalog
    assert cat is not None
    topk_scores(q, cat.matrices(), cat.gram, est._scorer_for(q), 10, backend=backend)  # type: ignore[arg-type]


def mode_cpu(
    sizes: list[int],
    query_counts: list[int],
    d: int,
    repeat: int,
    dtypes: list[str],
    backends: list[str],
) -> None:
    rng = np.random.default_rng(5)
    for n in sizes:
        comps = [
            unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05)
            for _ in range(3)
        ]
        for dtype in dtypes:
            cat = Catalog.from_arrays(
                {"title": comps[0], "desc": comps[1], "image": comps[2]}, dtype=dtype
            )
            mats = cat.matrices()
            est = HybridFusion(cat).fit()
            print(f"\nN = {n:,} × 3 × {d}, {dtype} ({cat.nbytes / 2**30:.2f} GiB)")
            print(f"{'Q':>5} {'floor s':>9}  {'backend':<22} {'time s':>8} {'ratio':>7}")
            for nq in query_counts:
                q = _queries(rng, nq, d)

                def floor(q: np.ndarray = q, mats: list[np.ndarray] = mats) -> None:
                    for E in mats:
                        _ = q @ E.T

                if dtype == "float16":
                    # The float16 floor is the float32 products on the same N: NumPy has no
                    # float16 BLAS, so a float16 scan can only match the float32 floor.
                    def floor(q: np.ndarray = q, mats: list[np.ndarray] = comps) -> None:
                        for E in mats:
                            _ = q @ E.T

                t_floor = best_of(floor, repeat)
                every = {
                    "numpy1": ("numpy, 1 thread", NumpyBackend(n_threads=1)),
                    "numpy": (f"numpy, {available_cores()} threads", NumpyBackend()),
                    "torch": ("torch cpu", TorchBackend("cpu")),
                }
                runs = [every[b] for b in backends]
                for label, backend in runs:
                    _topk(est, q, backend)  # warm-up

                    def ours(q: np.ndarray = q, b: Any = backend, e: HybridFusion = est) -> None:
                        _topk(e, q, b)

                    t = best_of(ours, repeat)
                    print(f"{nq:>5} {t_floor:>9.3f}  {label:<22} {t:>8.3f} {t / t_floor:>6.2f}x")
            del cat, est, mats
        del comps


def mode_gpu(n: int, query_counts: list[int], d: int, repeat: int) -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("--mode gpu needs a CUDA device; none is available here.")
    dev = "cuda"
    print(f"# device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    rng = np.random.default_rng(6)
    comps = [
        unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05) for _ in range(3)
    ]
    cat = Catalog.from_arrays(
        {"title": comps[0], "desc": comps[1], "image": comps[2]}, dtype="float16"
    )
    del comps
    est = HybridFusion(cat, backend="torch", device=dev).fit()
    E16 = [torch.from_numpy(np.array(E)).to(dev) for E in cat.matrices()]
    K = torch.from_numpy(np.array(cat.gram)).to(dev)
    G = torch.as_tensor(est.global_weights_, dtype=torch.float32, device=dev)

    def sync_time(fn: object) -> float:
        def run() -> None:
            fn()  # type: ignore[operator]
            torch.cuda.synchronize()

        run()
        return best_of(run, repeat)

    def naive(q16: torch.Tensor) -> object:
        S = torch.stack([(q16 @ E.T).float() for E in E16])  # (C, Q, N)
        W = S.clamp(min=0) * G[:, None, None]
        W = W / W.sum(0).clamp(min=1e-30)
        num = (W * S).sum(0)
        den2 = torch.zeros_like(num)
        for a in range(3):
            for b in range(3):
                den2 += W[a] * W[b] * K[a, b]
        return torch.topk(num / den2.sqrt(), 10, dim=1)

    print(f"N = {n:,} × 3 × {d} float16 on {dev}")
    print(f"{'Q':>5} {'floor ms':>9} {'naive ms':>9} {'ratio':>7} {'skfusion ms':>12} {'ratio':>7}")
    for nq in query_counts:
        q = _queries(rng, nq, d)
        q16 = torch.from_numpy(q).to(dev).half()
        t_floor = sync_time(lambda q16=q16: [q16 @ E.T for E in E16])
        t_naive = sync_time(lambda q16=q16: naive(q16))
        t_ours = sync_time(lambda q=q: est.kneighbors(q, n_neighbors=10))
        print(
            f"{nq:>5} {t_floor * 1e3:>9.2f} {t_naive * 1e3:>9.2f} {t_naive / t_floor:>6.2f}x "
            f"{t_ours * 1e3:>12.2f} {t_ours / t_floor:>6.2f}x"
        )


def _npy_header(n: int, d: int) -> bytes:
    import io

    buf = io.BytesIO()
    header: dict[str, Any] = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
        "fortran_order": False,
        "shape": (n, d),
    }
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def write_big_catalog(path: Path, n: int, d: int, block: int = 1 << 16) -> None:
    """A float16 catalog of n × 3 × d written block by block in the save() layout.

    Generating 1.5e10 Gaussian coordinates would take most of the run on two
    cores, so each component draws its rows from a pool of 4,096 random unit
    float16 vectors (around a per-component offset, CLIP's cone): with three
    independent draws per item, 4,096³ ≈ 6.9e10 possible items, so items are
    distinct with high probability, and the Gram entries and means follow
    exactly from the pool's own products. Only one block of each component
    is in memory at a time (plus the float32 Gram, 36 bytes per item); each
    file's SHA-256 is computed as it is written.
    """
    from skfusion.catalog._storage import _FORMAT, _MANIFEST, SCHEMA_VERSION

    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    C, P = 3, 4096
    rng = np.random.default_rng(7)
    pools16 = []
    for _ in range(C):
        E = rng.standard_normal((P, d)).astype(np.float32) + rng.standard_normal(d) * 0.05
        E /= np.linalg.norm(E, axis=1, keepdims=True)
        pools16.append(E.astype(np.float16))
    pools = [E.astype(np.float64) for E in pools16]  # the stored rows, exactly
    pool_gram = {
        (a, b): (pools[a] @ pools[b].T).astype(np.float32) for a in range(C) for b in range(a, C)
    }
    gram = np.empty((C, C, n), dtype=np.float32)
    counts = np.zeros((C, P), dtype=np.int64)
    names = ("title", "desc", "image")
    handles = [open(path / f"component_{c}.npy", "wb") for c in range(C)]  # noqa: SIM115
    digests = [hashlib.sha256() for _ in range(C)]
    t0 = time.perf_counter()
    try:
        head = _npy_header(n, d)
        for fh, dg in zip(handles, digests, strict=True):
            fh.write(head)
            dg.update(head)
        for s in range(0, n, block):
            m = min(block, n - s)
            idx = [rng.integers(0, P, m) for _ in range(C)]
            for c in range(C):
                raw = pools16[c][idx[c]].tobytes()
                handles[c].write(raw)
                digests[c].update(raw)
                counts[c] += np.bincount(idx[c], minlength=P)
            for (a, b), G in pool_gram.items():
                gram[a, b, s : s + m] = G[idx[a], idx[b]]
                gram[b, a, s : s + m] = gram[a, b, s : s + m]
            if (s // block) % 16 == 0:
                done = s + m
                rate = done / max(time.perf_counter() - t0, 1e-9)
                print(f"  {done:,} items ({rate:,.0f}/s)", flush=True)
    finally:
        for fh in handles:
            fh.close()
    sums = np.stack([counts[c] @ pools[c] for c in range(C)])
    files = [
        {
            "name": names[c],
            "file": f"component_{c}.npy",
            "shape": [n, d],
            "dtype": "float16",
            "encoder_id": None,
            "modality": None,
            "sha256": digests[c].hexdigest(),
        }
        for c in range(C)
    ]
    np.save(path / "gram.npy", gram, allow_pickle=False)
    np.save(path / "means.npy", sums / n, allow_pickle=False)
    with open(path / "ids.json", "w", encoding="utf-8") as text:
        text.write("[")
        for s in range(0, n, 1 << 20):
            part = ", ".join(map(str, range(s, min(s + (1 << 20), n))))
            text.write(part if s == 0 else ", " + part)
        text.write("]")
    manifest = {
        "format": _FORMAT,
        "schema_version": SCHEMA_VERSION,
        "n_items": n,
        "dim": d,
        "components": files,
        "ids": {"file": "ids.json", "sha256": _sha(path / "ids.json")},
        "gram": {"file": "gram.npy", "sha256": _sha(path / "gram.npy")},
        "means": {"file": "means.npy", "sha256": _sha(path / "means.npy")},
    }
    (path / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def mmap_search(path: Path, query_counts: list[int], threads: int | None) -> None:
    """Child process: load memory-mapped, search exactly, print timings and peak RSS."""
    t0 = time.perf_counter()
    cat = Catalog.load(path, mmap=True, verify=False)
    est = HybridFusion(cat).fit()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"  loaded {cat!r} {cat.dtype} in {time.perf_counter() - t0:.1f} s; RSS {rss:.2f} GiB")
    rng = np.random.default_rng(8)
    backend = NumpyBackend(n_threads=threads)
    for nq in query_counts:
        q = _queries(rng, nq, cat.dim)
        t0 = time.perf_counter()
        _topk(est, q, backend)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"  Q={nq:>4}: {dt:7.1f} s ({cat.nbytes / dt / 2**30:.2f} GiB/s of embeddings); "
            f"peak RSS so far {rss:.2f} GiB",
            flush=True,
        )


def mode_mmap(n: int, d: int, path: Path, query_counts: list[int], keep: bool, reuse: bool) -> None:
    if not (reuse and (path / "manifest.json").exists()):
        print(f"writing {n:,} × 3 × {d} float16 to {path} ...", flush=True)
        t0 = time.perf_counter()
        write_big_catalog(path, n, d)
        print(f"  written in {time.perf_counter() - t0:.0f} s", flush=True)
    size = sum(f.stat().st_size for f in path.iterdir()) / 2**30
    print(f"catalog on disk: {size:.2f} GiB; searching from a child process", flush=True)
    cmd = [
        sys.executable,
        __file__,
        "--mode",
        "mmap-search",
        "--path",
        str(path),
        "--queries",
        *map(str, query_counts),
    ]
    try:
        subprocess.run(cmd, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"child peak RSS (ru_maxrss, file pages included): {peak:.2f} GiB")
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
            print(f"deleted {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["cpu", "gpu", "mmap", "mmap-search"], default="cpu")
    parser.add_argument("--n", type=int, nargs="+", default=None, help="catalog size(s)")
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 128])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--path", type=Path, default=Path("/tmp/skfusion_scale_catalog"))
    parser.add_argument("--keep", action="store_true", help="mmap: keep the catalog")
    parser.add_argument("--reuse", action="store_true", help="mmap: reuse a written catalog")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=["numpy1", "numpy", "torch"],
        default=["numpy1", "numpy", "torch"],
    )
    args = parser.parse_args()
    if args.mode == "mmap-search":
        mmap_search(args.path, args.queries, args.threads)
        return
    _header()
    if args.mode == "cpu":
        mode_cpu(
            args.n or [1_000_000], args.queries, args.dim, args.repeat, args.dtypes, args.backends
        )
    elif args.mode == "gpu":
        mode_gpu((args.n or [2_000_000])[0], args.queries, args.dim, args.repeat)
    else:
        mode_mmap(
            (args.n or [10_000_000])[0], args.dim, args.path, args.queries, args.keep, args.reuse
        )


if __name__ == "__main__":
    main()
