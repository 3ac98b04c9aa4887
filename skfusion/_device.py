"""The one resolver of torch device strings, shared by the encoders and the fusion backends.

Policy
------
``None`` and ``"auto"`` both mean the best device available here: CUDA, then
MPS (Apple GPU), then the CPU (:func:`best_device`). Any other value must be a
torch device string of type ``"cpu"``, ``"cuda"`` or ``"mps"``, optionally
with an index (``"cuda:1"``); a device that is not available on this machine
is an error naming the device, never a silent fall-back to another one.

Callers add their own advice to the unavailable-device messages (the fusion
estimators suggest ``backend='numpy'``) and keep their own decisions on top of
the device: the fusion estimators run NumPy rather than torch on the CPU under
``backend="auto"``, the encoders choose float16 on CUDA under
``precision="auto"``.

torch is imported only when a device is resolved.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils._param_validation import InvalidParameterError

__all__ = ["DEVICE_TYPES", "best_device", "resolve_device"]

#: Torch device types skfusion runs on.
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _torch() -> Any:
    import torch

    return torch


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def best_device() -> str:
    """The best device available here: ``"cuda"``, else ``"mps"``, else ``"cpu"``.

    Returns
    -------
    str
        ``"cuda"`` when ``torch.cuda.is_available()``, ``"mps"`` when
        ``torch.backends.mps.is_available()``, otherwise ``"cpu"``.
    """
    torch = _torch()
    if torch.cuda.is_available():
        return "cuda"
    if _mps_available(torch):
        return "mps"
    return "cpu"


def resolve_device(device: str | None = "auto", *, advice: str = "") -> str:
    """Turn a ``device`` parameter into a checked, canonical torch device string.

    Parameters
    ----------
    device : str or None, default="auto"
        ``None`` or ``"auto"``: :func:`best_device` (CUDA, then MPS, then
        CPU). Otherwise a torch device string of type ``"cpu"``, ``"cuda"``
        or ``"mps"``, with an optional index (``"cuda:1"``).
    advice : str, default=""
        What the caller suggests instead of an unavailable device (e.g.
        ``"use device='cpu' or backend='numpy'"``); appended to those
        messages.

    Returns
    -------
    str
        The device: ``"cpu"`` for any CPU string (``"cpu:0"`` too), otherwise
        ``str(torch.device(device))`` (``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        (a ``ValueError``) If ``device`` is not a string or None, is not a
        torch device string, or names a device type other than ``"cpu"``,
        ``"cuda"`` or ``"mps"``.
    ValueError
        If the device is CUDA or MPS and not available on this machine, or
        its CUDA index is not below the number of visible CUDA devices.
    """
    if device is None or device == "auto":
        return best_device()
    if not isinstance(device, str):
        raise InvalidParameterError(
            f"device must be 'auto', None or a torch device string, got {device!r}."
        )
    torch = _torch()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"device={device!r} is not a torch device string; use 'auto' or one of "
            f"{list(DEVICE_TYPES)} (optionally with an index, e.g. 'cuda:1')."
        ) from exc
    if dev.type not in DEVICE_TYPES:
        raise InvalidParameterError(
            f"device={device!r}: skfusion supports device types {list(DEVICE_TYPES)} "
            f"and 'auto', not {dev.type!r}."
        )
    tail = f"; {advice}." if advice else "."
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available here (torch "
                f"{torch.__version__}, built {'with' if torch.version.cuda else 'without'} "
                f"CUDA){tail}"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device={device!r} was requested but only {count} CUDA device(s) are visible{tail}"
            )
    if dev.type == "mps" and not _mps_available(torch):
        raise ValueError(
            f"device={device!r} was requested but MPS (Apple GPU) is not available here{tail}"
        )
    return "cpu" if dev.type == "cpu" else str(dev)
