"""Scoring backends: where the blocked engine runs its matrix products and block scorers.

Two backends share one engine (:mod:`skfusion.fusion._engine`):

* :class:`NumpyBackend` — NumPy and the BLAS it links, on the CPU. Large
  catalogs are split into contiguous item ranges scored by worker threads
  (BLAS limited to one thread per worker; NumPy releases the GIL), and the
  per-range top-k lists are merged in item order, so the result does not
  depend on the number of threads.
* :class:`TorchBackend` — torch on a CPU, CUDA or MPS device. On an
  accelerator the component matrices are copied to the device once and kept
  there (float16 catalogs stay float16; products accumulate in float32).

``backend="auto"`` picks torch when CUDA or MPS is available and NumPy
otherwise. Devices are checked by the resolver the encoders use too
(:func:`skfusion._device.resolve_device`: ``None`` and ``"auto"`` mean CUDA,
then MPS, then CPU); a backend or device that is not available raises
``ValueError``.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._device import best_device, resolve_device

#: Names accepted by the estimators' ``backend`` parameter.
BACKENDS = ("auto", "numpy", "torch")


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class NumpyBackend:
    """Score with NumPy on the CPU.

    Parameters
    ----------
    n_threads : int, optional
        Worker threads splitting the catalog's items; all available cores
        when omitted. 1 scores in the calling thread with BLAS free to use
        its own threads.
    """

    n_threads: int | None = None

    name = "numpy"

    def threads(self) -> int:
        """The number of worker threads to use."""
        return available_cores() if self.n_threads is None else max(1, int(self.n_threads))


@dataclass(frozen=True)
class TorchBackend:
    """Score with torch on one device.

    Parameters
    ----------
    device : str
        A torch device string that :func:`resolve_backend` checked
        (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
    """

    device: str = "cpu"

    name = "torch"

    @property
    def is_accelerator(self) -> bool:
        """Whether the device is not the CPU."""
        return not self.device.startswith("cpu")


Backend = NumpyBackend | TorchBackend


def _torch() -> Any:
    import torch

    return torch


#: What the unavailable-device errors of the fusion estimators suggest instead.
_ADVICE = "use device='cpu' or backend='numpy'"


def _check_device(device: str) -> str:
    """Check an explicit torch device string with the shared resolver (:mod:`skfusion._device`)."""
    return resolve_device(device, advice=_ADVICE)


def resolve_backend(backend: str = "auto", device: str | None = None) -> Backend:
    """The backend for an estimator's ``backend`` and ``device`` parameters.

    Parameters
    ----------
    backend : {"auto", "numpy", "torch"}, default="auto"
        ``"auto"``: torch on ``device`` when one other than the CPU is given,
        else torch on CUDA or MPS when available, else NumPy.
    device : str, optional
        Torch device string, checked by :func:`skfusion._device.resolve_device`.
        None and ``"auto"`` mean the best available device (CUDA, then MPS,
        then CPU) for ``backend="torch"``, and the choice above for
        ``backend="auto"``. ``backend="numpy"`` accepts only None, ``"auto"``
        or a CPU device.

    Returns
    -------
    NumpyBackend or TorchBackend

    Raises
    ------
    ValueError
        Unknown backend name, malformed device string, or a device that is
        not available on this machine.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}.")
    if device is not None and not isinstance(device, str):
        raise ValueError(f"device must be a torch device string or None, got {device!r}.")
    explicit = None if device is None or device == "auto" else _check_device(device)
    if backend == "numpy":
        if explicit is not None and explicit != "cpu":
            raise ValueError(
                f"backend='numpy' runs on the CPU; device={device!r} needs backend='torch' "
                "(or 'auto')."
            )
        return NumpyBackend()
    if backend == "torch":
        return TorchBackend(best_device() if explicit is None else explicit)
    # auto: torch on an accelerator, NumPy on the CPU
    chosen = best_device() if explicit is None else explicit
    return NumpyBackend() if chosen == "cpu" else TorchBackend(chosen)


# -- torch helpers -----------------------------------------------------------------------

_RESIDENT: dict[tuple[int, str], tuple[Any, Any]] = {}
_RESIDENT_LOCK = threading.Lock()


def _forget(key: tuple[int, str]) -> Callable[[Any], None]:
    def drop(_ref: Any) -> None:
        with _RESIDENT_LOCK:
            _RESIDENT.pop(key, None)

    return drop


def as_tensor(a: np.ndarray, device: str, *, resident: bool = False) -> Any:
    """``a`` as a torch tensor on ``device``, sharing memory on the CPU.

    With ``resident`` (accelerators), the device copy is cached for as long
    as ``a`` lives, so a catalog is copied to the device once.
    """
    torch = _torch()
    if device == "cpu":
        with warnings.catch_warnings():
            # Catalog arrays are read-only; the engine never writes to them.
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(np.ascontiguousarray(a))
    if not resident:
        return torch.from_numpy(np.array(a)).to(device)
    key = (id(a), device)
    with _RESIDENT_LOCK:
        hit = _RESIDENT.get(key)
        if hit is not None and hit[0]() is a:
            return hit[1]
    tensor = torch.from_numpy(np.array(a)).to(device)
    with _RESIDENT_LOCK:
        _RESIDENT[key] = (weakref.ref(a, _forget(key)), tensor)
    return tensor


def torch_matmul_f32(q: Any, E: Any) -> Any:
    """``q @ E.T`` with float32 output whatever ``E``'s storage dtype.

    On an accelerator a float16/bfloat16 ``E`` is multiplied in its own dtype
    with float32 accumulation and output where torch offers it
    (``out_dtype``), else upcast block-wise. On the CPU the block is upcast.
    """
    torch = _torch()
    if E.dtype == torch.float32:
        return q @ E.T
    if E.device.type != "cpu":
        try:
            return torch.mm(q.to(E.dtype), E.T, out_dtype=torch.float32)
        except (TypeError, RuntimeError, NotImplementedError):
            pass
    # Upcast a few rows at a time: on the CPU the float32 copy then stays in cache; on an
    # accelerator (a torch without out_dtype) the chunks stay large enough for the device.
    rows = 2048 if E.device.type == "cpu" else 1 << 18
    if E.shape[0] <= rows:
        return q @ E.float().T
    out = torch.empty((q.shape[0], E.shape[0]), dtype=torch.float32, device=E.device)
    for r in range(0, E.shape[0], rows):
        out[:, r : r + rows] = q @ E[r : r + rows].float().T
    return out


def torch_fused_cosine(S: Any, K: Any, W: Any) -> Any:
    """Torch version of :func:`skfusion.fusion._engine.fused_cosine` (same contract)."""
    C = S.shape[0]
    if W.ndim == 1:
        W = W.to(S.dtype)
        num = (W[:, None, None] * S).sum(dim=0)
        den2 = (W[0] * W[0]) * K[0, 0].double()
        for a in range(C):
            for b in range(a, C):
                if a == b and a == 0:
                    continue
                factor = W[a] * W[b] * (1.0 if a == b else 2.0)
                den2 = den2 + factor.double() * K[a, b].double()
        den = den2.clamp(min=0.0).sqrt().to(S.dtype)[None, :]
        out = num / den
        return out.masked_fill(den.expand_as(out) == 0, float("nan"))
    num = (W * S).sum(dim=0)
    den2 = W[0] * W[0] * K[0, 0]
    for a in range(1, C):
        den2 = den2 + W[a] * W[a] * K[a, a]
    for a in range(C):
        for b in range(a + 1, C):
            den2 = den2 + 2.0 * W[a] * W[b] * K[a, b]
    den = den2.clamp(min=0.0).sqrt()
    out = num / den
    return out.masked_fill(den == 0, float("nan"))


def torch_hybrid_weights(S: Any, global_weights: np.ndarray, negative: str) -> Any:
    """Torch version of :func:`skfusion.fusion.hybrid.hybrid_weights` (same contract)."""
    torch = _torch()
    G = torch.as_tensor(np.asarray(global_weights, dtype=np.float32)).to(S.device, S.dtype)
    G = G[:, None, None]
    if negative == "clamp":
        W = S.clamp(min=0) * G
        total = W.sum(dim=0)
        dead = total <= 0
        W = torch.where(dead[None], G.expand_as(W), W)
        total = torch.where(dead, G.sum(), total)
    elif negative == "literal":
        W = S * G
        total = W.sum(dim=0)
        dead = total == 0
        W = W.masked_fill(dead[None], float("nan"))
        total = total.masked_fill(dead, 1.0)
    else:
        raise ValueError(f"negative must be 'clamp' or 'literal', got {negative!r}.")
    return W / total


def static_torch_scorer(weights: np.ndarray) -> Callable[[Any, Any], Any]:
    """Torch block scorer of a vector fusion with one weight vector for all queries and items."""
    torch = _torch()
    cache: dict[Any, Any] = {}

    def scorer(S: Any, K: Any) -> Any:
        if S.device not in cache:
            cache[S.device] = torch.as_tensor(weights, dtype=torch.float32, device=S.device)
        return torch_fused_cosine(S, K, cache[S.device])

    return scorer


def query_aware_torch_scorer(
    weights_numpy: Callable[[np.ndarray], np.ndarray],
    weights_torch: Callable[[Any], Any] | None,
) -> Callable[[Any, Any], Any]:
    """Torch block scorer of a vector fusion whose weights depend on the similarities.

    ``weights_torch`` computes the weights on the device; without it the
    NumPy weights are computed on a host copy of the similarities.
    """
    torch = _torch()

    def scorer(S: Any, K: Any) -> Any:
        if weights_torch is not None:
            W = weights_torch(S)
        else:
            W = torch.from_numpy(np.asarray(weights_numpy(S.cpu().numpy()))).to(S.device)
        return torch_fused_cosine(S, K, W)

    return scorer


def _torch_combsum(N: Any, present: Any, w: Any) -> Any:
    return (N * w).masked_fill(~present, 0.0).sum(dim=0)


def _torch_combmax(N: Any, present: Any, w: Any) -> Any:
    return (N * w).masked_fill(~present, float("-inf")).amax(dim=0)


def _torch_calibrated(N: Any, present: Any, w: Any) -> Any:
    torch = _torch()
    wp = w.expand(present.shape[0], 1, present.shape[2]).masked_fill(~present, 0.0)
    total = wp.sum(dim=0)
    num = (N.masked_fill(~present, 0.0) * wp).sum(dim=0)
    return torch.where(total > 0, num / total, torch.full_like(num, float("nan")))


#: Torch counterparts of the score-fusion combiners, by the NumPy function's name.
TORCH_COMBINERS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "combsum_scores": _torch_combsum,
    "combmax_scores": _torch_combmax,
    "calibrated_scores": _torch_calibrated,
}


def torch_normalized_scorer(
    offset: np.ndarray,
    scale: np.ndarray,
    clip: bool,
    weights: np.ndarray,
    combine: Callable[..., Any],
) -> Callable[[Any, Any], Any] | None:
    """A torch block scorer for score fusion, or None when ``combine`` has no torch version."""
    fn = TORCH_COMBINERS.get(getattr(combine, "__name__", ""))
    if fn is None:
        return None
    torch = _torch()
    cache: dict[Any, tuple[Any, Any, Any]] = {}

    def scorer(S: Any, K: Any) -> Any:
        dev = S.device
        if dev not in cache:
            cache[dev] = (
                torch.as_tensor(np.asarray(offset, np.float32), device=dev),
                torch.as_tensor(np.asarray(scale, np.float32), device=dev),
                torch.as_tensor(np.asarray(weights, np.float32), device=dev)[:, None, None],
            )
        off, sc, w = cache[dev]
        present = torch.diagonal(K, dim1=0, dim2=1).T[:, None, :] > 0.5
        N = (S - off) / sc
        if clip:
            N = N.clamp(0.0, 1.0)
        return fn(N, present, w).to(torch.float32)

    return scorer


def torch_block_topk(scores: Any, k: int) -> tuple[Any, Any]:
    """Top-k columns per row, descending, ties broken by lower column index (torch)."""
    torch = _torch()
    n = scores.shape[1]
    if k >= n:
        s, i = torch.sort(scores, dim=1, descending=True, stable=True)
        return s, i
    top, idx = torch.topk(scores, k, dim=1, largest=True, sorted=False)
    kth = top.min(dim=1, keepdim=True).values
    eq_all = (scores == kth).sum(dim=1)
    eq_sel = (top == kth).sum(dim=1)
    redo = torch.nonzero(eq_all > eq_sel).flatten()
    if redo.numel():  # topk may keep any of several items tied at the k-th score
        s_r, i_r = torch.sort(scores[redo], dim=1, descending=True, stable=True)
        top[redo], idx[redo] = s_r[:, :k], i_r[:, :k]
    idx, perm = torch.sort(idx, dim=1)
    top = torch.gather(top, 1, perm)
    top, order = torch.sort(top, dim=1, descending=True, stable=True)
    return top, torch.gather(idx, 1, order)


def torch_merge_topk(best: tuple[Any, Any] | None, new: tuple[Any, Any], k: int) -> tuple[Any, Any]:
    """Merge two descending top-k lists; the first holds lower positions and wins ties."""
    torch = _torch()
    if best is None:
        return new
    cat_s = torch.cat([best[0], new[0]], dim=1)
    cat_i = torch.cat([best[1], new[1]], dim=1)
    s, order = torch.sort(cat_s, dim=1, descending=True, stable=True)
    return s[:, :k], torch.gather(cat_i, 1, order[:, :k])
