"""Sentence embeddings from any transformers text model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._arrays import EncodedArray
from ._base import (
    BaseEncoder,
    TokenizerEntry,
    as_item_list,
    context_length,
    dtype_kwargs,
    fingerprint_hex,
    length_batches,
    load_tokenizer,
    progress,
    resolve_batch_tokens,
    token_lengths,
    tokenize,
)
from ._cache import get_or_load, make_key, normalize_model_ref, quiet_loading

__all__ = ["TextEncoder"]


@dataclass
class _TextModelEntry:
    model: Any
    config: Any
    word_embeddings: Any


def _load_text_model(model_ref: str, device: str, dtype_name: str) -> _TextModelEntry:
    from transformers import AutoModel

    with quiet_loading():
        model = AutoModel.from_pretrained(
            model_ref, trust_remote_code=False, **dtype_kwargs(dtype_name)
        )
    model.to(device)
    model.eval()
    embeddings = model.get_input_embeddings()
    weight = getattr(embeddings, "weight", None)
    if weight is None:  # pragma: no cover - every transformers text model has one
        raise ValueError(f"{model_ref!r} has no input embedding matrix.")
    return _TextModelEntry(model=model, config=model.config, word_embeddings=weight)


@dataclass
class _PooledEntry:
    """A loaded model seen through one pooling mode (what the base class needs)."""

    model: Any
    config: Any
    fingerprint: str
    embedding_dim: int


class TextEncoder(BaseEncoder):
    """Embed texts with a transformers encoder model and a pooling rule.

    A stateless scikit-learn transformer (``transform`` works without
    ``fit``) built on ``transformers.AutoModel`` and ``AutoTokenizer``.
    Models are shared through the process-wide cache, as for
    :class:`ClipEncoder`.

    Parameters
    ----------
    model : str or os.PathLike
        Hugging Face model id or local directory (e.g. a sentence-transformers
        checkpoint such as all-MiniLM-L6-v2).
    pooling : {"mean", "cls"}, default="mean"
        ``"mean"``: attention-mask weighted mean of the last hidden states;
        ``"cls"``: the first token's last hidden state.
    max_length : int or None, default=None
        Token limit per text. ``None`` uses the model's context (the smaller
        of the tokenizer's ``model_max_length`` and the config's
        ``max_position_embeddings``); larger values are capped at it.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:<index>"`` or ``"mps"``.
    batch_size : int, default=32
        Most texts per forward pass.
    max_batch_tokens : int, "auto" or None, default="auto"
        Most padded tokens per forward pass (texts × the longest one's
        tokens); texts are batched longest first, so long texts go in
        smaller batches. ``"auto"`` caps at 2,048 on a CPU, where large
        activations of long texts made big batches slower than one text at
        a time, and does not cap on an accelerator; ``None`` never caps. The
        output depends on it only through floating-point rounding.
    precision : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Weight dtype; ``"auto"`` is float16 on CUDA and float32 elsewhere.
        Pooling and the output are float32.
    show_progress : bool, default=False
        Show a tqdm progress bar (if tqdm is installed).

    Attributes
    ----------
    encoder_id_ : str
        Fingerprint ``"text:<model name>:<12 hex>"``: a SHA-256 of the model
        config, the sign pattern of a strided sample of the word-embedding
        matrix and the pooling mode.
    embedding_dim_ : int
        Dimension of the embeddings (the model's hidden size).
    device_ : str
        The device used.
    precision_ : str
        The weight dtype used.
    warning_counts_ : dict of str to int
        Texts truncated so far (``"truncated"``) by this encoder and its
        clones; empty until the first truncation.

    Notes
    -----
    Texts longer than ``max_length`` tokens are truncated; a ``UserWarning``
    reports how many the first time it happens to the encoder or any of its
    clones (a grid search over a Pipeline warns once, at the user's call),
    and ``warning_counts_`` keeps counting after that.

    Examples
    --------
    >>> from skfusion.encoders import TextEncoder
    >>> enc = TextEncoder("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> enc.transform(["a cat", "a dog"]).shape  # doctest: +SKIP
    (2, 384)
    """

    _kind: ClassVar[str] = "text"
    _feature_prefix: ClassVar[str] = "text"

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "model": [str, os.PathLike],
        "pooling": [StrOptions({"mean", "cls"})],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_batch_tokens": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
        "precision": [StrOptions({"auto", "float32", "float16", "bfloat16"})],
        "show_progress": ["boolean"],
    }

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        pooling: str = "mean",
        max_length: int | None = None,
        device: str = "auto",
        batch_size: int = 32,
        max_batch_tokens: int | str | None = "auto",
        precision: str = "auto",
        show_progress: bool = False,
    ) -> None:
        self.model = model
        self.pooling = pooling
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.precision = precision
        self.show_progress = show_progress

    # -- loading ---------------------------------------------------------------

    def _model_entry(self) -> _PooledEntry:
        device, dtype_name = self._resolved()
        ref = normalize_model_ref(self.model)
        loaded = get_or_load(
            make_key("text-model", ref, device, dtype_name),
            lambda: _load_text_model(ref, device, dtype_name),
        )
        pooling = str(self.pooling)
        fingerprint = get_or_load(
            make_key(f"text-fingerprint:{pooling}", ref, device, dtype_name),
            lambda: fingerprint_hex(
                loaded.config, [("word_embeddings", loaded.word_embeddings)], pooling
            ),
        )
        return _PooledEntry(
            model=loaded.model,
            config=loaded.config,
            fingerprint=fingerprint,
            embedding_dim=int(loaded.config.hidden_size),
        )

    def _tokenizer(self) -> TokenizerEntry:
        ref = normalize_model_ref(self.model)
        return get_or_load(make_key("tokenizer", ref), lambda: load_tokenizer(ref))

    # -- sklearn API -----------------------------------------------------------

    def transform(self, X: Any) -> EncodedArray:
        """Embed texts.

        Parameters
        ----------
        X : sequence of str
            The texts. A 2-D array or DataFrame with a single column is
            accepted too.

        Returns
        -------
        EncodedArray of shape (n_texts, ``embedding_dim_``)
            float32, C-contiguous, L2-normalised rows in input order, with
            ``encoder_id`` set to ``encoder_id_``.

        Raises
        ------
        ValueError
            If ``X`` is empty.
        TypeError
            If an item is not a string (the message names its index).
        FloatingPointError
            If the model produced non-finite values.
        """
        import torch

        self._validate_params()
        items = as_item_list(X)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(
                    f"X[{i}] is of type {type(item).__name__}; TextEncoder expects strings."
                )
        entry = self._model_entry()
        tokenizer = self._tokenizer()
        limit = context_length(tokenizer.tokenizer, entry.config)
        max_length = limit if self.max_length is None else min(int(self.max_length), limit)
        model = entry.model
        if getattr(entry.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
            model = model.get_encoder()
        device = next(model.parameters()).device
        out = np.empty((len(items), entry.embedding_dim), dtype=np.float32)
        texts: list[str] = items
        lengths = token_lengths(tokenizer, texts, max_length)
        n_truncated = sum(n > max_length for n in lengths)
        max_tokens = resolve_batch_tokens(self.max_batch_tokens, device)
        with progress(self.show_progress, len(items), "Encoding") as bar:
            # Longest texts first, so each batch pads to a similar length.
            for chunk in length_batches(
                range(len(items)),
                [min(n, max_length) for n in lengths],
                self.batch_size,
                max_tokens,
            ):
                encoding = tokenize(tokenizer, [texts[i] for i in chunk], max_length)
                inputs = {k: v.to(device) for k, v in encoding.items()}
                with torch.inference_mode():
                    output = model(**inputs)
                    hidden = getattr(output, "last_hidden_state", None)
                    if hidden is None:
                        hidden = output[0]
                    hidden = hidden.float()
                    if self.pooling == "cls":
                        pooled = hidden[:, 0]
                    else:
                        attention = inputs.get("attention_mask")
                        if attention is None:
                            attention = torch.ones(hidden.shape[:2], device=hidden.device)
                        mask = attention.unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[chunk] = pooled.cpu().numpy()
                bar.update(len(chunk))
        if n_truncated:
            self._warn_once(
                "truncated",
                n_truncated,
                f"{n_truncated} of {len(items)} texts were longer than {max_length} tokens "
                "and were truncated.",
            )
        return self._finish(out, entry, "text")
