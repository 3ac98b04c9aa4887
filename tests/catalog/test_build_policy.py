"""Catalog.from_frame's bad-input policy: on_error="raise" and on_error="skip", case by case."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageOps

from skfusion import Catalog
from skfusion.encoders import ClipEncoder

from ..conftest import ImageFiles

pd = pytest.importorskip("pandas")

MAX_BYTES = 1000  # smaller than the served a.png


def _png(path: Path, mode: str, size: tuple[int, int] = (8, 8), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        data = rng.integers(0, 65536, size=(size[1], size[0]), dtype=np.uint16)
        Image.fromarray(data).save(path)
    elif mode == "CMYK":
        rgb.convert("CMYK").save(path, format="JPEG")
    elif mode == "P":
        rgb.convert("P").save(path, format="PNG", transparency=0)
    else:
        rgb.convert(mode).save(path, format="PNG")
    return path


def _exif_rotated(path: Path) -> Path:
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    img.save(path, format="JPEG", exif=exif)
    return path


def _truncated_jpeg(path: Path) -> Path:
    rng = np.random.default_rng(4)
    img = Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
    img.save(path, format="JPEG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


Ctx = dict[str, Any]
# case -> (component, value factory, reason regex or None for a good input)
CASES: dict[str, tuple[str, Callable[[Ctx], Any], str | None]] = {
    "missing_file": ("image", lambda c: str(c["tmp"] / "nope.png"), "no such file"),
    "empty_file": ("image", lambda c: _touch(c["tmp"] / "zero.png"), r"empty \(0 bytes\)"),
    "truncated_jpeg": ("image", lambda c: _truncated_jpeg(c["tmp"] / "t.jpg"), "truncated"),
    "html_file": ("image", lambda c: c["files"].text_file, "not a recognised image format"),
    "decompression_bomb": (
        "image",
        lambda c: _png(c["tmp"] / "bomb.png", "RGB", size=(100, 100)),
        "too large to decode safely",
    ),
    "cmyk": ("image", lambda c: _png(c["tmp"] / "cmyk.jpg", "CMYK"), None),
    "palette": ("image", lambda c: _png(c["tmp"] / "p.png", "P"), None),
    "16bit": ("image", lambda c: _png(c["tmp"] / "i16.png", "I;16"), None),
    "rgba": ("image", lambda c: _png(c["tmp"] / "rgba.png", "RGBA"), None),
    "exif_rotated": ("image", lambda c: _exif_rotated(c["tmp"] / "exif.jpg"), None),
    "http_404": ("image", lambda c: f"{c['url']}/nothing.png", "HTTP error 404"),
    "http_timeout": ("image", lambda c: f"{c['url']}/slow/a.png", r"timed out after 0\.3 s"),
    "http_oversized": ("image", lambda c: f"{c['url']}/a.png", "more than max_image_bytes"),
    "empty_text": ("title", lambda c: "", "the text is empty"),
    "whitespace_text": ("title", lambda c: " \t\n ", "whitespace-only"),
    "non_utf8_bytes": ("title", lambda c: b"caf\xe9 \xff", "not valid UTF-8"),
    "none_cell": ("title", lambda c: None, "missing"),
    "nan_cell": ("title", lambda c: float("nan"), "missing"),
}


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.fixture
def ctx(tmp_path: Path, image_files: ImageFiles, http_base_url: str, no_proxy: None) -> Ctx:
    good = [_png(tmp_path / f"good{i}.png", "RGB", seed=10 + i) for i in range(2)]
    return {"tmp": tmp_path, "files": image_files, "url": http_base_url, "good": good}


def _encoders(model: Path) -> dict[str, ClipEncoder]:
    return {
        "title": ClipEncoder(model, device="cpu", modality="text"),
        "image": ClipEncoder(
            model, device="cpu", modality="image", url_timeout=0.3, max_image_bytes=MAX_BYTES
        ),
    }


@pytest.mark.parametrize("policy", ["raise", "skip"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_policy(
    case: str,
    policy: str,
    ctx: Ctx,
    tiny_clip_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    component, make, reason = CASES[case]
    if case == "decompression_bomb":
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 100x100 > 2 * 1000 pixels
    value = make(ctx)
    titles: list[Any] = ["red shoes", "green hat", "blue scarf"]
    images: list[Any] = [str(ctx["good"][0]), str(ctx["good"][1]), str(ctx["good"][1])]
    (titles if component == "title" else images)[1] = value
    frame = pd.DataFrame({"id": ["g1", "bad", "g2"], "title": titles, "image": images})
    encoders = _encoders(tiny_clip_dir)
    # missing="error": the missing cells (None, NaN, empty text) are rejected here like
    # the bad ones; the default masks them (tests/catalog/test_build_missing.py).
    if reason is not None and policy == "raise":
        with pytest.raises(ValueError, match=rf"'{component}'.*item 'bad' \(row 1\)") as info:
            Catalog.from_frame(frame, encoders, on_error=policy, missing="error")
        assert info.match(reason)
        return
    cat = Catalog.from_frame(frame, encoders, on_error=policy, missing="error")
    errors = cat.errors_
    assert list(errors.columns) == ["id", "component", "reason"]
    if reason is None:
        assert errors.empty
        assert cat.ids.tolist() == ["g1", "bad", "g2"]
        opened = Image.open(value)
        assert opened.mode != "RGB" or case == "exif_rotated"
        expected = ImageOps.exif_transpose(opened).convert("RGB")
        got = cat.components["image"][1]
        np.testing.assert_allclose(got, encoders["image"].transform([expected])[0], atol=1e-5)
        if case == "exif_rotated":
            assert expected.size == (8, 12)  # stored 12x8, displayed 8x12
            raw = encoders["image"].transform([Image.open(value).convert("RGB")])[0]
            assert not np.allclose(got, raw, atol=1e-3)
    else:
        assert errors["id"].tolist() == ["bad"]
        assert errors["component"].tolist() == [component]
        assert re.search(reason, errors["reason"][0]), errors["reason"][0]
        assert cat.ids.tolist() == ["g1", "g2"]
    for row, item_id in ((0, "g1"), (2, "g2")):
        k = cat.ids.tolist().index(item_id)
        for name, col in (("title", titles), ("image", images)):
            alone = encoders[name].transform([col[row]])[0]
            np.testing.assert_allclose(cat.components[name][k], alone, atol=1e-5)


def _fake_frame() -> Any:
    return pd.DataFrame({"id": ["a", "b", "a", "c"], "t": ["red", "blue", "green", "boom"]})


class _Fake:
    """A plain transformer (no transform_partial) that fails on "boom"."""

    def transform(self, values: list[str]) -> np.ndarray:
        out = np.zeros((len(values), 4))
        for i, v in enumerate(values):
            if v == "boom":
                raise ValueError("boom is not embeddable")
            for j, ch in enumerate(v):
                out[i, (ord(ch) + j) % 4] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_duplicate_ids_keep_the_first(policy: str) -> None:
    frame = _fake_frame().iloc[:3]
    if policy == "raise":
        with pytest.raises(ValueError, match=r"Item 'a' \(row 2\).*duplicate id.*row 0"):
            Catalog.from_frame(frame, {"t": _Fake()}, on_error=policy)
        return
    cat = Catalog.from_frame(frame, {"t": _Fake()}, on_error="skip")
    assert cat.ids.tolist() == ["a", "b"]
    np.testing.assert_allclose(cat.components["t"], _Fake().transform(["red", "blue"]))
    assert cat.errors_.to_dict("records") == [
        {"id": "a", "component": None, "reason": "duplicate id; the item at row 0 keeps this id"}
    ]


@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_missing_column_is_always_an_error(policy: str) -> None:
    with pytest.raises(ValueError, match="column 'nope'"):
        Catalog.from_frame(_fake_frame(), {"t": ("nope", _Fake())}, on_error=policy)


def test_plain_encoder_failures_are_found_item_by_item() -> None:
    frame = _fake_frame().drop(index=2)
    with pytest.raises(ValueError, match=r"'t'.*item 'c' \(row 2\).*boom is not") as info:
        Catalog.from_frame(frame, {"t": _Fake()})
    assert isinstance(info.value.__cause__, ValueError)
    cat = Catalog.from_frame(frame, {"t": _Fake()}, on_error="skip")
    assert cat.ids.tolist() == ["a", "b"]
    assert cat.errors_["reason"].tolist() == ["ValueError: boom is not embeddable"]
    np.testing.assert_allclose(cat.components["t"], _Fake().transform(["red", "blue"]))


def test_no_errors_gives_an_empty_report_and_all_rejected_raises() -> None:
    frame = pd.DataFrame({"id": [1, 2], "t": ["x", "yy"]})
    cat = Catalog.from_frame(frame, {"t": _Fake()}, on_error="skip")
    assert cat.errors_.empty
    assert list(cat.errors_.columns) == ["id", "component", "reason"]
    assert Catalog.from_arrays({"t": np.eye(2, dtype=np.float32)}).errors_.empty
    with pytest.raises(ValueError, match="Every item was rejected"):
        Catalog.from_frame(
            pd.DataFrame({"id": [1], "t": ["boom"]}), {"t": _Fake()}, on_error="skip"
        )
    with pytest.raises(ValueError, match="on_error"):
        Catalog.from_frame(frame, {"t": _Fake()}, on_error="ignore")  # type: ignore[arg-type]
