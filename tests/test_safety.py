"""Safe by default: catalogs pickled by reference, confined image paths, no remote code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from skfusion import Catalog, ClipEncoder, HybridFusion
from skfusion.encoders import ImageLoadError

from ._data import correlated_components, unit_rows


def _catalog(seed: int = 0, n: int = 2000) -> Catalog:
    comps = correlated_components(np.random.default_rng(seed), n_items=n, dim=32)
    return Catalog.from_arrays({"a": comps[0], "b": comps[1]})


def test_a_saved_catalog_pickles_as_a_reference(tmp_path: Path) -> None:
    cat = _catalog()
    cat.save(tmp_path / "cat")
    loaded = Catalog.load(tmp_path / "cat")
    blob = pickle.dumps(HybridFusion(loaded).fit())
    assert len(blob) < 4096  # the arrays (512 KB) are not in the pickle
    est = pickle.loads(blob)
    assert isinstance(est.catalog.components["a"], np.memmap)
    np.testing.assert_array_equal(est.catalog.components["a"], cat.components["a"])
    q = unit_rows(np.random.default_rng(1), (3, 32))
    np.testing.assert_array_equal(
        est.decision_function(q), HybridFusion(cat).fit().decision_function(q)
    )
    # An in-memory catalog has nothing to refer to: its arrays travel with it.
    assert len(pickle.dumps(cat)) > cat.nbytes
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(cat)).gram, cat.gram)


def test_unpickling_refuses_a_catalog_that_changed(tmp_path: Path) -> None:
    _catalog(0).save(tmp_path / "cat")
    blob = pickle.dumps(Catalog.load(tmp_path / "cat"))
    _catalog(1).save(tmp_path / "cat", overwrite=True)
    with pytest.raises(ValueError, match="changed since it was pickled"):
        pickle.loads(blob)
    import shutil

    shutil.rmtree(tmp_path / "cat")
    with pytest.raises(ValueError, match="no longer a catalog"):
        pickle.loads(blob)


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_image_paths_are_confined_to_image_root(tiny_clip_dir: Path, image_files, tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("a.png", "b.png", "c.jpg"):
        (root / name).write_bytes((image_files.directory / name).read_bytes())
    enc = ClipEncoder(str(tiny_clip_dir), modality="image", device="cpu", image_root=root)
    inside = enc.transform(["a.png", f"{root}/b.png", (root / "c.jpg").as_uri()])
    free = ClipEncoder(str(tiny_clip_dir), modality="image", device="cpu")
    expected = free.transform([str(root / "a.png"), str(root / "b.png"), str(root / "c.jpg")])
    np.testing.assert_allclose(inside, expected, atol=1e-6)
    outside = tmp_path / "outside.png"
    outside.write_bytes((root / "a.png").read_bytes())
    os.symlink(outside, root / "escape.png")
    for bad in ("../outside.png", str(outside), outside.as_uri(), "escape.png"):
        with pytest.raises(ImageLoadError, match="outside image_root"):
            enc.transform([bad])


def test_models_load_without_remote_code(tiny_clip_dir: Path, monkeypatch) -> None:
    import transformers

    from skfusion.encoders._cache import clear_cache

    seen: list[object] = []
    original = transformers.AutoModel.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", spy)
    clear_cache()
    ClipEncoder(str(tiny_clip_dir), device="cpu").fit()
    clear_cache()
    assert seen == [False]


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_modalities_are_recorded_and_image_queries_need_an_image_component(
    tiny_clip_dir: Path, image_files, tmp_path: Path
) -> None:
    clip = ClipEncoder(str(tiny_clip_dir), device="cpu")
    texts = clip.transform(["red shoes", "blue hat", "green socks"])
    images = clip.transform([str(p) for p in image_files.images[:3]])
    assert (texts.modality, images.modality) == ("text", "image")
    assert clip.transform(["red shoes", str(image_files.images[0])]).modality == "mixed"
    text_only = Catalog.from_arrays({"title": texts, "body": texts})
    both = Catalog.from_arrays({"title": texts, "image": images})
    assert both.modalities == {"title": "text", "image": "image"}
    both.save(tmp_path / "cat")
    assert Catalog.load(tmp_path / "cat").modalities == both.modalities
    query = clip.transform([str(image_files.images[1])])
    with pytest.raises(ValueError, match="queries are images, but this catalog has no image"):
        HybridFusion(text_only).fit().kneighbors(query)
    assert HybridFusion(both).fit().kneighbors(query, n_neighbors=2)[1].shape == (1, 2)
    # Untagged arrays (unknown modality) are not second-guessed.
    assert HybridFusion(text_only).fit().kneighbors(np.asarray(query), n_neighbors=1)[1].shape == (
        1,
        1,
    )
    with pytest.raises(ValueError, match="modality of component 'title' must be"):
        Catalog.from_arrays({"title": texts}, modalities={"title": "audio"})


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_catalogs_built_from_frames_record_what_their_encoders_embed(
    tiny_clip_dir: Path, image_files, tmp_path: Path
) -> None:
    import pandas as pd

    from skfusion import TextEncoder
    from skfusion.catalog._build import Spec, declared_modalities

    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "title": ["red shoes", "blue hat", "green socks"],
            "image": [str(p) for p in image_files.images[:3]],
        }
    )
    clip = str(tiny_clip_dir)
    text = ClipEncoder(clip, modality="text", device="cpu")
    encoders = {"title": text, "image": ClipEncoder(clip, modality="image", device="cpu")}
    expected = {"title": "text", "image": "image"}
    assert Catalog.from_frame(frame, encoders).modalities == expected
    built = Catalog.build(frame, encoders, tmp_path / "built")
    assert built.modalities == expected
    assert Catalog.load(tmp_path / "built").modalities == expected
    # An image query against a text-only catalog built from a frame fails clearly.
    text_only = Catalog.from_frame(frame, {"title": text, "again": ("title", text)})
    assert text_only.modalities == {"title": "text", "again": "text"}
    query = ClipEncoder(clip, device="cpu").transform([str(image_files.images[1])])
    with pytest.raises(ValueError, match="queries are images, but this catalog has no image"):
        HybridFusion(text_only).fit().kneighbors(query)
    # What an encoder does not declare stays unknown: CLIP with modality="auto"
    # may embed texts and images in one column; other encoders are not guessed.
    specs = [
        Spec("a", "title", ClipEncoder(clip, modality="auto")),
        Spec("b", "title", TextEncoder("any-model")),
        Spec("c", "title", object()),
    ]
    assert declared_modalities(specs) == {"a": None, "b": "text", "c": None}
