"""Process-wide, thread-safe cache of loaded models, tokenizers and processors.

Encoders never keep model weights as instance attributes: they look them up
here by ``(loader kind, model reference, device, dtype)``. Clones, copies and
unpickled encoders with the same parameters therefore share one loaded model,
and pickling an encoder only stores its hyper-parameters.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = [
    "CacheKey",
    "cache_keys",
    "clear_cache",
    "get_or_load",
    "make_key",
    "normalize_model_ref",
]

T = TypeVar("T")

CacheKey = tuple[str, str, str, str]
"""``(loader kind, normalised model reference, device, dtype name)``."""

_CACHE: dict[CacheKey, Any] = {}
_LOCK = threading.Lock()
# One lock per key so that two threads never load the same model twice while
# loads of different models can proceed in parallel.
_KEY_LOCKS: dict[CacheKey, threading.Lock] = {}


def normalize_model_ref(model: str | os.PathLike[str]) -> str:
    """Return a canonical string for a model id or local directory.

    Parameters
    ----------
    model : str or os.PathLike
        A Hugging Face model id or a path to a local model directory.

    Returns
    -------
    str
        The resolved absolute path for an existing local directory, otherwise
        the model id unchanged.
    """
    ref = os.fspath(model)
    if os.path.isdir(ref):
        return os.path.realpath(ref)
    return ref


def make_key(
    kind: str, model: str | os.PathLike[str], device: str = "", dtype: str = ""
) -> CacheKey:
    """Build the cache key for a loader.

    Parameters
    ----------
    kind : str
        What is loaded, e.g. ``"clip-model"`` or ``"tokenizer"``.
    model : str or os.PathLike
        Model id or local directory (normalised with :func:`normalize_model_ref`).
    device : str, default=""
        Torch device string; empty for device-independent objects.
    dtype : str, default=""
        Torch dtype name; empty for dtype-independent objects.

    Returns
    -------
    tuple of str
        The key.
    """
    return (kind, normalize_model_ref(model), device, dtype)


def get_or_load(key: CacheKey, loader: Callable[[], T]) -> T:
    """Return the cached object for ``key``, calling ``loader`` once if missing.

    Concurrent callers asking for the same key wait for a single load; a
    failed load caches nothing and the exception propagates.

    Parameters
    ----------
    key : tuple of str
        Cache key, see :func:`make_key`.
    loader : callable
        Zero-argument function that loads the object.

    Returns
    -------
    object
        The cached (or freshly loaded) object.
    """
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
        value = loader()
        with _LOCK:
            _CACHE[key] = value
        return value


def cache_keys() -> list[CacheKey]:
    """Return the keys currently cached.

    Returns
    -------
    list of tuple
        A snapshot of the cache keys.
    """
    with _LOCK:
        return list(_CACHE)


def clear_cache() -> None:
    """Drop every cached model, tokenizer and processor.

    Encoders keep working afterwards: they reload on their next use. Memory
    is released once no other reference to the models remains.

    Examples
    --------
    >>> from skfusion.encoders._cache import clear_cache
    >>> clear_cache()
    """
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


_QUIET_LOCK = threading.Lock()
_QUIET_DEPTH = 0
_QUIET_RESTORE: dict[str, bool] = {}
_TORCHVISION_FALLBACK = "requires torchvision (not installed); falling back to"


class _DropTorchvisionFallback:
    """Logging filter dropping transformers' 'falling back to the PIL backend' notice."""

    def filter(self, record: Any) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - malformed record
            return True
        return _TORCHVISION_FALLBACK not in message


_FALLBACK_FILTER = _DropTorchvisionFallback()


@contextmanager
def quiet_loading(show_progress: bool = False) -> Iterator[None]:
    """Silence transformers' loading chatter while models are loaded.

    Disables the "Loading weights" progress bars (unless ``show_progress``)
    and drops the notice that the torchvision image-processor backend is
    missing and the PIL one is used instead (the PIL backend gives the same
    preprocessing). The previous state is restored on exit; nested and
    concurrent uses are reference counted.

    Parameters
    ----------
    show_progress : bool, default=False
        Keep transformers' own progress bars.

    Yields
    ------
    None
    """
    import logging

    global _QUIET_DEPTH
    tf_logging: Any = None
    hub_utils: Any = None
    try:
        from transformers.utils import logging as tf_logging
    except Exception:  # pragma: no cover - transformers is a hard dependency
        tf_logging = None
    try:
        import huggingface_hub.utils as hub_utils
    except Exception:  # pragma: no cover
        hub_utils = None

    import_logger = logging.getLogger("transformers.utils.import_utils")
    with _QUIET_LOCK:
        if _QUIET_DEPTH == 0:
            import_logger.addFilter(_FALLBACK_FILTER)
            _QUIET_RESTORE.clear()
            if (
                not show_progress
                and tf_logging is not None
                and hasattr(tf_logging, "is_progress_bar_enabled")
                and tf_logging.is_progress_bar_enabled()
            ):
                hub_was_disabled = bool(
                    hub_utils is not None
                    and hasattr(hub_utils, "are_progress_bars_disabled")
                    and hub_utils.are_progress_bars_disabled()
                )
                tf_logging.disable_progress_bar()
                _QUIET_RESTORE["progress"] = True
                _QUIET_RESTORE["hub_disabled"] = hub_was_disabled
        _QUIET_DEPTH += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET_DEPTH -= 1
            if _QUIET_DEPTH == 0:
                import_logger.removeFilter(_FALLBACK_FILTER)
                if _QUIET_RESTORE.get("progress") and tf_logging is not None:
                    tf_logging.enable_progress_bar()
                    if _QUIET_RESTORE.get("hub_disabled") and hub_utils is not None:
                        hub_utils.disable_progress_bars()
                _QUIET_RESTORE.clear()
