"""Model handling of the encoders: device, precision and dtype, model names and fingerprints.

The device is resolved by :func:`skfusion._device.resolve_device`, the resolver
the fusion backends use too; this module adds the encoders' own choices on top
of it (float16 on CUDA under ``precision="auto"``, the ``from_pretrained``
dtype keyword, the name of a model id or local directory in fingerprints).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._device import resolve_device
from ._cache import normalize_model_ref

if TYPE_CHECKING:
    import torch

__all__ = [
    "display_name",
    "dtype_kwargs",
    "encoder_device",
    "fingerprint_hex",
    "resolve_precision",
    "torch_dtype",
]

# Config keys that do not change what a model computes and vary with the
# transformers version, the loading path or the loading precision.
_VOLATILE_CONFIG_KEYS = frozenset(
    {"transformers_version", "torch_dtype", "dtype", "architectures", "name_or_path"}
)
_FINGERPRINT_SAMPLE = 4096
#: What the encoders' unavailable-device errors suggest instead.
_ADVICE = "use device='cpu' or device='auto'"


def encoder_device(device: str) -> str:
    """Turn an encoder's ``device`` parameter into a concrete torch device string.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"mps"``,
        ``"cuda"`` or ``"cuda:<index>"``; see
        :func:`skfusion._device.resolve_device`.

    Returns
    -------
    str
        The device to use.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        If ``device`` is not a string or not a supported torch device string.
    ValueError
        If the requested device is not available here.
    """
    if not isinstance(device, str):
        # The encoders' parameter is a string; None is not one of their values.
        from sklearn.utils._param_validation import InvalidParameterError

        raise InvalidParameterError(
            f"The 'device' parameter must be 'auto' or a torch device string. Got {device!r} "
            "instead."
        )
    return resolve_device(device, advice=_ADVICE)


def resolve_precision(precision: str, device: str) -> str:
    """Turn the ``precision`` parameter into a torch dtype name.

    Parameters
    ----------
    precision : {"auto", "float32", "float16", "bfloat16"}
        ``"auto"`` means float16 on CUDA and float32 elsewhere.
    device : str
        The resolved device.

    Returns
    -------
    str
        One of ``"float32"``, ``"float16"``, ``"bfloat16"``.
    """
    if precision == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    return precision


def torch_dtype(name: str) -> torch.dtype:
    """Return the torch dtype called ``name``."""
    import torch

    dtype: torch.dtype = getattr(torch, name)
    return dtype


def dtype_kwargs(dtype_name: str) -> dict[str, Any]:
    """Keyword selecting the loading dtype in ``from_pretrained``.

    transformers 5 calls it ``dtype``; 4.x calls it ``torch_dtype``.
    """
    import transformers

    major = int(transformers.__version__.split(".", 1)[0])
    key = "dtype" if major >= 5 else "torch_dtype"
    return {key: torch_dtype(dtype_name)}


def display_name(model: str | os.PathLike[str]) -> str:
    """Name of a model in fingerprints: the id, or a local directory's base name."""
    ref = normalize_model_ref(model)
    if os.path.isdir(ref):
        return os.path.basename(ref.rstrip(os.sep)) or ref
    return ref


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_volatile(v)
            for k, v in sorted(value.items())
            if k not in _VOLATILE_CONFIG_KEYS and not k.startswith("_")
        }
    if isinstance(value, list):
        return [_strip_volatile(v) for v in value]
    return value


def fingerprint_hex(config: Any, tensors: Sequence[tuple[str, torch.Tensor]], pooling: str) -> str:
    """Hash a model's identity into 12 hexadecimal characters.

    The SHA-256 covers the model config (``config.to_json_string()`` without
    the keys that depend on the transformers version, loading path or
    loading precision), the name, shape and sign pattern of a deterministic
    strided sample of each tensor in ``tensors``, and the pooling mode.

    Sign bits (rather than raw value bytes) make the fingerprint independent
    of the loading precision: a model loaded in float16 on a GPU and in
    float32 on a CPU embeds into the same space and gets the same id.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        The model config.
    tensors : sequence of (str, torch.Tensor)
        Named weight tensors to sample.
    pooling : str
        The pooling mode of the encoder.

    Returns
    -------
    str
        12 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    digest.update(b"skfusion-fingerprint-v1\0")
    config_dict = json.loads(config.to_json_string())
    digest.update(json.dumps(_strip_volatile(config_dict), sort_keys=True).encode("utf-8"))
    for name, tensor in tensors:
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // _FINGERPRINT_SAMPLE)
        sample = flat[::step][:_FINGERPRINT_SAMPLE].float().cpu().numpy()
        digest.update(f"\0{name}:{tuple(tensor.shape)}\0".encode())
        digest.update(np.packbits(np.signbit(sample)).tobytes())
    digest.update(f"\0pooling={pooling}".encode())
    return digest.hexdigest()[:12]
