"""Catalog construction, statistics, sharing and persistence."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from skfusion import Catalog, EncodedArray, HybridFusion

from .._data import correlated_components, unit_rows


@pytest.fixture
def comps() -> np.ndarray:
    return correlated_components(np.random.default_rng(0), n_items=40, dim=8)


@pytest.fixture
def catalog(comps: np.ndarray) -> Catalog:
    return Catalog.from_arrays(
        {"title": comps[0], "desc": comps[1], "image": comps[2]},
        ids=[f"p{i}" for i in range(40)],
        encoder_ids={"title": "enc-a", "desc": "enc-a", "image": "enc-a"},
    )


def test_statistics(catalog: Catalog, comps: np.ndarray) -> None:
    assert catalog.names == ("title", "desc", "image")
    assert (catalog.n_items, catalog.dim, catalog.n_components) == (40, 8, 3)
    assert len(catalog) == 40
    expected_gram = np.einsum("cnd,knd->ckn", comps.astype(np.float64), comps)
    np.testing.assert_allclose(catalog.gram, expected_gram, atol=1e-6)
    np.testing.assert_allclose(catalog.means, comps.astype(np.float64).mean(axis=1), atol=1e-7)
    G = np.array([(E.astype(np.float64) @ E.T).mean() for E in comps])
    np.testing.assert_allclose(catalog.global_weights(), G, atol=1e-6)
    assert catalog.components["desc"].dtype == np.float32
    assert catalog.ids[3] == "p3"
    assert catalog.component_index(["image", "title"]) == [2, 0]


def test_arrays_are_read_only(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="read-only"):
        catalog.components["title"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        catalog.gram[0, 0, 0] = 1.0


def test_shared_handle(catalog: Catalog) -> None:
    assert copy.copy(catalog) is catalog
    assert copy.deepcopy(catalog) is catalog
    assert clone(catalog, safe=False) is catalog
    est = HybridFusion(catalog)
    assert copy.deepcopy([est])[0].catalog is catalog


def test_pickle_round_trip(catalog: Catalog) -> None:
    restored = pickle.loads(pickle.dumps(catalog))
    assert restored.names == catalog.names
    np.testing.assert_array_equal(restored.components["image"], catalog.components["image"])
    assert restored.encoder_ids == catalog.encoder_ids


def test_save_load(tmp_path: Path, catalog: Catalog) -> None:
    path = catalog.save(tmp_path / "cat")
    assert sorted(p.name for p in path.iterdir()) == [
        "component_0.npy",
        "component_1.npy",
        "component_2.npy",
        "gram.npy",
        "ids.json",
        "manifest.json",
        "means.npy",
    ]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["components"][1]["name"] == "desc"
    assert manifest["components"][1]["encoder_id"] == "enc-a"
    for mmap in (True, False):
        loaded = Catalog.load(path, mmap=mmap)
        assert loaded.names == catalog.names
        assert loaded.ids.tolist() == catalog.ids.tolist()
        assert loaded.encoder_ids == catalog.encoder_ids
        assert isinstance(loaded.components["title"].base, np.memmap) is mmap
        np.testing.assert_array_equal(loaded.gram, catalog.gram)
        q = unit_rows(np.random.default_rng(1), (3, 8))
        np.testing.assert_array_equal(
            HybridFusion(loaded).fit().decision_function(q),
            HybridFusion(catalog).fit().decision_function(q),
        )


def test_save_refuses_to_overwrite_and_leaves_no_temp(tmp_path: Path, catalog: Catalog) -> None:
    catalog.save(tmp_path / "cat")
    with pytest.raises(FileExistsError):
        catalog.save(tmp_path / "cat")
    catalog.save(tmp_path / "cat", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["cat"]


def test_load_detects_corruption(tmp_path: Path, catalog: Catalog) -> None:
    path = catalog.save(tmp_path / "cat")
    data = bytearray((path / "component_1.npy").read_bytes())
    data[-1] ^= 0xFF
    (path / "component_1.npy").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Checksum mismatch.*component_1"):
        Catalog.load(path)
    with pytest.raises(ValueError, match="not a skfusion catalog"):
        Catalog.load(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="schema version 99"):
        Catalog.load(path)


def test_encoder_ids_picked_up_from_encoded_arrays(comps: np.ndarray) -> None:
    cat = Catalog.from_arrays({"title": EncodedArray(comps[0], "clip:x:1"), "image": comps[1]})
    assert cat.encoder_ids == {"title": "clip:x:1", "image": None}


def test_normalize_option(comps: np.ndarray) -> None:
    raw = comps[0] * 3.0
    with pytest.raises(ValueError, match="L2-normalised.*row 0 \\(id 'a'\\)"):
        Catalog.from_arrays({"t": raw}, ids=[chr(97 + i) for i in range(40)])
    cat = Catalog.from_arrays({"t": raw}, normalize=True)
    np.testing.assert_allclose(cat.components["t"], comps[0], atol=1e-6)


class _FakeEncoder:
    """Embeds strings by hashing characters into a few dims (test double)."""

    def transform(self, values: list[str]) -> np.ndarray:
        out = np.zeros((len(values), 4))
        for i, v in enumerate(values):
            for j, ch in enumerate(v):
                out[i, (ord(ch) + j) % 4] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_from_frame() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"id": ["a", "b", "c"], "title": ["red", "blue", "green"], "text": ["x", "yy", "zzz"]}
    )
    cat = Catalog.from_frame(df, {"title": _FakeEncoder(), "body": ("text", _FakeEncoder())})
    assert cat.names == ("title", "body")
    assert cat.ids.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(
        cat.components["body"], _FakeEncoder().transform(["x", "yy", "zzz"]), atol=1e-7
    )
    df.loc[1, "text"] = None
    with pytest.raises(ValueError, match="'body'.*missing for item 'b'"):
        Catalog.from_frame(df, {"body": ("text", _FakeEncoder())}, missing="error")
    with pytest.raises(ValueError, match="column 'nope'"):
        Catalog.from_frame(df, {"body": ("nope", _FakeEncoder())})


def test_from_frame_without_an_id_column_says_how_and_uses_the_index() -> None:
    pd = pytest.importorskip("pandas")

    class Fixed:
        """A stand-in encoder: a fixed unit row per text."""

        def transform(self, texts: list[str]) -> np.ndarray:
            out = np.zeros((len(texts), 2), dtype=np.float32)
            out[:, 0] = 1.0
            return out

    frame = pd.DataFrame({"title": ["a", "b", "c", "d"]}).iloc[[3, 1]]  # index [3, 1]
    with pytest.raises(ValueError, match="id_column=None to use the frame's index"):
        Catalog.from_frame(frame, {"title": Fixed()})
    cat = Catalog.from_frame(frame, {"title": Fixed()}, id_column=None)
    assert cat.ids.tolist() == [3, 1]
