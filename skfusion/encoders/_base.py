"""Shared machinery of the encoders: input checks, device and precision choice,
batching, progress, tokenisation with truncation accounting, normalisation and
fingerprints."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import InvalidParameterError

from .._arrays import EncodedArray
from .._warnings import WarnOnceMixin
from ._cache import normalize_model_ref

if TYPE_CHECKING:
    import torch

__all__ = ["BaseEncoder"]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_PRECISIONS = ("auto", "float32", "float16", "bfloat16")
# Tokenizers without a real limit report a huge sentinel model_max_length.
_NO_LIMIT = 1_000_000
_DEFAULT_CONTEXT = 512
# Config keys that do not change what a model computes and vary with the
# transformers version, the loading path or the loading precision.
_VOLATILE_CONFIG_KEYS = frozenset(
    {"transformers_version", "torch_dtype", "dtype", "architectures", "name_or_path"}
)
_FINGERPRINT_SAMPLE = 4096


def resolve_device(device: str) -> str:
    """Turn the ``device`` parameter into a concrete torch device string.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"mps"``,
        ``"cuda"`` or ``"cuda:<index>"``.

    Returns
    -------
    str
        The device to use.

    Raises
    ------
    ValueError
        If the string is malformed or the requested backend is unavailable.
    """
    import torch

    if not isinstance(device, str) or not _DEVICE_PATTERN.match(device):
        raise InvalidParameterError(
            "The 'device' parameter must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:<index>'. "
            f"Got {device!r} instead."
        )
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available.")
        if ":" in device and int(device.split(":", 1)[1]) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device='mps' was requested but MPS is not available.")
    return device


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


def context_length(tokenizer: Any, config: Any) -> int:
    """Number of tokens the model accepts.

    The smaller of the tokenizer's ``model_max_length`` and the config's
    ``max_position_embeddings`` (whichever are meaningful).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        The model's tokenizer.
    config : transformers config
        The text (sub-)config of the model.

    Returns
    -------
    int
        Maximum sequence length in tokens, special tokens included.
    """
    candidates = []
    for value in (
        getattr(tokenizer, "model_max_length", None),
        getattr(config, "max_position_embeddings", None),
    ):
        if isinstance(value, Integral) and 0 < int(value) < _NO_LIMIT:
            candidates.append(int(value))
    return min(candidates) if candidates else _DEFAULT_CONTEXT


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


@dataclass
class TokenizerEntry:
    """A cached tokenizer plus a lock (fast tokenizers are not re-entrant)."""

    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_tokenizer(model_ref: str) -> TokenizerEntry:
    """Load a model's tokenizer with ``AutoTokenizer``.

    Parameters
    ----------
    model_ref : str
        Model id or local directory.

    Returns
    -------
    TokenizerEntry
        The tokenizer and its lock.

    Raises
    ------
    OSError
        If no tokenizer is available. transformers 5 silently builds an empty
        tokenizer (special tokens only) when the files are missing; that is
        reported as missing too.
    """
    from transformers import AutoTokenizer

    from ._cache import quiet_loading

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(model_ref, trust_remote_code=False)
    specials = set(getattr(tokenizer, "all_special_tokens", []))
    if len(tokenizer) <= len(specials):
        raise OSError(f"{model_ref!r} has no tokenizer files (only special tokens were found)")
    return TokenizerEntry(tokenizer)


def token_lengths(entry: TokenizerEntry, texts: list[str], max_length: int) -> list[int]:
    """Number of tokens of each text, special tokens included, counted up to ``max_length + 1``.

    A text is truncated at ``max_length`` exactly when its count exceeds
    ``max_length``; capping the count there avoids tokenizing unbounded
    lengths.
    """
    with entry.lock:
        probe = entry.tokenizer(texts, truncation=True, max_length=max_length + 1, padding=False)
    return [len(ids) for ids in probe["input_ids"]]


def tokenize(
    entry: TokenizerEntry, texts: list[str], max_length: int, *, pad_to_max_length: bool = False
) -> dict[str, Any]:
    """Tokenise ``texts`` truncated to ``max_length`` tokens.

    Parameters
    ----------
    entry : TokenizerEntry
        The tokenizer.
    texts : list of str
        The texts of one batch.
    max_length : int
        Maximum number of tokens per text, special tokens included.
    pad_to_max_length : bool, default=False
        Pad every sequence to ``max_length`` (SigLIP was trained that way);
        otherwise pad to the longest sequence in the batch.

    Returns
    -------
    dict of str to torch.Tensor
        The tokenizer output as PyTorch tensors.
    """
    with entry.lock:
        encoding = entry.tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            padding="max_length" if pad_to_max_length else True,
            return_tensors="pt",
        )
    return dict(encoding)


def resolve_batch_tokens(setting: int | str | None, device: Any) -> int | None:
    """The padded-token cap per batch for the ``max_batch_tokens`` parameter.

    ``"auto"`` is :data:`CPU_BATCH_TOKENS` on a CPU and no cap elsewhere (an
    accelerator wants large batches); an integer is used as given.
    """
    if setting == "auto":
        return CPU_BATCH_TOKENS if str(device).startswith("cpu") else None
    return None if setting is None else int(setting)


#: Padded tokens per batch under ``max_batch_tokens="auto"`` on a CPU. On
#: Cranfield abstracts with all-MiniLM-L6-v2 (2-core CPU), 2,048 was the
#: fastest of 256 to 8,192 and no cap (docs/encoding.md).
CPU_BATCH_TOKENS = 2048


def length_batches(
    indices: Sequence[int],
    lengths: Sequence[int],
    batch_size: int,
    max_tokens: int | None,
    *,
    padded_length: int | None = None,
) -> Iterator[list[int]]:
    """Split ``indices`` into batches of similar token length, longest first.

    Each batch holds at most ``batch_size`` items and, when ``max_tokens``
    is set, at most ``max_tokens`` padded tokens (items × the batch's
    longest length, or × ``padded_length`` when every sequence is padded to
    it); a text longer than ``max_tokens`` forms a batch of its own.
    ``lengths[i]`` is the length of ``indices[i]``.
    """
    order = sorted(range(len(indices)), key=lambda k: lengths[k], reverse=True)
    batch: list[int] = []
    width = 0  # the padded length of the current batch: its first (longest) text's
    for k in order:
        if batch and (
            len(batch) >= batch_size
            or (max_tokens is not None and (len(batch) + 1) * width > max_tokens)
        ):
            yield batch
            batch = []
        if not batch:
            width = lengths[k] if padded_length is None else padded_length
        batch.append(indices[k])
    if batch:
        yield batch


class _NoProgress:
    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""


@contextmanager
def progress(enabled: bool, total: int, desc: str) -> Iterator[Any]:
    """A tqdm progress bar when ``enabled`` and tqdm is importable, else a no-op."""
    bar: Any = _NoProgress()
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            pass
        else:
            bar = tqdm(total=total, desc=desc, unit="item")
    try:
        yield bar
    finally:
        bar.close()


def batches(indices: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Split ``indices`` into consecutive chunks of at most ``batch_size``."""
    for start in range(0, len(indices), batch_size):
        yield list(indices[start : start + batch_size])


def as_item_list(X: Any) -> list[Any]:
    """Turn the encoders' input into a list of items.

    Accepts any iterable of items (list, tuple, 1-D array, pandas Series), a
    2-D array or DataFrame with exactly one column.

    Parameters
    ----------
    X : iterable
        The input.

    Returns
    -------
    list
        The items in order.

    Raises
    ------
    TypeError
        If ``X`` is a single string, path or image rather than a collection,
        or is not iterable.
    ValueError
        If ``X`` is empty or has more than one column.
    """
    if isinstance(X, str | bytes | Image.Image | os.PathLike):
        raise TypeError(
            f"X must be a collection of items (e.g. a list), got a single {type(X).__name__}; "
            "wrap it in a list."
        )
    ndim = getattr(X, "ndim", None)
    shape = getattr(X, "shape", None)
    if ndim == 2 and shape is not None:
        if shape[1] != 1:
            raise ValueError(
                f"X must be one-dimensional or have a single column; got shape {tuple(shape)}."
            )
        X = X.iloc[:, 0] if hasattr(X, "iloc") else np.asarray(X, dtype=object)[:, 0]
    elif ndim is not None and ndim > 2:
        raise ValueError(f"X must be one-dimensional; got shape {tuple(shape or ())}.")
    try:
        items = list(X)
    except TypeError as exc:
        raise TypeError(f"X must be an iterable of items, got {type(X).__name__}.") from exc
    if not items:
        raise ValueError("X is empty: at least one item is required.")
    return items


class BaseEncoder(WarnOnceMixin, TransformerMixin, BaseEstimator):
    """Common base of :class:`ClipEncoder` and :class:`TextEncoder`.

    Subclasses implement ``_model_entry`` (load through the cache and return
    an object with ``fingerprint`` and ``embedding_dim``) and ``_encode``.
    """

    _kind: ClassVar[str] = "encoder"
    _feature_prefix: ClassVar[str] = "emb"

    # Set by subclasses' __init__.
    model: str | os.PathLike[str]
    device: str
    precision: str
    batch_size: int
    show_progress: bool

    # -- loading ---------------------------------------------------------------

    def _validate_params(self) -> None:
        super()._validate_params()
        resolve_device(self.device)

    def _resolved(self) -> tuple[str, str]:
        device = resolve_device(self.device)
        return device, resolve_precision(self.precision, device)

    def _model_entry(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_fitted(self, entry: Any) -> None:
        device, dtype_name = self._resolved()
        self.encoder_id_ = f"{self._kind}:{display_name(self.model)}:{entry.fingerprint}"
        self.embedding_dim_ = int(entry.embedding_dim)
        self.device_ = device
        self.precision_ = dtype_name

    # -- sklearn API -----------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None) -> BaseEncoder:
        """Validate the parameters and load the model.

        The encoder is stateless: ``fit`` learns nothing from ``X``. It loads
        the model (through the process-wide cache) and records the fitted
        attributes.

        Parameters
        ----------
        X : ignored
            Not used, present for API consistency.
        y : ignored
            Not used, present for API consistency.

        Returns
        -------
        self
            The encoder, with ``encoder_id_``, ``embedding_dim_``, ``device_``
            and ``precision_`` set.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If a parameter is invalid.
        """
        self._set_fitted(self._model_entry())
        return self

    def get_encoder_id(self) -> str:
        """Return the fingerprint of the encoder's model, loading it if needed.

        Returns
        -------
        str
            ``"<kind>:<model name>:<12 hex characters>"``; see the class
            documentation for what the hash covers.
        """
        self._validate_params()
        self._set_fitted(self._model_entry())
        return self.encoder_id_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output feature names, ``<prefix>0`` to ``<prefix><dim - 1>``.

        Parameters
        ----------
        input_features : ignored
            Not used, present for API consistency.

        Returns
        -------
        numpy.ndarray of str
            One name per embedding dimension.
        """
        dim = getattr(self, "embedding_dim_", None)
        if dim is None:
            self._validate_params()
            dim = int(self._model_entry().embedding_dim)
        return np.asarray([f"{self._feature_prefix}{i}" for i in range(dim)], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = []
        return tags

    # -- warnings --------------------------------------------------------------

    def _warning_owner(self) -> str:
        return f"{type(self).__name__}({display_name(self.model)!r})"

    # -- output ----------------------------------------------------------------

    def _finish(self, out: np.ndarray, entry: Any, modality: str | None = None) -> EncodedArray:
        """Check, L2-normalise and wrap the raw embeddings."""
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise FloatingPointError(
                f"The model produced non-finite values for X[{bad}] "
                f"({int((~finite).sum())} row(s) affected); try precision='float32'."
            )
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        if zero.any():
            bad = int(np.flatnonzero(zero)[0])
            raise FloatingPointError(f"The model produced an all-zero embedding for X[{bad}].")
        out /= norms
        self._set_fitted(entry)
        return EncodedArray(np.ascontiguousarray(out, dtype=np.float32), self.encoder_id_, modality)
