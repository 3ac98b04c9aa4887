"""Lexical (BM25) components: the encoder, catalog storage and scoring in the scan.

The encoder is checked against a hand-computed fixture and against ``bm25s``
(an independent BM25 implementation, fed the same tokens) on 200 Cranfield
documents; fusion with a lexical component against scores computed
literally here (Python loops over items, float64).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.utils import estimator_checks

from skfusion import AverageFusion, Catalog, HybridFusion, RRFusion, ScoreFusion, WeightedFusion
from skfusion.encoders import BM25Encoder, ClipEncoder
from skfusion.fusion.score_fusion import _CombMNZ

from .._tolerance import RTOL32, f32_atol

K1, B = 1.5, 0.75

# -- the encoder: a hand-computed fixture ----------------------------------------------

#: Three documents; the default token pattern keeps words of two or more characters.
HAND_DOCS = ["red shoe", "red red boot", "boot"]


def _hand_weight(tf: int, dl: int, df: int) -> float:
    """w(d, t) for the hand fixture: N = 3, avgdl = (2 + 3 + 1) / 3 = 2."""
    idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / 2.0))


def test_hand_fixture_idf_weights_and_scores() -> None:
    enc = BM25Encoder().fit(HAND_DOCS)
    assert list(enc.get_feature_names_out()) == ["boot", "red", "shoe"]
    np.testing.assert_allclose(enc.idf_, [math.log(1.6), math.log(1.6), math.log(1 + 2.5 / 1.5)])
    assert enc.avgdl_ == 2.0
    assert enc.n_documents_ == 3
    W = enc.document_weights(HAND_DOCS)
    assert isinstance(W, sp.csr_array)
    assert W.dtype == np.float32
    assert W.has_sorted_indices
    expected = np.array(
        [
            [0.0, _hand_weight(1, 2, 2), _hand_weight(1, 2, 1)],
            [_hand_weight(1, 3, 2), _hand_weight(2, 3, 2), 0.0],
            [_hand_weight(1, 1, 2), 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(W.toarray(), expected, rtol=RTOL32)
    # Queries are counts of known terms; "hat" is unknown; repeated terms count twice.
    Q = enc.transform(["red red hat", "boot shoe", "hat"])
    assert Q.dtype == np.float32
    np.testing.assert_array_equal(Q.toarray(), [[0, 2, 0], [1, 0, 1], [0, 0, 0]])
    scores = (Q @ W.T).toarray()
    np.testing.assert_allclose(scores[0], 2 * expected[:, 1], rtol=RTOL32)
    np.testing.assert_allclose(scores[1], expected[:, 0] + expected[:, 2], rtol=RTOL32)
    np.testing.assert_array_equal(scores[2], 0.0)


def test_k1_and_b_change_the_weights_as_the_formula_says() -> None:
    W = BM25Encoder(k1=0.0, b=0.0).fit(HAND_DOCS).document_weights(HAND_DOCS).toarray()
    # k1 = 0: tf saturates at once, w = idf for every present term.
    np.testing.assert_allclose(W[1], [math.log(1.6), math.log(1.6), 0.0], rtol=RTOL32)
    W = BM25Encoder(b=0.0).fit(HAND_DOCS).document_weights(HAND_DOCS).toarray()
    # b = 0: no length normalisation, w = idf · tf (k1 + 1) / (tf + k1).
    np.testing.assert_allclose(W[1, 1], math.log(1.6) * 2 * 2.5 / (2 + 1.5), rtol=RTOL32)


def test_bad_inputs_are_specific_errors() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        BM25Encoder().fit("red shoe")
    with pytest.raises(TypeError, match="item 1 is a int"):
        BM25Encoder().fit(["red shoe", 3])
    with pytest.raises(ValueError, match="at least one document"):
        BM25Encoder().fit([])
    with pytest.raises(ValueError, match="found no terms"):
        BM25Encoder().fit(["a", "b"])
    with pytest.raises(ValueError, match="k1"):
        BM25Encoder(k1=-1.0).fit(HAND_DOCS)
    with pytest.raises(ValueError, match="b"):
        BM25Encoder(b=1.5).fit(HAND_DOCS)
    with pytest.raises(ValueError, match="not a language PyStemmer knows"):
        BM25Encoder(stemmer="klingon").fit(HAND_DOCS)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BM25Encoder().transform(["red"])


def test_stemming_and_stop_words() -> None:
    pytest.importorskip("Stemmer")
    enc = BM25Encoder(stemmer="english", stop_words="english").fit(
        ["the running shoes", "a runner runs"]
    )
    assert list(enc.get_feature_names_out()) == ["run", "runner", "shoe"]
    np.testing.assert_array_equal(enc.transform(["runs and shoes"]).toarray(), [[1, 0, 1]])
    again = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(again.transform(["shoe"]).toarray(), [[0, 0, 1]])


# sklearn's estimator checks feed numeric 2-D arrays, which a text encoder does not take
# (check_estimator skips it for its string-input tags); these are the API checks that apply.
API_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_estimator_cloneable",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_dont_overwrite_parameters",
]


@pytest.mark.parametrize("check", API_CHECKS)
def test_sklearn_api_checks(check: str) -> None:
    fn = getattr(estimator_checks, check)
    if check == "check_dont_overwrite_parameters":
        # It fits on numbers; fit on texts instead and compare the parameters.
        est = BM25Encoder(k1=1.2, stop_words="english")
        before = est.get_params()
        est.fit(HAND_DOCS)
        assert est.get_params() == before
        return
    fn("BM25Encoder", BM25Encoder())


# -- the encoder against bm25s -----------------------------------------------------------


@pytest.fixture(scope="module")
def cranfield_200() -> tuple[list[str], list[str]]:
    from skfusion.datasets import load_cranfield

    cran = load_cranfield()
    docs = [f"{t} {a}" for t, a in zip(cran.title[:200], cran.abstract[:200], strict=True)]
    return docs, list(cran.queries[:30])


@pytest.mark.parametrize(
    "params", [{}, {"stop_words": "english"}, {"stemmer": "english", "k1": 1.2, "b": 0.5}]
)
def test_parity_with_bm25s_lucene(cranfield_200: tuple[list[str], list[str]], params) -> None:
    """Our score is bm25s's ``method="lucene"`` score times (k1 + 1), on the same tokens.

    bm25s implements Lucene's BM25 (Kamphuis et al. 2020), which drops the constant
    factor (k1 + 1) of the classic formula; repeated query tokens count once per
    occurrence in both.
    """
    bm25s = pytest.importorskip("bm25s")
    if "stemmer" in params:
        pytest.importorskip("Stemmer")
    docs, queries = cranfield_200
    enc = BM25Encoder(**params).fit(docs)
    analyze = enc.vectorizer_.build_analyzer()
    vocab = enc.vocabulary_
    retriever = bm25s.BM25(method="lucene", k1=enc.k1, b=enc.b)
    retriever.index([analyze(d) for d in docs], show_progress=False)
    ours = (enc.transform(queries) @ enc.document_weights(docs).T).toarray()
    checked = 0
    for q, text in enumerate(queries):
        tokens = [t for t in analyze(text) if t in vocab]
        if not tokens:
            np.testing.assert_array_equal(ours[q], 0.0)
            continue
        ref = np.asarray(retriever.get_scores(tokens), dtype=np.float64) * (enc.k1 + 1)
        np.testing.assert_allclose(ours[q], ref, rtol=1e-5, atol=f32_atol(len(tokens), 50.0))
        checked += 1
    assert checked >= 25
    # A query with a repeated term: twice the single-term score, in both implementations.
    term = next(iter(vocab))
    ref = np.asarray(retriever.get_scores([term, term])) * (enc.k1 + 1)
    mine = (
        sp.csr_array(([2.0], ([0], [vocab[term]])), shape=(1, len(vocab))).astype(np.float32)
        @ enc.document_weights(docs).T
    ).toarray()[0]
    np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-5)


# -- catalogs with lexical components -----------------------------------------------------

DOCS6 = [
    "red running shoe",
    "blue running shoe shoe",
    "red hat",
    "green scarf",
    "blue hat",
    "winter boot",
]


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    E = rng.standard_normal((n, d))
    return (E / np.linalg.norm(E, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def hybrid() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    enc = BM25Encoder().fit(DOCS6)
    E = _unit(rng, 6, 5)
    D = enc.document_weights(DOCS6)
    cat = Catalog.from_arrays({"dense": E}, ids=[f"i{k}" for k in range(6)], lexical={"bm25": D})
    q = _unit(rng, 3, 5)
    texts = ["red shoe", "blue hat hat", "scarf winter"]
    Q = enc.transform(texts)
    X = sp.hstack([sp.csr_array(q), Q], format="csr")
    return {"enc": enc, "E": E, "D": D, "cat": cat, "q": q, "Q": Q, "X": X, "texts": texts}


def test_catalog_lexical_properties(hybrid: dict[str, Any]) -> None:
    cat = hybrid["cat"]
    assert cat.lexical_names == ("bm25",)
    L = cat.lexical["bm25"]
    assert isinstance(L, sp.csr_array)
    assert L.dtype == np.float32
    assert L.has_sorted_indices
    assert not L.data.flags.writeable
    np.testing.assert_array_equal(L.toarray(), hybrid["D"].toarray())
    assert "lexical=['bm25']" in repr(cat)
    assert clone(cat) is cat
    assert Catalog.from_arrays({"dense": hybrid["E"]}).lexical_names == ()


def test_catalog_rejects_bad_lexical_components(hybrid: dict[str, Any]) -> None:
    E, D = hybrid["E"], hybrid["D"]
    with pytest.raises(ValueError, match="name of a dense component"):
        Catalog.from_arrays({"dense": E}, lexical={"dense": D})
    with pytest.raises(TypeError, match="scipy.sparse"):
        Catalog.from_arrays({"dense": E}, lexical={"bm25": D.toarray()})
    with pytest.raises(ValueError, match=r"shape \(n_items, n_terms\)"):
        Catalog.from_arrays({"dense": E}, lexical={"bm25": D[:5]})
    bad = D.copy()
    bad.data[0] = -1.0
    with pytest.raises(ValueError, match="item 'i0'.*finite and non-negative"):
        Catalog.from_arrays({"dense": E}, ids=[f"i{k}" for k in range(6)], lexical={"bm25": bad})
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="finite and non-negative"):
        Catalog.from_arrays({"dense": E}, lexical={"bm25": bad})
    with pytest.raises(ValueError, match="no item"):
        Catalog.from_arrays({"dense": E}, lexical={"bm25": sp.csr_array((6, 3))})


def test_save_load_round_trip_and_pickles(hybrid: dict[str, Any], tmp_path: Path) -> None:
    cat = hybrid["cat"]
    path = cat.save(tmp_path / "cat")
    manifest = json.loads((path / "manifest.json").read_text())
    entry = manifest["lexical"][0]
    assert entry["name"] == "bm25"
    assert entry["nnz"] == hybrid["D"].nnz
    for part in ("data", "indices", "indptr"):
        assert (
            entry[part]["sha256"]
            == hashlib.sha256((path / entry[part]["file"]).read_bytes()).hexdigest()
        )
    for mmap in (True, False):
        back = Catalog.load(path, mmap=mmap)
        assert back.lexical_names == ("bm25",)
        np.testing.assert_array_equal(back.lexical["bm25"].toarray(), hybrid["D"].toarray())
    by_ref = pickle.loads(pickle.dumps(Catalog.load(path)))
    np.testing.assert_array_equal(by_ref.lexical["bm25"].toarray(), hybrid["D"].toarray())
    in_memory = pickle.loads(pickle.dumps(cat))
    np.testing.assert_array_equal(in_memory.lexical["bm25"].toarray(), hybrid["D"].toarray())
    est = ScoreFusion(Catalog.load(path), normalization="minmax").fit()
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(est)).decision_function(hybrid["X"]),
        est.decision_function(hybrid["X"]),
    )
    cat.save(path, overwrite=True)  # a catalog with lexical files is replaceable


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _forge(path: Path, part: str, array: np.ndarray, nnz: int | None = None) -> None:
    """Replace a lexical file and fix its checksum (and nnz), as a forger would."""
    manifest = json.loads((path / "manifest.json").read_text())
    entry = manifest["lexical"][0]
    np.save(path / entry[part]["file"], array, allow_pickle=False)
    entry[part]["sha256"] = _sha(path / entry[part]["file"])
    entry[part]["dtype"] = str(array.dtype)
    if nnz is not None:
        entry["nnz"] = nnz
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_hostile_lexical_files(hybrid: dict[str, Any], tmp_path: Path) -> None:
    D = hybrid["D"]
    base = hybrid["cat"].save(tmp_path / "base")

    def fresh(name: str) -> Path:
        return hybrid["cat"].save(tmp_path / name)

    # A tampered file fails its checksum.
    p = fresh("tampered")
    f = p / json.loads((p / "manifest.json").read_text())["lexical"][0]["data"]["file"]
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        Catalog.load(p)
    # Forged files with correct checksums fail the content checks.
    cases = [
        ("indptr", np.r_[D.indptr[:2], D.indptr[1] - 1, D.indptr[3:]], "CSR row pointer"),
        ("indptr", np.r_[1, D.indptr[1:]], "CSR row pointer"),
        ("indices", np.r_[D.indices[:-1], 999].astype(D.indices.dtype), "outside"),
        (
            "indices",
            np.r_[D.indices[1], D.indices[0], D.indices[2:]].astype(D.indices.dtype),
            "strictly increasing",
        ),
        ("data", np.r_[-1.0, D.data[1:]].astype(np.float32), "negative"),
        ("data", np.r_[np.inf, D.data[1:]].astype(np.float32), "non-finite"),
        ("data", D.data.astype(np.float64), "dtype"),
        ("data", D.data[:-1], "shape"),
    ]
    for k, (part, array, message) in enumerate(cases):
        p = fresh(f"forged-{k}")
        _forge(p, part, array)
        with pytest.raises(ValueError, match=message):
            Catalog.load(p)
    # Manifest entries are checked key by key.
    for k, (change, message) in enumerate(
        [
            (lambda e: e.update(name="dense"), r"lexical\[0\]\.name"),
            (lambda e: e.update(shape=[5, 3]), r"lexical\[0\]\.shape"),
            (lambda e: e.update(nnz=-1), r"lexical\[0\]\.nnz"),
            (lambda e: e["indices"].update(dtype="float32"), r"lexical\[0\]\.indices\.dtype"),
            (lambda e: e["data"].update(file="../x.npy"), "not a plain file name"),
        ]
    ):
        p = fresh(f"manifest-{k}")
        manifest = json.loads((p / "manifest.json").read_text())
        change(manifest["lexical"][0])
        (p / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ValueError, match=message):
            Catalog.load(p)
    assert Catalog.load(base).lexical_names == ("bm25",)


# -- scoring -----------------------------------------------------------------------------


def _literal_bm25(enc: BM25Encoder, query: str, docs: list[str]) -> np.ndarray:
    """BM25 of one query for every document, term by term (float64, Python loops)."""
    analyze = enc.vectorizer_.build_analyzer()
    doc_tokens = [[t for t in analyze(d) if t in enc.vocabulary_] for d in docs]
    N = len(docs)
    avgdl = sum(len(t) for t in doc_tokens) / N
    out = np.zeros(N)
    for term in analyze(query):
        if term not in enc.vocabulary_:
            continue
        df = sum(term in toks for toks in doc_tokens)
        idf = math.log(1 + (N - df + 0.5) / (df + 0.5))
        for i, toks in enumerate(doc_tokens):
            tf = toks.count(term)
            out[i] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(toks) / avgdl))
    return out


def _literal_components(h: dict[str, Any]) -> np.ndarray:
    """(2, Q, N) raw similarities: dense cosines then BM25 scores, float64."""
    dense = h["q"].astype(np.float64) @ h["E"].astype(np.float64).T
    lex = np.stack([_literal_bm25(h["enc"], t, DOCS6) for t in h["texts"]])
    return np.stack([dense, lex])


def test_combsum_minmax_convex_combination_literal(hybrid: dict[str, Any]) -> None:
    """Bruch et al. (TOIS 2023): 0.7 · minmax(dense) + 0.3 · minmax(BM25), item by item."""
    S = _literal_components(hybrid)
    expected = np.zeros(S.shape[1:])
    for c, w in enumerate((0.7, 0.3)):
        for q in range(S.shape[1]):
            lo, hi = min(S[c, q]), max(S[c, q])
            for i in range(S.shape[2]):
                expected[q, i] += w * (S[c, q, i] - lo) / (hi - lo)
    est = ScoreFusion(hybrid["cat"], normalization="minmax", weights=(0.7, 0.3)).fit()
    got = est.decision_function(hybrid["X"])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    _scores, idx = est.kneighbors(hybrid["X"], n_neighbors=6)
    np.testing.assert_array_equal(idx, np.argsort(-expected, axis=1, kind="stable"))
    # by name, in any order
    named = ScoreFusion(hybrid["cat"], normalization="minmax", weights={"bm25": 0.3, "dense": 0.7})
    np.testing.assert_array_equal(named.fit().decision_function(hybrid["X"]), got)
    # the same scores on a dense-array X and on a tiny block size
    dense_X = hybrid["X"].toarray()
    small = ScoreFusion(hybrid["cat"], normalization="minmax", weights=(0.7, 0.3), block_size=2)
    np.testing.assert_allclose(small.fit().decision_function(dense_X), got, atol=1e-6)


@pytest.mark.parametrize("normalization", ["zscore", "dbsf", "none"])
def test_every_normalisation_is_exact_for_lexical(hybrid: dict[str, Any], normalization) -> None:
    S = _literal_components(hybrid)
    mu = S.mean(axis=2, keepdims=True)
    sd = S.std(axis=2, keepdims=True)
    if normalization == "zscore":
        N = (S - mu) / sd
    elif normalization == "dbsf":
        N = np.clip((S - (mu - 3 * sd)) / (6 * sd), 0, 1)
    else:
        N = S
    expected = 0.5 * N[0] + 0.5 * N[1]
    est = ScoreFusion(hybrid["cat"], normalization=normalization).fit()
    np.testing.assert_allclose(est.decision_function(hybrid["X"]), expected, atol=2e-5)


def test_an_empty_lexical_row_is_a_missing_component(hybrid: dict[str, Any]) -> None:
    D = hybrid["D"].toarray()
    D[3] = 0.0  # item 3 has no text
    cat = Catalog.from_arrays({"dense": hybrid["E"]}, lexical={"bm25": sp.csr_array(D)})
    est = ScoreFusion(cat, normalization="minmax", weights=(0.5, 0.5)).fit()
    scores = est.decision_function(hybrid["X"])
    assert np.isfinite(scores).all()
    S = _literal_components(hybrid)
    S[1, :, 3] = np.nan
    for q in range(3):
        dense = (S[0, q] - S[0, q].min()) / (S[0, q].max() - S[0, q].min())
        lex = (S[1, q] - np.nanmin(S[1, q])) / (np.nanmax(S[1, q]) - np.nanmin(S[1, q]))
        expected = 0.5 * dense + 0.5 * np.nan_to_num(lex, nan=0.0)  # absent adds nothing
        np.testing.assert_allclose(scores[q], expected, atol=1e-5)
    ex = est.explain(hybrid["X"][[0]], [3, 0])
    assert ex.components == ("dense", "bm25")
    assert np.isnan(ex.similarities[0, 1])
    assert np.isnan(ex.normalized[0, 1])
    np.testing.assert_allclose(ex.scores, scores[0, [3, 0]], atol=1e-6)


def test_explain_shows_lexical_components(hybrid: dict[str, Any]) -> None:
    est = ScoreFusion(hybrid["cat"], normalization="minmax", weights=(0.7, 0.3)).fit()
    ex = est.explain(hybrid["X"][[1]], ["i4", "i1"])
    S = _literal_components(hybrid)
    np.testing.assert_allclose(ex.similarities, S[:, 1, [4, 1]].T, atol=1e-5)
    np.testing.assert_allclose(ex.normalized @ np.array([0.7, 0.3]), ex.scores, atol=1e-5)


def test_rrf_with_a_lexical_component_literal(hybrid: dict[str, Any]) -> None:
    S = _literal_components(hybrid)
    k, depth = 2.0, 4
    est = RRFusion(hybrid["cat"], k=k, depth=depth, weights=(1.0, 2.0)).fit()
    got = est.decision_function(hybrid["X"])
    w = np.array([1.0, 2.0]) / 3.0
    for q in range(3):
        expected = np.zeros(6)
        for c in range(2):
            items = [i for i in range(6) if c == 0 or S[c, q, i] > 0]  # BM25 0: not ranked
            ranked = sorted(items, key=lambda i: (-S[c, q, i], i))[:depth]
            for r, i in enumerate(ranked, start=1):
                expected[i] += w[c] / (k + r)
        np.testing.assert_allclose(got[q], expected, rtol=1e-6)
    # Without lexical columns the lexical lists are empty: dense-only RRF scaled by w_0.
    dense_only = est.decision_function(hybrid["q"])
    dense_ranked = np.argsort(-S[0], axis=1, kind="stable")[:, :depth]
    for q in range(3):
        expected = np.zeros(6)
        expected[dense_ranked[q]] = w[0] / (k + np.arange(1, depth + 1))
        np.testing.assert_allclose(dense_only[q], expected, rtol=1e-6)


def test_dense_wide_queries_score_lexical_zero(hybrid: dict[str, Any]) -> None:
    cat, q = hybrid["cat"], hybrid["q"]
    empty = sp.hstack([sp.csr_array(q), sp.csr_array(hybrid["Q"].shape)], format="csr")
    for norm in ("minmax", "zscore", "dbsf", "none"):
        est = ScoreFusion(cat, normalization=norm, weights=(0.6, 0.4)).fit()
        np.testing.assert_array_equal(est.decision_function(q), est.decision_function(empty))
        # and the lexical component adds nothing: dense-only catalog, weight 0.6
        ref = ScoreFusion(Catalog.from_arrays({"dense": hybrid["E"]}), normalization=norm)
        np.testing.assert_allclose(
            est.decision_function(q), 0.6 * ref.fit().decision_function(q), atol=1e-6
        )


def test_vector_fusion_uses_only_the_dense_columns(hybrid: dict[str, Any]) -> None:
    E = hybrid["E"]
    rng = np.random.default_rng(1)
    E2 = _unit(rng, 6, 5)
    cat = Catalog.from_arrays({"a": E, "b": E2}, lexical={"bm25": hybrid["D"]})
    plain = Catalog.from_arrays({"a": E, "b": E2})
    for make in (AverageFusion, HybridFusion, lambda c: WeightedFusion(c, weights=(0.3, 0.7))):
        est, ref = make(cat).fit(hybrid["X"]), make(plain).fit()
        for X in (hybrid["X"], hybrid["X"].toarray(), hybrid["q"]):
            np.testing.assert_array_equal(
                est.decision_function(X), ref.decision_function(hybrid["q"])
            )
        _s, i = est.kneighbors(hybrid["X"], 3)
        np.testing.assert_array_equal(i, ref.kneighbors(hybrid["q"], 3)[1])


def test_query_width_and_strategy_errors(hybrid: dict[str, Any]) -> None:
    cat, X = hybrid["cat"], hybrid["X"]
    est = ScoreFusion(cat).fit()
    with pytest.raises(
        ValueError, match=r"X has 7 columns.*takes 5 .* or 14 = 5 dense \+ 9 \('bm25'\)"
    ):
        est.kneighbors(X[:, :7])
    neg = X.copy()
    neg.data[-1] = -1.0
    with pytest.raises(ValueError, match="'bm25'.*finite and non-negative"):
        est.kneighbors(neg)
    with pytest.raises(
        ValueError, match=r"ScoreFusion\(method='mnz'\) does not score lexical components"
    ):
        _CombMNZ(cat).fit()
    with pytest.raises(ValueError, match="approximate=True"):
        ScoreFusion(cat, approximate=True).fit().kneighbors(X)
    with pytest.raises(ValueError, match="approximate=True"):
        RRFusion(cat, approximate=True).fit().kneighbors(X)
    with pytest.raises(ValueError, match="valid names are"):
        ScoreFusion(cat, weights={"dense": 1.0, "bm": 1.0}).fit()
    dense_only = ScoreFusion(Catalog.from_arrays({"dense": hybrid["E"]})).fit()
    with pytest.raises(ValueError, match="14 features"):
        dense_only.kneighbors(X.toarray())


# -- a Pipeline over raw texts -------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*were truncated:UserWarning")
def test_grid_search_over_the_lexical_weight_with_raw_text_queries(tiny_clip_dir: Path) -> None:
    rng = np.random.default_rng(3)
    words = ["red", "blue", "green", "shoe", "boot", "sock", "run", "walk", "trail", "road"]
    docs = [f"{' '.join(rng.choice(words, 3))} item{i}" for i in range(30)]
    targets = rng.choice(30, size=24)
    queries = [f"{docs[t].split()[0]} item{t}" for t in targets]  # the id word is lexical
    y = np.zeros((24, 30))
    y[np.arange(24), targets] = 1
    dense = ClipEncoder(tiny_clip_dir, modality="text", device="cpu")
    bm25 = BM25Encoder().fit(docs)
    cat = Catalog.from_arrays(
        {"text": dense.transform(docs)}, lexical={"bm25": bm25.document_weights(docs)}
    )
    pipe = make_pipeline(
        make_union(dense, FrozenEstimator(bm25)), ScoreFusion(cat, normalization="minmax")
    )
    grid = [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    search = GridSearchCV(pipe, {"scorefusion__weights": grid}, cv=KFold(3)).fit(queries, y)
    # The exact item-id word makes BM25 decisive: any lexical weight beats dense only.
    assert search.best_params_["scorefusion__weights"] != (1.0, 0.0)
    # Each fold's score equals the bare estimator's on the union's output.
    X = make_union(dense, FrozenEstimator(bm25)).fit_transform(queries)
    assert sp.issparse(X)
    assert X.shape == (24, cat.dim + len(bm25.vocabulary_))
    for g, w in enumerate(grid):
        folds = []
        for _train, test in KFold(3).split(queries):
            est = ScoreFusion(cat, normalization="minmax", weights=w).fit()
            folds.append(est.score(X[test], y[test]))
        assert search.cv_results_["mean_test_score"][g] == pytest.approx(np.mean(folds))
    # Lexical weight only: the ranking is BM25's.
    lex_only = ScoreFusion(cat, normalization="minmax", weights=(0.0, 1.0)).fit()
    bm = (bm25.transform(queries) @ cat.lexical["bm25"].T).toarray()
    top = lex_only.kneighbors(X, 1, return_distance=False)[:, 0]
    np.testing.assert_array_equal(bm[np.arange(24), top], bm.max(axis=1))


def test_torch_backend_scores_lexical_components_like_numpy(hybrid: dict[str, Any]) -> None:
    pytest.importorskip("torch")
    for make in (
        lambda b: ScoreFusion(hybrid["cat"], normalization="zscore", backend=b, device=None),
        lambda b: RRFusion(hybrid["cat"], depth=3, backend=b),
    ):
        ref = make("numpy").fit()
        est = make("torch").set_params(device="cpu").fit()
        np.testing.assert_allclose(
            est.decision_function(hybrid["X"]), ref.decision_function(hybrid["X"]), atol=1e-5
        )
        np.testing.assert_array_equal(
            est.kneighbors(hybrid["X"], 4)[1], ref.kneighbors(hybrid["X"], 4)[1]
        )


def test_calibrated_fusion_standardises_lexical_scores(hybrid: dict[str, Any]) -> None:
    from skfusion.fusion.calibrated import _CalibratedFusion

    S = _literal_components(hybrid)
    Z = (S - S.mean(axis=2, keepdims=True)) / S.std(axis=2, keepdims=True)
    expected = (0.25 * Z[0] + 0.75 * Z[1]) / 1.0
    est = _CalibratedFusion(hybrid["cat"], weights=(0.25, 0.75)).fit()
    np.testing.assert_allclose(est.decision_function(hybrid["X"]), expected, atol=2e-5)
