"""Loading images from local paths, ``file://`` and ``http(s)://`` URLs or PIL images."""

from __future__ import annotations

import http.client
import io
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from PIL import Image, ImageOps

__all__ = [
    "ImageLoadError",
    "ResizeCrop",
    "describe_source",
    "is_image_reference",
    "load_image",
]

_URL_PREFIXES = ("http://", "https://", "file://")
_ANY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Content types accepted from an HTTP server besides image/*: generic binary
# types used by object stores. Anything else (text/html error pages, JSON...)
# is refused before decoding.
_GENERIC_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_CHUNK_SIZE = 64 * 1024
_MAX_PATH_CHARS = 4096


class ImageLoadError(ValueError):
    """An image in the input could not be loaded.

    Parameters
    ----------
    index : int
        Position of the offending item in ``X``.
    source : str
        The path, URL or a description of the in-memory image.
    reason : str
        Why loading failed.

    Attributes
    ----------
    index : int
        Position of the offending item in ``X``.
    source : str
        The path, URL or a description of the in-memory image.
    reason : str
        Why loading failed.
    """

    def __init__(self, index: int, source: str, reason: str) -> None:
        self.index = index
        self.source = source
        self.reason = reason
        super().__init__(f"Could not load the image at index {index} of X ({source}): {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.index, self.source, self.reason))


class _Refused(Exception):
    """Internal: a load failed for ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _has_url_prefix(text: str) -> bool:
    return text[:8].lower().startswith(_URL_PREFIXES)


def is_image_reference(item: Any) -> bool:
    """Tell whether ``item`` is an image under ``modality="auto"``.

    PIL images and ``os.PathLike`` objects are images. A string is an image
    when it starts with ``file://``, ``http://`` or ``https://`` or names an
    existing file; any other string is text.

    Parameters
    ----------
    item : object
        One element of ``X``.

    Returns
    -------
    bool
        True when the item should be encoded as an image.
    """
    if isinstance(item, Image.Image | os.PathLike):
        return True
    if isinstance(item, str):
        if _has_url_prefix(item):
            return True
        if len(item) > _MAX_PATH_CHARS or "\n" in item or "\x00" in item:
            return False
        return os.path.isfile(item)
    return False


def _redact(url: str) -> str:
    """Drop user credentials from a URL before it goes into an error message."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


def describe_source(item: Any) -> str:
    """Return a short human-readable description of an image item.

    Parameters
    ----------
    item : object
        One element of ``X``.

    Returns
    -------
    str
        The path or (credential-free) URL, or a description of a PIL image.
    """
    if isinstance(item, Image.Image):
        return f"PIL image, mode {item.mode}, size {item.size[0]}x{item.size[1]}"
    if isinstance(item, os.PathLike):
        return repr(os.fspath(item))
    if isinstance(item, str):
        return repr(_redact(item)) if _has_url_prefix(item) else repr(item)
    return repr(item)  # pragma: no cover - callers only pass images


def _decode(fp: Any, draft_size: int | None = None) -> Image.Image:
    """Open, fully decode and convert to RGB.

    With ``draft_size``, a JPEG is decoded at a reduced scale (1/2, 1/4 or
    1/8, by libjpeg's DCT scaling) chosen so that both sides stay at least
    ``draft_size`` pixels: the later resize to the model's input always
    downsamples, and decoding costs a fraction of a full decode.
    """
    try:
        with Image.open(fp) as img:
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))
            img.load()
            oriented = ImageOps.exif_transpose(img)
            return oriented.convert("RGB")
    except Image.UnidentifiedImageError as exc:
        raise _Refused("the data is not a recognised image format") from exc
    except Image.DecompressionBombError as exc:
        raise _Refused(f"the image is too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt files raise OSError (or SyntaxError for some
        # plugins) during ``load``.
        raise _Refused(f"the image data is corrupt or truncated ({exc})") from exc


def _read_local(path: str, draft_size: int | None = None) -> Image.Image:
    if not os.path.exists(path):
        raise _Refused("no such file")
    if os.path.isdir(path):
        raise _Refused("the path is a directory, not an image file")
    if os.path.getsize(path) == 0:
        raise _Refused("the file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            return _decode(fh, draft_size)
    except PermissionError as exc:
        raise _Refused(f"permission denied ({exc})") from exc


def _file_url_to_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _Refused(f"file URLs on another host ({parts.netloc!r}) are not supported")
    return urllib.request.url2pathname(parts.path)


def _content_type_ok(content_type: str | None) -> bool:
    if not content_type:
        return True
    main = content_type.split(";", 1)[0].strip().lower()
    return main.startswith("image/") or main in _GENERIC_BINARY_TYPES


def _download(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """Download ``url`` into memory with a total time budget and a size cap."""
    request = urllib.request.Request(
        url, headers={"User-Agent": "skfusion-image-loader", "Accept": "image/*"}
    )
    deadline = time.monotonic() + timeout
    timed_out = f"timed out after {timeout:g} s"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            content_type = response.headers.get("Content-Type")
            if not _content_type_ok(content_type):
                raise _Refused(f"the server sent non-image content ({content_type})")
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
                raise _Refused(
                    f"the body is {int(declared)} bytes, more than max_image_bytes={max_bytes}"
                )
            buffer = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise _Refused(timed_out)
                chunk = response.read(min(_CHUNK_SIZE, max_bytes + 1 - len(buffer)))
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise _Refused(f"the body exceeds max_image_bytes={max_bytes}")
            return bytes(buffer)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _Refused(f"HTTP error {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Refused(timed_out) from exc
        raise _Refused(f"the URL could not be opened ({exc.reason})") from exc
    except TimeoutError as exc:
        raise _Refused(timed_out) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _Refused(f"the download failed ({type(exc).__name__}: {exc})") from exc


def _confined(path: str, root: str | None) -> str:
    """``path`` resolved under ``root``; refuse paths that leave it (``..``, absolute, links)."""
    if root is None:
        return path
    base = os.path.realpath(root)
    full = os.path.realpath(os.path.join(base, path))
    if os.path.commonpath([base, full]) != base:
        raise _Refused(f"the path resolves outside image_root {root!r}")
    return full


def load_image(
    item: Any,
    index: int,
    *,
    url_timeout: float,
    max_image_bytes: int,
    image_root: str | None = None,
    draft_size: int | None = None,
) -> Image.Image:
    """Load one image item as an RGB PIL image.

    Parameters
    ----------
    item : PIL.Image.Image, str or os.PathLike
        A PIL image, a local path, a ``file://`` URL or an ``http(s)://`` URL.
    index : int
        Position of ``item`` in ``X``, used in error messages.
    url_timeout : float
        Total seconds allowed for one HTTP download (connection and body).
    max_image_bytes : int
        Largest accepted HTTP body; longer downloads are aborted.
    image_root : str, optional
        When given, local paths (and ``file://`` URLs) are resolved relative
        to this directory and refused if they resolve outside it (``..``,
        absolute paths elsewhere, symbolic links out of it).
    draft_size : int, optional
        Decode JPEG files and downloads at the smallest of the reduced
        scales 1/2, 1/4 and 1/8 that keeps both sides at least
        ``draft_size`` pixels (PIL's draft mode). Other formats and PIL
        images given by the caller are unaffected.

    Returns
    -------
    PIL.Image.Image
        The image in RGB mode. Files and downloads are EXIF-orientation
        corrected; PIL images given by the caller are only converted.

    Raises
    ------
    ImageLoadError
        If the image cannot be read, downloaded or decoded.
    TypeError
        If ``item`` is not an image reference.
    """
    source = describe_source(item) if isinstance(item, Image.Image | str | os.PathLike) else ""
    try:
        if isinstance(item, Image.Image):
            try:
                return item if item.mode == "RGB" else item.convert("RGB")
            except (OSError, ValueError) as exc:
                raise _Refused(f"the PIL image could not be converted to RGB ({exc})") from exc
        if isinstance(item, os.PathLike):
            return _read_local(_confined(os.fspath(item), image_root), draft_size)
        if isinstance(item, str):
            lowered = item[:8].lower()
            if lowered.startswith(("http://", "https://")):
                body = _download(item, timeout=url_timeout, max_bytes=max_image_bytes)
                return _decode(io.BytesIO(body), draft_size)
            if lowered.startswith("file://"):
                return _read_local(_confined(_file_url_to_path(item), image_root), draft_size)
            if _ANY_SCHEME.match(item):
                scheme = item.split("://", 1)[0]
                raise _Refused(f"unsupported URL scheme {scheme!r}")
            return _read_local(_confined(item, image_root), draft_size)
    except _Refused as exc:
        raise ImageLoadError(index, source, exc.reason) from exc
    raise TypeError(
        f"X[{index}] is of type {type(item).__name__}; expected a PIL image, a path or a URL"
    )


#: Image processors whose preprocessing :class:`ResizeCrop` reproduces: CLIP's
#: PIL-based ones (transformers 4's ``CLIPImageProcessor``, transformers 5's
#: ``CLIPImageProcessorPil``). The torchvision backends resize differently.
_RESIZE_CROP_PROCESSORS = frozenset({"CLIPImageProcessor", "CLIPImageProcessorPil"})


def _get(config: Any, key: str) -> Any:
    """``config[key]`` for a dict, ``config.key`` for transformers' ``SizeDict``."""
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(key)
    return getattr(config, key, None)


class ResizeCrop:
    """CLIP image preprocessing split into a CPU part and a device part.

    The CPU part (:meth:`__call__`, run in loader threads) resizes an RGB
    image with PIL so that its shortest edge is ``shortest_edge``, crops the
    centre ``crop_height`` x ``crop_width`` and returns uint8 pixels; the
    device part (:meth:`to_tensor`) stacks a batch, moves it to the model's
    device as uint8 (a quarter of the float32 bytes) and rescales and
    normalises it there. Together they compute what CLIP's PIL image
    processor computes (same output size rule, resampling filter, crop
    offsets, rescale factor, mean and std), up to float rounding.

    Parameters
    ----------
    shortest_edge : int
        Length of the shortest edge after resizing.
    crop_height, crop_width : int
        Size of the centre crop.
    resample : int
        PIL resampling filter.
    rescale_factor : float
        Multiplier applied to the uint8 values (1/255).
    mean, std : tuple of float
        Per-channel normalisation.
    composite_alpha : bool, default=False
        Composite images with an alpha band or a transparency colour onto
        white first, as transformers 5's PIL processors do.
    """

    def __init__(
        self,
        shortest_edge: int,
        crop_height: int,
        crop_width: int,
        resample: int,
        rescale_factor: float,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        composite_alpha: bool = False,
    ) -> None:
        self.composite_alpha = bool(composite_alpha)
        self.shortest_edge = int(shortest_edge)
        self.crop_height = int(crop_height)
        self.crop_width = int(crop_width)
        self.resample = int(resample)
        self.rescale_factor = float(rescale_factor)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    @classmethod
    def from_processor(cls, processor: Any) -> ResizeCrop | None:
        """The split preprocessing equivalent to ``processor``, or None.

        Parameters
        ----------
        processor : transformers image processor
            The model's image processor.

        Returns
        -------
        ResizeCrop or None
            None when ``processor`` is not a PIL-based CLIP image processor
            with the usual resize, centre crop, rescale and normalise steps;
            callers then use the processor itself.
        """
        if type(processor).__name__ not in _RESIZE_CROP_PROCESSORS:
            return None
        if getattr(processor, "backend", "pil") != "pil":
            return None
        flags = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")
        if not all(getattr(processor, f, False) is True for f in flags):
            return None
        if getattr(processor, "do_convert_rgb", True) is False or getattr(
            processor, "do_pad", False
        ):
            return None
        size, crop = getattr(processor, "size", None), getattr(processor, "crop_size", None)
        short = _get(size, "shortest_edge")
        extra = [_get(size, k) for k in ("longest_edge", "height", "width")]
        height, width = _get(crop, "height"), _get(crop, "width")
        mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
        resample = getattr(processor, "resample", None)
        if not isinstance(short, int) or any(v is not None for v in extra):
            return None
        if not (isinstance(height, int) and isinstance(width, int)):
            return None
        if not isinstance(mean, list | tuple) or not isinstance(std, list | tuple):
            return None
        if len(mean) != 3 or len(std) != 3 or resample is None:
            return None
        if height > short or width > short:
            return None  # the processor would pad; keep its own path
        return cls(
            short,
            height,
            width,
            int(resample),
            processor.rescale_factor,
            tuple(mean),
            tuple(std),
            composite_alpha=type(processor).__name__ == "CLIPImageProcessorPil",
        )

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the shortest-edge resize (transformers' rule)."""
        if width <= height:
            return self.shortest_edge, int(self.shortest_edge * height / width)
        return int(self.shortest_edge * width / height), self.shortest_edge

    def __call__(self, image: Image.Image) -> Any:
        """Resize and centre-crop one RGB image.

        Parameters
        ----------
        image : PIL.Image.Image
            An RGB image.

        Returns
        -------
        numpy.ndarray of shape (crop_height, crop_width, 3), uint8
        """
        import numpy as np

        if self.composite_alpha and (
            "A" in image.getbands() or image.info.get("transparency") is not None
        ):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
        elif image.mode != "RGB":
            image = image.convert("RGB")
        new_w, new_h = self.output_size(*image.size)
        resized = image.resize((new_w, new_h), resample=self.resample)
        top = (new_h - self.crop_height) // 2
        left = (new_w - self.crop_width) // 2
        cropped = resized.crop((left, top, left + self.crop_width, top + self.crop_height))
        return np.asarray(cropped, dtype=np.uint8)

    def to_tensor(self, arrays: list[Any], device: Any, dtype: Any) -> Any:
        """Stack uint8 crops into a normalised (B, 3, H, W) tensor on ``device``.

        Parameters
        ----------
        arrays : list of numpy.ndarray of shape (H, W, 3), uint8
            Outputs of :meth:`__call__`.
        device : torch.device or str
            Where the model runs.
        dtype : torch.dtype
            The model's dtype; rescaling and normalisation are done in
            float32 and the result is cast to it.

        Returns
        -------
        torch.Tensor of shape (B, 3, crop_height, crop_width)
        """
        import numpy as np
        import torch

        batch = torch.from_numpy(np.stack(arrays)).to(device)
        x = batch.permute(0, 3, 1, 2).to(torch.float32) * self.rescale_factor
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device)[None, :, None, None]
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device)[None, :, None, None]
        return ((x - mean) / std).to(dtype).contiguous()
