"""Tokenising and batching of the encoders.

Tokenizers are loaded with a lock (fast tokenizers are not re-entrant); texts
are counted in tokens so that truncation can be reported, and split into
batches of similar length, longest first, under a cap on padded tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

__all__ = [
    "CPU_BATCH_TOKENS",
    "TokenizerEntry",
    "batches",
    "context_length",
    "length_batches",
    "load_tokenizer",
    "resolve_batch_tokens",
    "token_lengths",
    "tokenize",
]

# Tokenizers without a real limit report a huge sentinel model_max_length.
_NO_LIMIT = 1_000_000
_DEFAULT_CONTEXT = 512


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


def batches(indices: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Split ``indices`` into consecutive chunks of at most ``batch_size``."""
    for start in range(0, len(indices), batch_size):
        yield list(indices[start : start + batch_size])
