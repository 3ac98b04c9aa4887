"""Tests of the bundled running-shoe dataset and its image-drawing script."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.utils import Bunch

from skfusion.datasets import load_shoes


def _load_drawing_tool() -> Any:
    """``tools/draw_shoe_images.py``, which lives in the repository, not in the package."""
    path = Path(__file__).resolve().parents[2] / "tools" / "draw_shoe_images.py"
    spec = importlib.util.spec_from_file_location("draw_shoe_images", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


draw_images = _load_drawing_tool()

QUERIES = [
    "eco-friendly running shoes made of eucalyptus fiber",
    "lightweight shoes for daily road running",
    "high-performance sneakers with energy return",
    "budget-friendly shoes with comfort and support",
    "shoes for stability and structured foot support",
]


@pytest.fixture(scope="module")
def shoes() -> Bunch:
    return load_shoes()


def test_eight_products_with_unique_ids(shoes: Bunch) -> None:
    assert len(shoes.ids) == 8
    assert len(set(shoes.ids)) == 8
    for field in ("title", "description", "image"):
        assert len(shoes[field]) == 8
    assert "Allbirds Tree Dashers" in shoes.title
    assert "Reebok Floatride Energy 4" in shoes.title
    assert len(set(shoes.title)) == 8


def test_text_fields_are_non_empty_strings(shoes: Bunch) -> None:
    for value in [*shoes.ids, *shoes.title, *shoes.description]:
        assert isinstance(value, str)
        assert value.strip() == value
        assert value
    for description in shoes.description:
        assert 1 <= description.count(". ") + 1 <= 3


def test_queries_verbatim(shoes: Bunch) -> None:
    assert shoes.queries == QUERIES
    # A fresh list each call: callers may mutate it safely.
    assert load_shoes().queries is not shoes.queries


def test_images_exist_and_are_224_rgb(shoes: Bunch) -> None:
    for product_id, path in zip(shoes.ids, shoes.image, strict=True):
        p = Path(path)
        assert p.is_absolute()
        assert p.is_file()
        assert p.name == f"{product_id}.png"
        with Image.open(p) as img:
            assert img.format == "PNG"
            assert img.mode == "RGB"
            assert img.size == (224, 224)
        assert p.stat().st_size < 32_000


def test_every_image_differs(shoes: Bunch) -> None:
    arrays = []
    for path in shoes.image:
        with Image.open(path) as img:
            arrays.append(np.asarray(img, dtype=np.int16))
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            # Clearly different pictures, not just a few pixels.
            assert np.abs(arrays[i] - arrays[j]).mean() > 5, (shoes.ids[i], shoes.ids[j])


def test_image_folder_matches_catalog_and_script(shoes: Bunch) -> None:
    folder = Path(shoes.image[0]).parent
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(Path(p).name for p in shoes.image)
    assert list(draw_images.SHOE_SPECS) == shoes.ids


def test_descr_documents_every_image(shoes: Bunch) -> None:
    assert "BSD-3-Clause" in shoes.DESCR
    assert "tools/draw_shoe_images.py" in shoes.DESCR
    for product_id, title in zip(shoes.ids, shoes.title, strict=True):
        assert f"images/{product_id}.png" in shoes.DESCR
        assert title in shoes.DESCR


def test_as_frame(shoes: Bunch) -> None:
    pd = pytest.importorskip("pandas")
    assert shoes.frame is None
    bunch = load_shoes(as_frame=True)
    frame = bunch.frame
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["id", "title", "description", "image"]
    assert frame.shape == (8, 4)
    assert frame["id"].tolist() == shoes.ids
    assert frame["title"].tolist() == shoes.title
    assert frame["description"].tolist() == shoes.description
    assert frame["image"].tolist() == shoes.image
    assert bunch.queries == QUERIES


def test_as_frame_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"skfusion\[frame\]"):
        load_shoes(as_frame=True)
    assert load_shoes().frame is None


def test_drawing_script_reproduces_bundled_images(shoes: Bunch, tmp_path: Path) -> None:
    written = draw_images.draw_all(tmp_path)
    assert [p.name for p in written] == [Path(p).name for p in shoes.image]
    for new, bundled in zip(written, shoes.image, strict=True):
        with Image.open(new) as a, Image.open(bundled) as b:
            same_pixels = np.array_equal(np.asarray(a), np.asarray(b))
        assert same_pixels, f"{new.name}: draw_images.py draws different pixels; rerun it"
        assert new.read_bytes() == Path(bundled).read_bytes(), (
            f"{new.name}: same pixels but different PNG bytes (another zlib build?)"
        )


def test_drawing_script_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert draw_images.main([str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 8
    assert all(Path(p).is_file() for p in printed)
