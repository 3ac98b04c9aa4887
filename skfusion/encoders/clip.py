"""CLIP-family encoder for texts and images sharing one embedding space."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from sklearn.utils._param_validation import Interval, StrOptions

from .._arrays import EncodedArray, combine_modalities
from ._base import (
    BaseEncoder,
    TokenizerEntry,
    as_item_list,
    batches,
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
from ._image_io import (
    DEFAULT_MAX_IMAGE_PIXELS,
    ImageLoader,
    ImageLoadError,
    PixelBudget,
    is_image_reference,
)
from ._preprocess import ResizeCrop

__all__ = ["ClipEncoder"]

# Models whose text tower was trained on inputs padded to the full context.
_PAD_TO_MAX_LENGTH_TYPES = frozenset({"siglip", "siglip2"})
# Loader threads used by ``num_workers=None``: at most this many.
_AUTO_WORKERS = 8


def _auto_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(_AUTO_WORKERS, cpus or 1))


@dataclass
class _ClipModelEntry:
    model: Any
    fingerprint: str
    embedding_dim: int
    model_type: str


def _sample_tensors(model: Any) -> list[tuple[str, Any]]:
    """Weights sampled for the fingerprint: both projections when present."""
    import torch

    found: list[tuple[str, Any]] = []
    for name in ("text_projection", "visual_projection"):
        module = getattr(model, name, None)
        weight: Any = (
            module if isinstance(module, torch.Tensor) else getattr(module, "weight", None)
        )
        if isinstance(weight, torch.Tensor):
            found.append((name, weight))
    if found:
        return found
    params = [(n, p) for n, p in model.named_parameters() if p.is_floating_point()]
    return [params[0], params[-1]] if params else []


def _embedding_dim(config: Any) -> int:
    for owner, attr in (
        (config, "projection_dim"),
        (getattr(config, "text_config", None), "projection_size"),
        (getattr(config, "text_config", None), "hidden_size"),
        (config, "hidden_size"),
    ):
        value = getattr(owner, attr, None) if owner is not None else None
        if isinstance(value, Integral):
            return int(value)
    raise ValueError("Cannot tell the embedding dimension from the model config.")


def _load_clip_model(model_ref: str, device: str, dtype_name: str) -> _ClipModelEntry:
    from transformers import AutoModel

    with quiet_loading():
        model = AutoModel.from_pretrained(
            model_ref, trust_remote_code=False, **dtype_kwargs(dtype_name)
        )
    if not (hasattr(model, "get_text_features") or hasattr(model, "get_image_features")):
        raise ValueError(
            f"{model_ref!r} loads as {type(model).__name__}, which has neither "
            "get_text_features nor get_image_features; it is not a CLIP-family model."
        )
    model.to(device)
    model.eval()
    return _ClipModelEntry(
        model=model,
        fingerprint=fingerprint_hex(model.config, _sample_tensors(model), "clip"),
        embedding_dim=_embedding_dim(model.config),
        model_type=str(getattr(model.config, "model_type", "")),
    )


def _load_image_processor(model_ref: str) -> Any:
    from transformers import AutoImageProcessor

    with quiet_loading():
        return AutoImageProcessor.from_pretrained(model_ref, trust_remote_code=False)


def _features(output: Any, expected_dim: int, which: str) -> Any:
    """Projected embeddings from ``get_*_features`` in transformers 4.x or 5.x."""
    import torch

    features: Any
    if isinstance(output, torch.Tensor):  # transformers 4.x
        features = output
    else:  # transformers 5.x: BaseModelOutputWithPooling
        features = getattr(output, "pooler_output", None)
        if not isinstance(features, torch.Tensor):
            raise RuntimeError(f"get_{which}_features returned no pooler_output.")
    if features.ndim != 2 or features.shape[-1] != expected_dim:
        raise RuntimeError(
            f"get_{which}_features returned shape {tuple(features.shape)}; "
            f"expected (batch, {expected_dim})."
        )
    return features


class ClipEncoder(BaseEncoder):
    """Embed texts and images into a CLIP model's shared space.

    A stateless scikit-learn transformer: ``transform`` works without
    ``fit``. Models are loaded lazily through a process-wide cache, so
    clones, copies and unpickled encoders share the weights and pickling an
    encoder stores only its parameters.

    Parameters
    ----------
    model : str or os.PathLike, default="openai/clip-vit-base-patch32"
        Hugging Face model id or local directory of a model that
        ``transformers.AutoModel`` loads with ``get_text_features`` and/or
        ``get_image_features`` (CLIP, SigLIP, ...).
    modality : {"auto", "text", "image"}, default="auto"
        How items are interpreted. ``"auto"`` decides per item: PIL images,
        ``os.PathLike`` objects, strings starting with ``file://``,
        ``http://`` or ``https://`` and strings naming an existing file are
        images; other strings are text.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:<index>"`` or ``"mps"``.
    batch_size : int, default=32
        Most items per forward pass.
    max_batch_tokens : int, "auto" or None, default="auto"
        Most padded tokens per forward pass of texts (texts × the longest
        one's tokens, or × the context for SigLIP-style models, which pad
        every text to it); texts are batched longest first. ``"auto"`` caps
        at 2,048 on a CPU and does not cap on an accelerator; ``None`` never
        caps. Images are not affected. The output depends on it only through
        floating-point rounding.
    precision : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Weight dtype; ``"auto"`` is float16 on CUDA and float32 elsewhere.
        The output is float32 in every case.
    url_timeout : float, default=10.0
        Deadline in seconds for one HTTP(S) image download: connecting,
        every redirect (at most 5, to ``http``/``https`` URLs only), the
        headers and the body together.
    max_image_bytes : int, default=20_000_000
        Downloads with a larger body are aborted.
    max_image_pixels : int, default=50_000_000
        Images that would decode to more pixels are refused after their
        header is read, before any pixel is decoded (an ``ImageLoadError``
        for that item). JPEG files count the pixels of their reduced-scale
        decode when ``jpeg_draft`` applies, so large photos stay cheap. It
        also bounds the memory of the loader threads: together they decode
        at most ``max_image_pixels`` pixels at a time (about 4 to 8 bytes
        each), whatever ``num_workers``.
    image_root : str or path-like, optional
        Resolve local image paths under this directory and refuse any that
        escape it (``..``, absolute paths elsewhere, symlinks out of it):
        use it when paths come from untrusted data.
    show_progress : bool, default=False
        Show a tqdm progress bar (if tqdm is installed).
    num_workers : int or None, default=None
        Threads that read, decode and preprocess images while the model
        embeds the previous batch (PIL releases the GIL while decoding and
        resizing). ``None`` uses one per available CPU core, at most 8;
        ``0`` loads images in the calling thread. The output does not
        depend on it.
    jpeg_draft : bool, default=True
        Decode JPEG files and downloads at a reduced scale (1/2, 1/4 or 1/8,
        PIL's draft mode) when both sides stay at least the model's input
        size, instead of decoding every pixel and then shrinking: several
        times faster for large photos. Embeddings differ slightly from
        those of a full decode (cosine > 0.99 in the tests); ``False``
        decodes every pixel.

    Attributes
    ----------
    encoder_id_ : str
        Fingerprint ``"clip:<model name>:<12 hex>"``. The hex is a SHA-256 of
        the model config, the sign pattern of a strided sample of the text and
        visual projection weights and the pooling mode; it does not depend on
        the modality, the device, the precision or the directory the model was
        loaded from. Set by ``fit``, ``transform`` and ``get_encoder_id``.
    embedding_dim_ : int
        Dimension of the embeddings.
    device_ : str
        The device used.
    precision_ : str
        The weight dtype used.
    warning_counts_ : dict of str to int
        Texts truncated so far (``"truncated"``) by this encoder and its
        clones; empty until the first truncation.

    Notes
    -----
    Texts longer than the model's context (the smaller of the tokenizer's
    ``model_max_length`` and the text config's ``max_position_embeddings``)
    are truncated; a ``UserWarning`` reports how many the first time it
    happens to the encoder or any of its clones (a grid search over a
    Pipeline warns once, at the user's call), and ``warning_counts_``
    keeps counting after that. With transformers 5 and no torchvision installed, the image
    processor uses its PIL backend; the corresponding log notice is silenced.

    Examples
    --------
    >>> from skfusion.encoders import ClipEncoder
    >>> enc = ClipEncoder("openai/clip-vit-base-patch32")  # doctest: +SKIP
    >>> X = enc.transform(["a photo of a cat", "cat.jpg"])  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (2, 512)
    """

    _kind: ClassVar[str] = "clip"
    _feature_prefix: ClassVar[str] = "clip"

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "model": [str, os.PathLike],
        "modality": [StrOptions({"auto", "text", "image"})],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_batch_tokens": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
        "precision": [StrOptions({"auto", "float32", "float16", "bfloat16"})],
        "url_timeout": [Interval(Real, 0, None, closed="neither")],
        "max_image_bytes": [Interval(Integral, 1, None, closed="left")],
        "max_image_pixels": [Interval(Integral, 1, None, closed="left")],
        "image_root": [str, os.PathLike, None],
        "show_progress": ["boolean"],
        "num_workers": [Interval(Integral, 0, None, closed="left"), None],
        "jpeg_draft": ["boolean"],
    }

    def __init__(
        self,
        model: str | os.PathLike[str] = "openai/clip-vit-base-patch32",
        *,
        modality: str = "auto",
        device: str = "auto",
        batch_size: int = 32,
        max_batch_tokens: int | str | None = "auto",
        precision: str = "auto",
        url_timeout: float = 10.0,
        max_image_bytes: int = 20_000_000,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        image_root: str | os.PathLike[str] | None = None,
        show_progress: bool = False,
        num_workers: int | None = None,
        jpeg_draft: bool = True,
    ) -> None:
        self.model = model
        self.modality = modality
        self.device = device
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.precision = precision
        self.url_timeout = url_timeout
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self.image_root = image_root
        self.show_progress = show_progress
        self.num_workers = num_workers
        self.jpeg_draft = jpeg_draft

    # -- loading ---------------------------------------------------------------

    def _model_entry(self) -> _ClipModelEntry:
        device, dtype_name = self._resolved()
        ref = normalize_model_ref(self.model)
        key = make_key("clip-model", ref, device, dtype_name)
        return get_or_load(key, lambda: _load_clip_model(ref, device, dtype_name))

    def _tokenizer(self) -> TokenizerEntry:
        ref = normalize_model_ref(self.model)
        try:
            return get_or_load(make_key("tokenizer", ref), lambda: load_tokenizer(ref))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"Cannot encode text with {self.model!r}: no tokenizer could be loaded ({exc})."
            ) from exc

    def _image_processor(self) -> Any:
        ref = normalize_model_ref(self.model)
        try:
            return get_or_load(make_key("image-processor", ref), lambda: _load_image_processor(ref))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"Cannot encode images with {self.model!r}: no image processor could be "
                f"loaded ({exc})."
            ) from exc

    # -- sklearn API -----------------------------------------------------------

    def transform(self, X: Any) -> EncodedArray:
        """Embed texts and/or images.

        Parameters
        ----------
        X : sequence of str, os.PathLike or PIL.Image.Image
            The items, interpreted according to ``modality``. A 2-D array or
            DataFrame with a single column is accepted too.

        Returns
        -------
        EncodedArray of shape (n_items, ``embedding_dim_``)
            float32, C-contiguous, L2-normalised rows in input order, with
            ``encoder_id`` set to ``encoder_id_``.

        Raises
        ------
        ValueError
            If ``X`` is empty, or the model lacks the tokenizer / image
            processor an item needs.
        TypeError
            If an item has an unsupported type for the modality (the message
            names its index).
        ImageLoadError
            If an image cannot be read, downloaded or decoded, or has more
            than ``max_image_pixels`` pixels (the message names its index,
            source and reason); the first such item in input order.
        FloatingPointError
            If the model produced non-finite values.
        """
        embeddings, _, _ = self._transform(X, collect_errors=False)
        return embeddings

    def transform_partial(self, X: Any) -> tuple[EncodedArray, np.ndarray, dict[int, Exception]]:
        """Embed the items that can be embedded and report the others.

        Like :meth:`transform`, but an item that cannot be used (an image
        that cannot be read, downloaded or decoded or is over the pixel
        budget, a path with a NUL byte, or an item of the wrong
        type for ``modality``) does not abort the call: it is left out of
        the embeddings and its exception is returned. Nothing is dropped
        silently; every input index is either in ``ok`` or in ``errors``.
        The good items are encoded in batches of at most ``batch_size``, as
        :meth:`transform` encodes them.

        Parameters
        ----------
        X : sequence of str, os.PathLike or PIL.Image.Image
            The items, as for :meth:`transform`.

        Returns
        -------
        embeddings : EncodedArray of shape (len(ok), ``embedding_dim_``)
            The embeddings of the good items, in input order.
        ok : ndarray of int of shape (n_ok,)
            Input positions of the rows of ``embeddings``.
        errors : dict of int to Exception
            Input position to the ``ImageLoadError`` or ``TypeError`` that
            rejected it.

        Raises
        ------
        ValueError
            If ``X`` is empty or the model lacks the tokenizer / image
            processor an item needs (not per-item problems).
        FloatingPointError
            If the model produced non-finite values.
        """
        return self._transform(X, collect_errors=True)

    def _transform(
        self, X: Any, *, collect_errors: bool
    ) -> tuple[EncodedArray, np.ndarray, dict[int, Exception]]:
        self._validate_params()
        items = as_item_list(X)
        errors: dict[int, Exception] = {}
        is_image: list[bool | None] = []
        for i, item in enumerate(items):
            try:
                is_image.append(self._is_image(i, item))
            except TypeError as exc:
                if not collect_errors:
                    raise
                errors[i] = exc
                is_image.append(None)
        entry = self._model_entry()
        out = np.empty((len(items), entry.embedding_dim), dtype=np.float32)
        text_idx = [i for i, flag in enumerate(is_image) if flag is False]
        image_idx = [i for i, flag in enumerate(is_image) if flag]
        if text_idx and not hasattr(entry.model, "get_text_features"):
            raise ValueError(f"{self.model!r} cannot encode text (X[{text_idx[0]}] is text).")
        if image_idx and not hasattr(entry.model, "get_image_features"):
            raise ValueError(f"{self.model!r} cannot encode images (X[{image_idx[0]}] is one).")
        n_truncated = 0
        with progress(self.show_progress, len(items), "Encoding") as bar:
            if text_idx:
                n_truncated = self._encode_texts(entry, items, text_idx, out, bar)
            if image_idx:
                self._encode_images(
                    entry, items, image_idx, out, bar, errors if collect_errors else None
                )
        if n_truncated:
            self._warn_once(
                "truncated",
                n_truncated,
                f"{n_truncated} of {len(text_idx)} texts were longer than the model's context "
                f"of {self._context(entry)} tokens and were truncated.",
            )
        ok = np.asarray([i for i in range(len(items)) if i not in errors], dtype=np.intp)
        if errors:
            out = out[ok]
        modality = combine_modalities(
            "image" if is_image[i] else "text" for i in ok.tolist() if is_image[i] is not None
        )
        return self._finish(out, entry, modality), ok, errors

    # -- encoding --------------------------------------------------------------

    def _is_image(self, index: int, item: Any) -> bool:
        if self.modality == "text":
            if isinstance(item, str):
                return False
            raise TypeError(
                f"X[{index}] is of type {type(item).__name__}; modality='text' expects strings."
            )
        if self.modality == "image":
            if isinstance(item, str | os.PathLike | Image.Image):
                return True
            raise TypeError(
                f"X[{index}] is of type {type(item).__name__}; modality='image' expects "
                "PIL images, paths or URLs."
            )
        if isinstance(item, str | os.PathLike | Image.Image):
            return is_image_reference(item)
        raise TypeError(
            f"X[{index}] is of type {type(item).__name__}; expected a string (text, path "
            "or URL), an os.PathLike path or a PIL image."
        )

    def _context(self, entry: _ClipModelEntry) -> int:
        config = entry.model.config
        text_config = getattr(config, "text_config", None) or config
        return context_length(self._tokenizer().tokenizer, text_config)

    def _encode_texts(
        self,
        entry: _ClipModelEntry,
        items: list[Any],
        indices: list[int],
        out: np.ndarray,
        bar: Any,
    ) -> int:
        import torch

        tokenizer = self._tokenizer()
        max_length = self._context(entry)
        pad_to_max = entry.model_type in _PAD_TO_MAX_LENGTH_TYPES
        model = entry.model
        device = next(model.parameters()).device
        texts = [str(items[i]) for i in indices]
        lengths = token_lengths(tokenizer, texts, max_length)
        n_truncated = sum(n > max_length for n in lengths)
        text_of = dict(zip(indices, texts, strict=True))
        # Longest texts first, so each batch pads to a similar length.
        for chunk in length_batches(
            indices,
            [min(n, max_length) for n in lengths],
            self.batch_size,
            resolve_batch_tokens(self.max_batch_tokens, device),
            padded_length=max_length if pad_to_max else None,
        ):
            encoding = tokenize(
                tokenizer, [text_of[i] for i in chunk], max_length, pad_to_max_length=pad_to_max
            )
            inputs = {
                k: encoding[k].to(device) for k in ("input_ids", "attention_mask") if k in encoding
            }
            with torch.inference_mode():
                features = _features(model.get_text_features(**inputs), entry.embedding_dim, "text")
            out[chunk] = features.float().cpu().numpy()
            bar.update(len(chunk))
        return n_truncated

    def _image_loader(self, processor: Any, fast: ResizeCrop | None) -> ImageLoader:
        """The loader for one call, with a pixel budget its threads share."""
        draft = None
        if self.jpeg_draft:
            draft = fast.shortest_edge if fast is not None else _draft_size(processor)
        return ImageLoader(
            url_timeout=float(self.url_timeout),
            max_image_bytes=int(self.max_image_bytes),
            max_image_pixels=int(self.max_image_pixels),
            image_root=None if self.image_root is None else os.fspath(self.image_root),
            draft_size=draft,
            budget=PixelBudget(int(self.max_image_pixels)),
        )

    def _load_batch(
        self,
        items: list[Any],
        batch: list[int],
        processor: Any,
        fast: ResizeCrop | None,
        loader: ImageLoader,
    ) -> tuple[list[int], Any, dict[int, ImageLoadError]]:
        """Read, decode and preprocess one batch (run in a loader thread).

        Returns the positions that loaded, their pixels (uint8 crops for
        ``fast``, else the processor's ``pixel_values``) and the failures.
        With ``fast``, each image is cropped while it holds its share of
        ``loader.budget``; otherwise the batch's RGB images are kept until
        the processor runs.
        """
        failed: dict[int, ImageLoadError] = {}
        loaded: list[Any] = []
        chunk: list[int] = []
        for i in batch:
            try:
                if fast is not None:
                    loaded.append(loader.load_reduced(items[i], i, fast))
                else:
                    loaded.append(loader.load(items[i], i))
            except ImageLoadError as exc:
                failed[i] = exc
                continue
            chunk.append(i)
        if not chunk:
            return chunk, None, failed
        if fast is not None:
            return chunk, loaded, failed
        return chunk, processor(images=loaded, return_tensors="pt")["pixel_values"], failed

    def _loaded_batches(
        self, items: list[Any], indices: list[int], processor: Any, fast: ResizeCrop | None
    ) -> Iterator[tuple[list[int], list[int], Any, dict[int, ImageLoadError]]]:
        """Batches in order, loaded ahead by ``num_workers`` threads."""
        todo = list(batches(indices, self.batch_size))
        loader = self._image_loader(processor, fast)
        workers = _auto_workers() if self.num_workers is None else int(self.num_workers)
        if workers == 0 or len(todo) == 1:
            for batch in todo:
                yield (batch, *self._load_batch(items, batch, processor, fast, loader))
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skfusion-images")
        pending: list[tuple[list[int], Future[Any]]] = []

        def submit(batch: list[int]) -> Future[Any]:
            return pool.submit(self._load_batch, items, batch, processor, fast, loader)

        try:
            ahead = iter(todo)
            # Keep every worker busy plus one batch ready for the model.
            for batch in ahead:
                pending.append((batch, submit(batch)))
                if len(pending) > workers:
                    break
            while pending:
                batch, future = pending.pop(0)
                result = future.result()
                nxt = next(ahead, None)
                if nxt is not None:
                    pending.append((nxt, submit(nxt)))
                yield (batch, *result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _encode_images(
        self,
        entry: _ClipModelEntry,
        items: list[Any],
        indices: list[int],
        out: np.ndarray,
        bar: Any,
        errors: dict[int, Exception] | None = None,
    ) -> None:
        import torch

        processor = self._image_processor()
        fast = ResizeCrop.from_processor(processor)
        model = entry.model
        device = next(model.parameters()).device
        dtype = model.dtype
        for batch, chunk, pixels, failed in self._loaded_batches(items, indices, processor, fast):
            if failed:
                if errors is None:
                    raise failed[min(failed)]
                errors.update(failed)
            if not chunk:
                bar.update(len(batch))
                continue
            if fast is not None:
                pixel_values = fast.to_tensor(pixels, device, dtype)
            else:
                pixel_values = pixels.to(device, dtype=dtype)
            with torch.inference_mode():
                features = _features(
                    model.get_image_features(pixel_values=pixel_values),
                    entry.embedding_dim,
                    "image",
                )
            out[chunk] = features.float().cpu().numpy()
            bar.update(len(batch))


def _draft_size(processor: Any) -> int | None:
    """The smallest side an image may be decoded at for ``processor``, or None if unknown.

    The largest target side named by the processor's ``size`` and
    ``crop_size``; None when it resizes by the longest edge or names no size.
    """
    sides: list[int] = []
    for attr in ("size", "crop_size"):
        config = getattr(processor, attr, None)
        if config is None:
            continue
        get = config.get if isinstance(config, dict) else lambda k, c=config: getattr(c, k, None)
        if get("longest_edge") is not None:
            return None
        sides.extend(
            int(v)
            for v in (get(k) for k in ("shortest_edge", "height", "width"))
            if isinstance(v, Integral)
        )
    return max(sides) if sides else None
