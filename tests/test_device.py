"""The one device resolver (skfusion._device) and its two callers: encoders and fusion backends.

Availability of CUDA and MPS is monkeypatched, so every branch runs on any machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skfusion._device import best_device, resolve_device
from skfusion.encoders import ClipEncoder
from skfusion.encoders._model import encoder_device
from skfusion.fusion._backends import NumpyBackend, TorchBackend, resolve_backend


def _machine(monkeypatch: pytest.MonkeyPatch, *, cuda: int = 0, mps: bool = False) -> None:
    """Pretend this machine has ``cuda`` CUDA devices and MPS or not."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


# -- the policy for "auto" / None: CUDA, then MPS, then CPU --------------------------------


@pytest.mark.parametrize(
    ("cuda", "mps", "best"),
    [(2, True, "cuda"), (1, False, "cuda"), (0, True, "mps"), (0, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu_for_both_callers(
    monkeypatch: pytest.MonkeyPatch, tiny_clip_dir: Path, cuda: int, mps: bool, best: str
) -> None:
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert best_device() == best
    assert resolve_device() == resolve_device(None) == resolve_device("auto") == best
    # Encoders: "auto" is their default; precision "auto" is float16 on CUDA only.
    assert encoder_device("auto") == best
    precision = "float16" if best == "cuda" else "float32"
    assert ClipEncoder(tiny_clip_dir)._resolved() == (best, precision)
    # Fusion: None is the default and "auto" means the same; backend="auto" keeps NumPy on
    # the CPU, backend="torch" runs torch on the best device.
    for device in (None, "auto"):
        assert resolve_backend("torch", device) == TorchBackend(best)
        chosen = resolve_backend("auto", device)
        assert chosen == (NumpyBackend() if best == "cpu" else TorchBackend(best))
        assert resolve_backend("numpy", device) == NumpyBackend()


# -- explicit devices: one canonical answer for both callers -------------------------------


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("cpu", "cpu"),
        ("cpu:0", "cpu"),
        ("cuda", "cuda"),
        ("cuda:0", "cuda:0"),
        ("cuda:1", "cuda:1"),
        ("mps", "mps"),
    ],
)
def test_explicit_device_is_the_same_for_both_callers(
    monkeypatch: pytest.MonkeyPatch, device: str, expected: str
) -> None:
    _machine(monkeypatch, cuda=2, mps=True)
    assert resolve_device(device) == expected
    assert encoder_device(device) == expected
    assert resolve_backend("torch", device) == TorchBackend(expected)
    auto = resolve_backend("auto", device)
    assert auto == (NumpyBackend() if expected == "cpu" else TorchBackend(expected))


def test_numpy_backend_refuses_an_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, cuda=1)
    assert resolve_backend("numpy", "cpu:0") == NumpyBackend()
    with pytest.raises(ValueError, match="backend='numpy' runs on the CPU"):
        resolve_backend("numpy", "cuda")


# -- errors: specific, with each caller's advice -------------------------------------------


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_unavailable_cuda_names_the_device(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    _machine(monkeypatch, cuda=0, mps=True)
    with pytest.raises(ValueError, match=f"device='{device}' was requested but CUDA is not"):
        resolve_device(device)
    with pytest.raises(ValueError, match="CUDA is not available.*use device='cpu' or backend="):
        resolve_backend("torch", device)
    with pytest.raises(ValueError, match="CUDA is not available.*use device='cpu' or device="):
        encoder_device(device)


def test_cuda_index_beyond_the_visible_devices(
    monkeypatch: pytest.MonkeyPatch, tiny_clip_dir: Path
) -> None:
    _machine(monkeypatch, cuda=2)
    assert resolve_device("cuda:1") == "cuda:1"
    for resolve in (resolve_device, encoder_device, lambda d: resolve_backend("auto", d)):
        with pytest.raises(ValueError, match=r"'cuda:2' was requested but only 2 CUDA device"):
            resolve("cuda:2")
    # The encoder refuses it at parameter validation, before loading anything.
    with pytest.raises(ValueError, match="only 2 CUDA device"):
        ClipEncoder(tiny_clip_dir, device="cuda:2").fit()


def test_unavailable_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, cuda=1, mps=False)
    for resolve in (resolve_device, encoder_device, lambda d: resolve_backend("torch", d)):
        with pytest.raises(ValueError, match=r"device='mps' was requested but MPS \(Apple GPU\)"):
            resolve("mps")


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("gpu", "'gpu' is not a torch device string"),
        ("banana", "not a torch device string"),
        ("", "not a torch device string"),
        ("meta", "supports device types .* not 'meta'"),
    ],
)
def test_malformed_or_unsupported_device(tiny_clip_dir: Path, device: str, match: str) -> None:
    for resolve in (resolve_device, encoder_device, lambda d: resolve_backend("torch", d)):
        with pytest.raises(InvalidParameterError, match=match):
            resolve(device)
    with pytest.raises(InvalidParameterError, match=match):
        ClipEncoder(tiny_clip_dir, device=device).fit()


def test_non_string_device() -> None:
    with pytest.raises(InvalidParameterError, match="device must be"):
        resolve_device(0)  # type: ignore[arg-type]
    # None is the fusion estimators' default, not a value of the encoders' parameter.
    with pytest.raises(InvalidParameterError, match="'device' parameter"):
        encoder_device(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device must be a torch device string or None"):
        resolve_backend("torch", 0)  # type: ignore[arg-type]
