"""Hostile images and servers: pixel budget, download deadline, redirects, NUL bytes.

Every server here listens on 127.0.0.1 only, and every slow route gives up on
its own after a bounded number of steps (``DRIP_BYTES`` trickled bytes,
``HOP_DELAY`` per redirect), so a regression makes a test fail, not hang.
"""

from __future__ import annotations

import http.server
import io
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile
from sklearn.utils._param_validation import InvalidParameterError

from skfusion.encoders import ClipEncoder, ImageLoadError
from skfusion.encoders._image_io import MAX_REDIRECTS, PixelBudget, load_image

from ..conftest import ImageFiles

pytestmark = pytest.mark.usefixtures("no_proxy")

DRIP_INTERVAL = 0.25  # seconds between trickled bytes
DRIP_BYTES = 40  # a dripping route ends after 10 s whatever the client does
HOP_DELAY = 0.35  # seconds a slow redirect hop waits before answering
BUDGET = 50_000_000  # ClipEncoder's default max_image_pixels


def _png_header(width: int, height: int) -> bytes:
    """A ~100-byte greyscale PNG declaring ``width`` x ``height``; its data covers 4 rows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


IMAGE_PNG = _png_bytes(24, 20)


# ---------------------------------------------------------------- hostile server


class _HostileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HostileHandler)
        self.paths: list[str] = []
        self.stop = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that give up mid-response are what these tests are about."""


class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """Routes: ``/image.png``, ``/bomb.png``, ``/drip-body``, ``/drip-headers``,
    ``/hop/<n>/<end>`` (redirects to ``/hop/<n+1>/<end>`` until ``n == end``, then
    the image; ``end=-1`` never ends), ``/slowhop/<n>/<end>`` (the same, each
    hop waiting ``HOP_DELAY``) and ``/to?<url>`` (a 302 to ``url``)."""

    server: _HostileServer

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        route, _, rest = self.path.lstrip("/").partition("/")
        if route == "image.png":
            self._send(IMAGE_PNG)
        elif route == "bomb.png":
            self._send(_png_header(12000, 12000))
        elif route == "drip-body":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(DRIP_BYTES))
            self.end_headers()
            self._drip()
        elif route == "drip-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            if self._drip():
                self.wfile.write(b"\r\nContent-Type: image/png\r\n\r\n")
        elif route in ("hop", "slowhop"):
            if route == "slowhop" and self.server.stop.wait(HOP_DELAY):
                return
            n, end = (int(v) for v in rest.split("/"))
            if end >= 0 and n >= end:
                self._send(IMAGE_PNG)
            else:
                self._redirect(f"/{route}/{n + 1}/{end}")
        elif route.startswith("to?"):
            self._redirect(urllib.parse.unquote(route[3:]))
        else:
            self.send_error(404)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drip(self) -> bool:
        """Trickle ``DRIP_BYTES`` bytes; False if stopped or the client left."""
        for _ in range(DRIP_BYTES):
            if self.server.stop.wait(DRIP_INTERVAL):
                return False
            try:
                self.wfile.write(b"a")
                self.wfile.flush()
            except OSError:
                return False
        return True

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@dataclass
class Hostile:
    base: str
    paths: list[str]

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, prefix: str) -> list[str]:
        return [p for p in self.paths if p.startswith(prefix)]


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    server = _HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Hostile(f"http://127.0.0.1:{server.server_address[1]}", server.paths)
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that never answers; tells whether anyone connected."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    try:
        yield sock
    finally:
        sock.close()


def _connected(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def _load(item: Any, **limits: Any) -> Image.Image:
    limits = {"url_timeout": 5.0, "max_image_bytes": 1_000_000, **limits}
    return load_image(item, 0, **limits)


# ---------------------------------------------------------------- the deadline


@pytest.mark.parametrize("route", ["/drip-body", "/drip-headers"])
def test_a_trickling_server_is_cut_off_at_url_timeout(hostile: Hostile, route: str) -> None:
    start = time.monotonic()
    with pytest.raises(ImageLoadError, match=r"timed out after 2 s") as info:
        _load(hostile.url(route), url_timeout=2)
    elapsed = time.monotonic() - start
    # One byte every 0.25 s never trips a per-read timeout; the deadline is total.
    assert 1.9 <= elapsed < 3.5, elapsed
    assert info.value.index == 0
    assert route in info.value.source


def test_a_silent_https_server_is_cut_off_at_url_timeout(listener: socket.socket) -> None:
    # The TCP connection succeeds (the kernel accepts it) but no TLS handshake follows.
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/image.png"
    start = time.monotonic()
    with pytest.raises(ImageLoadError, match=r"timed out after 1 s"):
        _load(url, url_timeout=1)
    assert 0.9 <= time.monotonic() - start < 2.0


def test_the_deadline_covers_every_redirect(hostile: Hostile) -> None:
    chain = "/slowhop/0/3"  # three redirects of HOP_DELAY each, then the image
    assert _load(hostile.url(chain), url_timeout=5).size == (24, 20)
    before = len(hostile.requests("/slowhop/"))
    start = time.monotonic()
    with pytest.raises(ImageLoadError, match=r"timed out after 0\.8 s"):
        _load(hostile.url(chain), url_timeout=0.8)
    elapsed = time.monotonic() - start
    assert 0.75 <= elapsed < 1.4, elapsed  # not 3 x HOP_DELAY + the image
    assert len(hostile.requests("/slowhop/")) - before <= 3


# ---------------------------------------------------------------- redirects


def test_redirects_are_capped(hostile: Hostile) -> None:
    assert MAX_REDIRECTS == 5
    assert _load(hostile.url("/hop/0/5")).size == (24, 20)  # exactly five redirects
    with pytest.raises(ImageLoadError, match=r"index 0 .*/hop/0/-1.*: more than 5 redirects$"):
        _load(hostile.url("/hop/0/-1"))
    assert len(hostile.requests("/hop/")) == 6 + 6  # /hop/0..5 twice; /hop/6/-1 never


@pytest.mark.parametrize("scheme", ["ftp", "FTP", "file", "data"])
def test_redirects_leave_http_never(
    hostile: Hostile, listener: socket.socket, image_files: ImageFiles, scheme: str
) -> None:
    targets = {
        "ftp": f"ftp://127.0.0.1:{listener.getsockname()[1]}/image.png",
        "FTP": f"FTP://127.0.0.1:{listener.getsockname()[1]}/image.png",
        "file": image_files.images[0].as_uri(),
        "data": "data:image/png;base64,iVBORw0KGgo=",
    }
    target = targets[scheme]
    url = hostile.url("/to?" + urllib.parse.quote(target, safe=""))
    expected = (
        f"the server redirected to a '{scheme.lower()}' URL ('{target}'); "
        "only http and https redirects are followed"
    )
    with pytest.raises(ImageLoadError) as info:
        _load(url, url_timeout=1)
    assert info.value.reason == expected
    assert not _connected(listener)


# ---------------------------------------------------------------- pixel budget


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Sizes of the images whose pixels PIL decoded (``ImageFile.load`` calls)."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


# Pillow warns about 144 MP when it opens the header; the budget then refuses it.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_is_refused_before_decoding(
    tiny_clip_dir: Path,
    image_files: ImageFiles,
    hostile: Hostile,
    tmp_path: Path,
    decoded: list[tuple[int, int]],
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(12000, 12000))
    assert bomb.stat().st_size < 200
    good = [str(p) for p in image_files.images[:2]]
    enc = ClipEncoder(tiny_clip_dir, device="cpu", modality="image", num_workers=2)
    emb, ok, errors = enc.transform_partial([good[0], bomb, hostile.url("/bomb.png"), good[1]])
    assert ok.tolist() == [0, 3]
    assert sorted(errors) == [1, 2]
    for exc in errors.values():
        assert type(exc) is ImageLoadError
        assert exc.reason == (
            "the image is too large to decode safely: 12000x12000 = 144,000,000 pixels, "
            "more than max_image_pixels=50,000,000"
        )
    assert decoded  # the good images were decoded...
    assert max(w * h for w, h in decoded) < 100_000  # ...and nothing else
    np.testing.assert_allclose(emb, enc.transform(good), atol=1e-6)
    assert enc.get_params()["max_image_pixels"] == BUDGET  # the default


def test_pillows_own_limit_reports_the_pixel_count(tmp_path: Path) -> None:
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(_png_header(20000, 20000))  # above twice PIL.Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageLoadError) as info:
        _load(str(bomb))
    assert info.value.reason == (
        "the image is too large to decode safely: 400,000,000 pixels, "
        "more than max_image_pixels=50,000,000"
    )


def test_jpeg_draft_counts_the_reduced_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)).save(photo)
    drafted = _load(str(photo), max_image_pixels=100_000, draft_size=224)
    assert drafted.size == (320, 240)  # 76,800 pixels: under the budget
    with pytest.raises(ImageLoadError) as full:
        _load(str(photo), max_image_pixels=100_000)
    assert full.value.reason == (
        "the image is too large to decode safely: 640x480 = 307,200 pixels, "
        "more than max_image_pixels=100,000"
    )
    with pytest.raises(ImageLoadError) as reduced:
        _load(str(photo), max_image_pixels=50_000, draft_size=224)
    assert reduced.value.reason == (
        "the image is too large to decode safely: 320x240 = 76,800 pixels "
        "(JPEG reduced from 640x480), more than max_image_pixels=50,000"
    )
    small = Image.new("RGB", (400, 300))  # in-memory images obey the budget too
    with pytest.raises(ImageLoadError, match=r"400x300 = 120,000 pixels"):
        _load(small, max_image_pixels=100_000)


def test_the_encoder_applies_max_image_pixels(tiny_clip_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)).save(photo)
    # The tiny model's input is 32 px: the JPEG decodes at 1/8, 80x60 pixels.
    ClipEncoder(tiny_clip_dir, device="cpu", max_image_pixels=10_000).transform([photo])
    strict = ClipEncoder(tiny_clip_dir, device="cpu", max_image_pixels=10_000, jpeg_draft=False)
    with pytest.raises(ImageLoadError, match=r"640x480 = 307,200 pixels.*=10,000$"):
        strict.transform([photo])


@pytest.mark.parametrize("bad", [0, -5, 2.5, "50M"])
def test_max_image_pixels_is_validated(tiny_clip_dir: Path, bad: Any) -> None:
    with pytest.raises(InvalidParameterError, match="max_image_pixels"):
        ClipEncoder(tiny_clip_dir, max_image_pixels=bad).fit()


def test_concurrent_decodes_share_the_budget(
    tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i in range(8):
        path = tmp_path / f"{i}.png"
        path.write_bytes(_png_bytes(100, 60, seed=i))  # 6,000 pixels each
        paths.append(path)
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    original = ImageFile.ImageFile.load

    def slow_load(self: ImageFile.ImageFile) -> Any:
        pixels = self.size[0] * self.size[1]
        with lock:
            state["now"] += pixels
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.02)  # long enough for the other loader threads to arrive
            return original(self)
        finally:
            with lock:
                state["now"] -= pixels

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)
    enc = ClipEncoder(
        tiny_clip_dir, device="cpu", batch_size=1, num_workers=4, max_image_pixels=10_000
    )
    enc.transform(paths)
    assert state["peak"] == 6_000  # one image at a time: two would be 12,000 > 10,000


def test_pixel_budget_waits_for_room() -> None:
    budget = PixelBudget(10)
    entered = threading.Event()

    def second() -> None:
        with budget.hold(6):
            entered.set()

    with budget.hold(6):
        thread = threading.Thread(target=second, daemon=True)
        thread.start()
        assert not entered.wait(0.2)  # 6 + 6 > 10: it waits
        assert budget.in_use == 6
    assert entered.wait(5)
    thread.join(5)
    with budget.hold(3), budget.hold(3), budget.hold(4):
        assert budget.in_use == 10
    with budget.hold(1_000):  # larger than the capacity: held alone
        assert budget.in_use == 10
    assert budget.in_use == 0
    with pytest.raises(ValueError, match="capacity"):
        PixelBudget(0)


def test_pixel_budget_skips_a_waiter_that_gave_up(monkeypatch: pytest.MonkeyPatch) -> None:
    budget = PixelBudget(10)

    class GaveUp(Exception):
        pass

    real_wait = budget._changed.wait

    def wait(timeout: float | None = None) -> bool:
        if threading.current_thread().name == "quitter":
            raise GaveUp
        return real_wait(timeout)

    monkeypatch.setattr(budget._changed, "wait", wait)
    outcome: list[str] = []

    def quitter() -> None:
        try:
            with budget.hold(6):
                outcome.append("held")
        except GaveUp:
            outcome.append("gave up")

    entered = threading.Event()

    def follower() -> None:
        with budget.hold(4):
            entered.set()

    with budget.hold(6):
        waiter = threading.Thread(target=quitter, name="quitter", daemon=True)
        waiter.start()
        waiter.join(5)
        assert outcome == ["gave up"]
        threading.Thread(target=follower, daemon=True).start()
        assert entered.wait(5)  # 6 + 4 fits; the abandoned place does not block the line
    assert budget.in_use == 0


# ---------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize("confined", [False, True])
def test_a_nul_byte_in_a_path_is_that_items_error(
    tiny_clip_dir: Path, image_files: ImageFiles, confined: bool
) -> None:
    good = [str(p) for p in image_files.images[:2]]
    bad: list[Any] = ["a\x00b.png", Path("dir\x00") / "c.png", "file:///tmp/a%00b.png"]
    root = image_files.directory if confined else None
    enc = ClipEncoder(tiny_clip_dir, device="cpu", modality="image", image_root=root)
    emb, ok, errors = enc.transform_partial([good[0], *bad, good[1]])
    assert ok.tolist() == [0, 4]
    assert sorted(errors) == [1, 2, 3]
    for exc in errors.values():
        assert type(exc) is ImageLoadError
        assert exc.reason == "the path contains a NUL byte"
    np.testing.assert_allclose(emb, enc.transform(good), atol=1e-6)
    with pytest.raises(ImageLoadError, match=r"index 1 .*NUL byte"):
        enc.transform([good[0], bad[0]])


def test_a_nul_byte_is_skipped_by_a_catalog_build(
    tiny_clip_dir: Path, image_files: ImageFiles
) -> None:
    pd = pytest.importorskip("pandas")
    from skfusion import Catalog

    good = [str(p) for p in image_files.images[:2]]
    frame = pd.DataFrame({"id": ["g1", "bad", "g2"], "image": [good[0], "a\x00b.png", good[1]]})
    enc = ClipEncoder(
        tiny_clip_dir, device="cpu", modality="image", image_root=image_files.directory
    )
    cat = Catalog.from_frame(frame, {"image": enc}, on_error="skip")
    assert cat.ids.tolist() == ["g1", "g2"]
    assert cat.errors_["id"].tolist() == ["bad"]
    assert "the path contains a NUL byte" in cat.errors_["reason"][0]
