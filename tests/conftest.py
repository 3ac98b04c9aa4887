"""Shared fixtures: tiny random CLIP models, image files and a local HTTP server.

Nothing here needs the network: the CLIP models are built with random
weights at test time by :func:`skfusion.testing.make_tiny_clip`, and images
are served from 127.0.0.1.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skfusion.testing import make_tiny_clip


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP model (seed 0) saved with its processor."""
    return make_tiny_clip(tmp_path_factory.mktemp("tiny-clip"), seed=0)


@pytest.fixture(scope="session")
def other_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny CLIP with the same config but other random weights (seed 1)."""
    return make_tiny_clip(tmp_path_factory.mktemp("other-clip"), seed=1)


@dataclass
class ImageFiles:
    """Image files written for the tests."""

    directory: Path
    images: list[Path]
    corrupt: Path
    text_file: Path


@pytest.fixture(scope="session")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> ImageFiles:
    """Random-pixel PNG and JPEG images, a corrupt PNG and an HTML file."""
    directory = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    images = []
    for name, size in (("a.png", (40, 48)), ("b.png", (64, 32)), ("c.jpg", (50, 50))):
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = directory / name
        Image.fromarray(pixels).save(path)
        images.append(path)
    # A palette image with transparency exercises the RGB conversion.
    gray = rng.integers(0, 256, size=(36, 36), dtype=np.uint8)
    palette_path = directory / "d.png"
    Image.fromarray(gray).convert("P").save(palette_path, transparency=0)
    images.append(palette_path)
    corrupt = directory / "broken.png"
    corrupt.write_bytes(images[0].read_bytes()[:60])
    text_file = directory / "page.html"
    text_file.write_text("<html><body>not an image</body></html>", encoding="utf-8")
    return ImageFiles(directory=directory, images=images, corrupt=corrupt, text_file=text_file)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files plus a few special routes used by the error tests."""

    def do_GET(self) -> None:
        if self.path.startswith("/slow/"):
            time.sleep(1.5)
            self.path = self.path[len("/slow") :]
        elif self.path.startswith("/stream/"):
            # Close-delimited body without Content-Length.
            target = Path(self.directory) / self.path[len("/stream/") :]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(target.read_bytes())
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients aborting downloads on purpose (size limit, timeout) are expected."""


@pytest.fixture(scope="session")
def http_base_url(image_files: ImageFiles) -> Iterator[str]:
    """Base URL of a threaded HTTP server on 127.0.0.1 serving ``image_files``.

    Routes: ``/<file>`` serves a file (404 when missing), ``/slow/<file>``
    answers after 1.5 s and ``/stream/<file>`` sends the body without a
    Content-Length header.
    """
    directory = str(image_files.directory)

    class Handler(_Handler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=False)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure urllib talks to 127.0.0.1 directly even if a proxy is configured."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
