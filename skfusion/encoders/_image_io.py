"""Reading images: local paths, ``file://`` and ``http(s)://`` URLs or PIL images.

Everything that turns an item of ``X`` into decoded pixels lives here, with
the limits that keep hostile input cheap:

* local paths: ``image_root`` confinement, NUL bytes and unreadable paths
  refused per item;
* URLs: only ``http``, ``https`` and ``file``; downloads have one deadline
  (``url_timeout``) covering connection, redirects, headers and body, at
  most :data:`MAX_REDIRECTS` redirects, each of which must again be ``http``
  or ``https``, image content types only and a body cap
  (``max_image_bytes``);
* decoding: the header is read first and images with more than
  ``max_image_pixels`` pixels (after JPEG draft reduction) are refused
  before any pixel is decoded; a shared :class:`PixelBudget` caps the
  pixels that concurrent loader threads decode at once.

Every refusal is an :class:`ImageLoadError` for that item only.
"""

from __future__ import annotations

import functools
import http.client
import io
import os
import re
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image, ImageOps

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "MAX_REDIRECTS",
    "ImageLoadError",
    "ImageLoader",
    "PixelBudget",
    "describe_source",
    "is_image_reference",
    "load_image",
]

#: Default pixel budget per image (``ClipEncoder(max_image_pixels=...)``):
#: 50 megapixels, more than any photo a retrieval model needs (CLIP looks at
#: 224 x 224) and about 200 MB of decoded RGB.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
#: Most HTTP redirects followed for one image.
MAX_REDIRECTS = 5

_T = TypeVar("_T")
_URL_PREFIXES = ("http://", "https://", "file://")
_REDIRECT_SCHEMES = frozenset({"http", "https"})
_ANY_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Content types accepted from an HTTP server besides image/*: generic binary
# types used by object stores. Anything else (text/html error pages, JSON...)
# is refused before decoding.
_GENERIC_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_CHUNK_SIZE = 64 * 1024
_MAX_PATH_CHARS = 4096
_REQUEST_HEADERS = {"User-Agent": "skfusion-image-loader", "Accept": "image/*"}
_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")


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


# -- the pixel budget -----------------------------------------------------------


class PixelBudget:
    """Caps the pixels decoded at the same time by the threads sharing it.

    A weighted semaphore: :meth:`hold` waits until ``pixels`` more fit under
    ``capacity``, in first-come order. Each holder holds one image at a time
    and never waits while holding, so holders cannot deadlock; an image at
    the capacity is decoded alone while small ones are decoded in parallel.

    Parameters
    ----------
    capacity : int
        Most pixels held at once. A request for more is clamped to it (it then
        waits for every other holder to finish).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}.")
        self.capacity = int(capacity)
        self._in_use = 0
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()
        self._changed = threading.Condition()

    @property
    def in_use(self) -> int:
        """Pixels held right now."""
        with self._changed:
            return self._in_use

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget for the duration of the ``with`` block.

        Parameters
        ----------
        pixels : int
            The size of the image about to be decoded.
        """
        need = min(max(int(pixels), 1), self.capacity)
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            try:
                while ticket != self._serving or self._in_use + need > self.capacity:
                    self._changed.wait()
            except BaseException:  # interrupted while waiting: give up the place in line
                self._abandoned.add(ticket)
                self._next_in_line()
                raise
            self._serving += 1
            self._in_use += need
            self._next_in_line()  # the next in line may fit too
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= need
                self._changed.notify_all()

    def _next_in_line(self) -> None:
        """Skip abandoned places at the head of the line and wake the waiters."""
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._changed.notify_all()


# -- decoding ------------------------------------------------------------------


def _pillow_refusal(exc: Image.DecompressionBombError, max_pixels: int) -> str:
    """The reason for an image Pillow refused to open as a decompression bomb."""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
    found = _PILLOW_PIXELS.search(str(exc))
    if found is None:
        return f"the image is too large to decode safely ({exc})"
    pixels = int(found.group(1))
    if pixels > max_pixels:
        return (
            f"the image is too large to decode safely: {pixels:,} pixels, more than "
            f"max_image_pixels={max_pixels:,}"
        )
    return (
        f"the image is too large to decode safely: {pixels:,} pixels, more than Pillow's "
        f"limit of {limit:,} (2 x PIL.Image.MAX_IMAGE_PIXELS)"
    )


def _open(fp: Any, max_pixels: int) -> Image.Image:
    """``Image.open``: identify the format and read the header, no pixels."""
    try:
        return Image.open(fp)
    except Image.UnidentifiedImageError as exc:
        raise _Refused("the data is not a recognised image format") from exc
    except Image.DecompressionBombError as exc:
        raise _Refused(_pillow_refusal(exc, max_pixels)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise _Refused(f"the image data is corrupt or truncated ({exc})") from exc


def _draft(img: Image.Image, draft_size: int) -> None:
    """Have a JPEG decode at a reduced scale (header only, no pixels decoded).

    libjpeg's DCT scaling: the smallest of 1/2, 1/4 and 1/8 that keeps both
    sides at least ``draft_size``, so the later resize to the model's input
    still shrinks.
    """
    try:
        img.draft("RGB", (draft_size, draft_size))
    except (OSError, SyntaxError, ValueError) as exc:
        raise _Refused(f"the image data is corrupt or truncated ({exc})") from exc


def _to_rgb(img: Image.Image, max_pixels: int) -> Image.Image:
    """Decode ``img``, apply its EXIF orientation and return an RGB copy."""
    try:
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return img.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise _Refused(_pillow_refusal(exc, max_pixels)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Truncated or corrupt files raise OSError (or SyntaxError for some
        # plugins) during ``load``.
        raise _Refused(f"the image data is corrupt or truncated ({exc})") from exc


def _too_large(size: tuple[int, int], max_pixels: int, declared: tuple[int, int]) -> str | None:
    """The reason to refuse an image decoding to ``size``, or None if it fits."""
    width, height = size
    pixels = width * height
    if pixels <= max_pixels:
        return None
    shape = f"{width}x{height} = {pixels:,} pixels"
    if size != declared:
        shape += f" (JPEG reduced from {declared[0]}x{declared[1]})"
    return (
        f"the image is too large to decode safely: {shape}, more than "
        f"max_image_pixels={max_pixels:,}"
    )


# -- local files -----------------------------------------------------------------


def _confined(path: str, root: str | None) -> str:
    """``path`` resolved under ``root``; refuse paths that leave it (``..``, absolute, links)."""
    if "\x00" in path:
        raise _Refused("the path contains a NUL byte")
    if root is None:
        return path
    try:
        base = os.path.realpath(root)
        full = os.path.realpath(os.path.join(base, path))
    except (OSError, ValueError) as exc:
        raise _Refused(f"the path cannot be resolved ({exc})") from exc
    if os.path.commonpath([base, full]) != base:
        raise _Refused(f"the path resolves outside image_root {root!r}")
    return full


def _check_local(path: str) -> None:
    """Refuse a path that names no regular, non-empty, readable file."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise _Refused("no such file") from exc
    except PermissionError as exc:
        raise _Refused(f"permission denied ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise _Refused(f"the path cannot be read ({exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise _Refused("the path is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise _Refused("the path is not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise _Refused("the file is empty (0 bytes)")


def _file_url_to_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _Refused(f"file URLs on another host ({parts.netloc!r}) are not supported")
    return urllib.request.url2pathname(parts.path)


# -- downloads -------------------------------------------------------------------


def _remaining(deadline: float) -> float:
    """Seconds left before ``deadline``; TimeoutError when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the download deadline passed")
    return left


class _DeadlineReader(io.RawIOBase):
    """A socket's reading end whose every ``recv`` ends by ``deadline``.

    A server that trickles bytes defeats a per-``recv`` timeout; setting the
    timeout to the time left before each read makes the deadline total.
    """

    def __init__(self, raw: Any, sock: Any, deadline: float) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(_remaining(self._deadline))
        result: int | None = self._raw.readinto(buffer)
        return result

    def fileno(self) -> int:
        return int(self._raw.fileno())

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response whose status line, headers and body are read by ``deadline``."""

    def __init__(
        self,
        sock: Any,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
        *,
        deadline: float,
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))


class _DeadlineConnection(http.client.HTTPConnection):
    """An HTTP connection that connects, sends and reads within ``deadline``."""

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self.response_class = functools.partial(  # type: ignore[assignment]
            _DeadlineResponse, deadline=deadline
        )

    def connect(self) -> None:
        self.timeout = _remaining(self._deadline)
        create = self._create_connection  # type: ignore[has-type]  # not in typeshed

        def create_by_deadline(*args: Any, **kwargs: Any) -> Any:
            # The TCP connection may have used up part of the time: what
            # follows on this socket (the TLS handshake, the request) gets
            # only the rest.
            sock = create(*args, **kwargs)
            try:
                sock.settimeout(_remaining(self._deadline))
            except TimeoutError:
                sock.close()
                raise
            return sock

        self._create_connection = create_by_deadline
        try:
            super().connect()
        finally:
            self._create_connection = create


class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    """The HTTPS variant (TLS handshake included in the deadline)."""


# ``do_open`` passes its keyword arguments on to the connection class; typeshed
# types that class without them, hence the ``arg-type`` ignores below.


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _DeadlineConnection,  # type: ignore[arg-type]
            req,
            deadline=self._deadline,
        )


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _DeadlineHTTPSConnection,  # type: ignore[arg-type]
            req,
            context=self._context,  # type: ignore[attr-defined]
            deadline=self._deadline,
        )


class _Request(urllib.request.Request):
    """A GET request that knows how many redirects led to it."""

    def __init__(self, url: str, hops: int = 0) -> None:
        super().__init__(url, headers=_REQUEST_HEADERS)
        self.hops = hops


class _RedirectHandler(urllib.request.BaseHandler):
    """Follow at most :data:`MAX_REDIRECTS` redirects, to ``http(s)`` URLs only.

    The redirect response's body is not read.
    """

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
    ) -> Any:
        location = headers.get("Location")
        fp.close()
        if not location:
            raise _Refused(f"the server answered HTTP {code} without a Location header")
        target = urllib.parse.urljoin(req.full_url, location.strip())
        scheme = urllib.parse.urlsplit(target).scheme.lower()
        if scheme not in _REDIRECT_SCHEMES:
            raise _Refused(
                f"the server redirected to a {scheme!r} URL ({_redact(target)!r}); only "
                "http and https redirects are followed"
            )
        hops = getattr(req, "hops", 0) + 1
        if hops > MAX_REDIRECTS:
            raise _Refused(f"more than {MAX_REDIRECTS} redirects")
        return self.parent.open(_Request(target, hops), timeout=req.timeout)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(deadline: float) -> urllib.request.OpenerDirector:
    """An opener for http(s) only, with the deadline and the redirect rules.

    Unlike ``urllib.request.build_opener`` it has no ``ftp``, ``file`` or
    ``data`` handler, so nothing but http and https can ever be opened.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(deadline),
        _HTTPSHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def _content_type_ok(content_type: str | None) -> bool:
    if not content_type:
        return True
    main = content_type.split(";", 1)[0].strip().lower()
    return main.startswith("image/") or main in _GENERIC_BINARY_TYPES


def _download(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """Download ``url`` into memory by a total deadline, with a size cap.

    ``timeout`` covers connecting, the request, every redirect, the headers
    and the body; only the name lookup (the system resolver) is outside it.
    """
    deadline = time.monotonic() + timeout
    timed_out = f"timed out after {timeout:g} s (url_timeout covers redirects and the body)"
    try:
        with _opener(deadline).open(_Request(url), timeout=timeout) as response:
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


# -- the loader ----------------------------------------------------------------


def _identity(image: Image.Image) -> Image.Image:
    return image


@dataclass(frozen=True)
class ImageLoader:
    """Loads image items as RGB PIL images under fixed limits.

    Parameters
    ----------
    url_timeout : float, default=10.0
        Deadline in seconds for one HTTP(S) download: connecting, every
        redirect, the headers and the body together.
    max_image_bytes : int, default=20_000_000
        Largest accepted HTTP body; longer downloads are aborted.
    max_image_pixels : int, default=DEFAULT_MAX_IMAGE_PIXELS
        Images that would decode to more pixels (after JPEG draft
        reduction) are refused after reading their header, before any
        pixel is decoded. Pillow's own limit (twice
        ``PIL.Image.MAX_IMAGE_PIXELS``) applies as well.
    image_root : str, optional
        When given, local paths (and ``file://`` URLs) are resolved relative
        to this directory and refused if they resolve outside it (``..``,
        absolute paths elsewhere, symbolic links out of it).
    draft_size : int, optional
        Decode JPEG files and downloads at the smallest of the reduced
        scales 1/2, 1/4 and 1/8 that keeps both sides at least
        ``draft_size`` pixels (PIL's draft mode). Other formats and PIL
        images given by the caller are unaffected.
    budget : PixelBudget, optional
        Shared by the threads loading for one call: each decode (and the
        ``reduce`` step of :meth:`load_reduced`) holds its pixel count of
        it, so concurrent decodes together hold at most
        ``budget.capacity`` pixels.
    """

    url_timeout: float = 10.0
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    image_root: str | None = None
    draft_size: int | None = None
    budget: PixelBudget | None = None

    def load(self, item: Any, index: int) -> Image.Image:
        """Load one image item as an RGB PIL image.

        Parameters
        ----------
        item : PIL.Image.Image, str or os.PathLike
            A PIL image, a local path, a ``file://`` URL or an ``http(s)://``
            URL.
        index : int
            Position of ``item`` in ``X``, used in error messages.

        Returns
        -------
        PIL.Image.Image
            The image in RGB mode. Files and downloads are EXIF-orientation
            corrected; PIL images given by the caller are only converted.

        Raises
        ------
        ImageLoadError
            If the image cannot be read, downloaded or decoded, or has more
            than ``max_image_pixels`` pixels.
        TypeError
            If ``item`` is not an image reference.
        """
        return self.load_reduced(item, index, _identity)

    def load_reduced(self, item: Any, index: int, reduce: Callable[[Image.Image], _T]) -> _T:
        """Load one image item and apply ``reduce`` while its pixels are held.

        Like :meth:`load`, but the full-size RGB image is passed to
        ``reduce`` (e.g. a resize to the model's input) before the pixel
        budget is released, and only its result is returned, so the
        full-size image never outlives its share of the budget.

        Parameters
        ----------
        item : PIL.Image.Image, str or os.PathLike
            As for :meth:`load`.
        index : int
            Position of ``item`` in ``X``, used in error messages.
        reduce : callable
            Called with the RGB image; its exceptions propagate unchanged.

        Returns
        -------
        object
            What ``reduce`` returns.

        Raises
        ------
        ImageLoadError
            As for :meth:`load`.
        TypeError
            If ``item`` is not an image reference.
        """
        source = describe_source(item) if isinstance(item, Image.Image | str | os.PathLike) else ""
        try:
            if isinstance(item, Image.Image):
                return self._from_memory(item, reduce)
            if isinstance(item, os.PathLike):
                return self._from_path(os.fsdecode(item), reduce)
            if isinstance(item, str):
                lowered = item[:8].lower()
                if lowered.startswith(("http://", "https://")):
                    body = _download(
                        item, timeout=float(self.url_timeout), max_bytes=int(self.max_image_bytes)
                    )
                    return self._decode(io.BytesIO(body), reduce)
                if lowered.startswith("file://"):
                    return self._from_path(_file_url_to_path(item), reduce)
                if _ANY_SCHEME.match(item):
                    scheme = item.split("://", 1)[0]
                    raise _Refused(f"unsupported URL scheme {scheme!r}")
                return self._from_path(item, reduce)
        except _Refused as exc:
            raise ImageLoadError(index, source, exc.reason) from exc
        raise TypeError(
            f"X[{index}] is of type {type(item).__name__}; expected a PIL image, a path or a URL"
        )

    def _hold(self, pixels: int) -> AbstractContextManager[None]:
        return nullcontext() if self.budget is None else self.budget.hold(pixels)

    def _from_memory(self, image: Image.Image, reduce: Callable[[Image.Image], _T]) -> _T:
        refusal = _too_large(image.size, self.max_image_pixels, image.size)
        if refusal is not None:
            raise _Refused(refusal)
        with self._hold(image.size[0] * image.size[1]):
            try:
                rgb = image if image.mode == "RGB" else image.convert("RGB")
            except (OSError, ValueError) as exc:
                raise _Refused(f"the PIL image could not be converted to RGB ({exc})") from exc
            return reduce(rgb)

    def _from_path(self, path: str, reduce: Callable[[Image.Image], _T]) -> _T:
        root = None if self.image_root is None else os.fspath(self.image_root)
        full = _confined(path, root)
        _check_local(full)
        try:
            fh = open(full, "rb")  # noqa: SIM115 - closed by the ``with`` below
        except PermissionError as exc:
            raise _Refused(f"permission denied ({exc})") from exc
        except (OSError, ValueError) as exc:
            raise _Refused(f"the file cannot be opened ({exc})") from exc
        with fh:
            return self._decode(fh, reduce)

    def _decode(self, fp: Any, reduce: Callable[[Image.Image], _T]) -> _T:
        """Read the header, check the size, then decode under the budget."""
        max_pixels = int(self.max_image_pixels)
        img = _open(fp, max_pixels)
        try:
            declared = img.size
            if self.draft_size is not None and img.format == "JPEG":
                _draft(img, self.draft_size)
            refusal = _too_large(img.size, max_pixels, declared)
            if refusal is not None:
                raise _Refused(refusal)
            with self._hold(img.size[0] * img.size[1]):
                rgb = _to_rgb(img, max_pixels)
                img.close()  # frees the decoded pixels; ``rgb`` is a copy
                return reduce(rgb)
        finally:
            img.close()


def load_image(
    item: Any,
    index: int,
    *,
    url_timeout: float,
    max_image_bytes: int,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    image_root: str | None = None,
    draft_size: int | None = None,
) -> Image.Image:
    """Load one image item as an RGB PIL image.

    Shorthand for ``ImageLoader(...).load(item, index)``; see
    :class:`ImageLoader` for the parameters.

    Parameters
    ----------
    item : PIL.Image.Image, str or os.PathLike
        A PIL image, a local path, a ``file://`` URL or an ``http(s)://`` URL.
    index : int
        Position of ``item`` in ``X``, used in error messages.
    url_timeout : float
        Deadline in seconds for one HTTP(S) download, redirects and body
        included.
    max_image_bytes : int
        Largest accepted HTTP body.
    max_image_pixels : int, default=DEFAULT_MAX_IMAGE_PIXELS
        Largest accepted image, in decoded pixels.
    image_root : str, optional
        Directory local paths are confined to.
    draft_size : int, optional
        Smallest side JPEG files may be decoded at.

    Returns
    -------
    PIL.Image.Image
        The image in RGB mode.

    Raises
    ------
    ImageLoadError
        If the image cannot be read, downloaded or decoded.
    TypeError
        If ``item`` is not an image reference.
    """
    loader = ImageLoader(
        url_timeout=url_timeout,
        max_image_bytes=max_image_bytes,
        max_image_pixels=max_image_pixels,
        image_root=image_root,
        draft_size=draft_size,
    )
    return loader.load(item, index)
