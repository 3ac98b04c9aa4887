"""Tests of skfusion.io: trec_eval run/qrels files, conversions, BEIR datasets."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from skfusion.datasets import load_cranfield
from skfusion.io import (
    load_beir,
    matrix_to_qrels,
    qrels_to_matrix,
    read_trec_qrels,
    read_trec_run,
    run_from_scores,
    run_from_topk,
    save_beir,
    write_trec_qrels,
    write_trec_run,
)

# Scores chosen to be hard to round-trip: no short decimal, extremes, negatives.
RUN = {
    "q1": {"d3": 0.1 + 0.2, "dé": 1 / 3, "d1": -2.5e-300, "d9": 1e300},
    "résumé-7": {"文書": 0.5, "d2": 0.5, "d1": 0.25},
    "q3": {"x": 7.0},
}
QRELS = {
    "q1": {"d3": 2, "dé": 0, "d1": -1},
    "résumé-7": {"文書": 1, "d9": 3},
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------
# run files
# ---------------------------------------------------------------------------


def test_run_round_trip_is_exact(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, RUN, tag="mine")
    back = read_trec_run(path)
    assert back == RUN
    # floats are bit-identical, not merely close
    for qid, docs in RUN.items():
        for docid, score in docs.items():
            assert back[qid][docid].hex() == float(score).hex()


def test_write_run_orders_by_score_with_stable_ties(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, {"q": {"b": 1.0, "c": 2.0, "a": 1.0, "z": 1.0}}, tag="t")
    assert lines(path) == [
        ["q", "Q0", "c", "1", "2.0", "t"],
        ["q", "Q0", "b", "2", "1.0", "t"],
        ["q", "Q0", "a", "3", "1.0", "t"],
        ["q", "Q0", "z", "4", "1.0", "t"],
    ]
    # read back: file order is kept in the inner dict
    assert list(read_trec_run(path)["q"]) == ["c", "b", "a", "z"]


def test_write_run_rank_scores(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, {"q": {"b": 1.0, "c": 2.0, "a": 1.0}, "p": {"x": -3.0}}, scores="rank")
    assert lines(path) == [
        ["q", "Q0", "c", "1", "3", "skfusion"],
        ["q", "Q0", "b", "2", "2", "skfusion"],
        ["q", "Q0", "a", "3", "1", "skfusion"],
        ["p", "Q0", "x", "1", "1", "skfusion"],
    ]


def test_write_run_accepts_numpy_scores_and_skips_empty_queries(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, {"q": {"a": np.float32(0.1)}, "empty": {}})
    assert read_trec_run(path) == {"q": {"a": float(np.float32(0.1))}}


def test_read_run_skips_blank_lines_and_keeps_order(tmp_path):
    path = write(
        tmp_path / "run.txt",
        "\nq2 Q0 b 1 0.5 t\r\n   \nq1 Q0 a 1 1e-3 t\nq2 Q0 a 2 +.25 t\n",
    )
    run = read_trec_run(path)
    assert run == {"q2": {"b": 0.5, "a": 0.25}, "q1": {"a": 0.001}}
    assert list(run) == ["q2", "q1"]
    assert list(run["q2"]) == ["b", "a"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("q Q0 a 1 0.5 t\nq Q0 b 2 0.4\n", r"run\.txt:2: expected 6 fields.*'q Q0 b 2 0\.4'"),
        ("q Q0 a 1 0.5 t extra\n", r"run\.txt:1: expected 6 fields .*got 7"),
        ("\n\nq Q0 a x 0.5 t\n", r"run\.txt:3: rank 'x' is not an integer"),
        ("q Q0 a 1.0 0.5 t\n", r"run\.txt:1: rank '1\.0' is not an integer"),
        ("q Q0 a 1 high t\n", r"run\.txt:1: score 'high' is not a finite number"),
        ("q Q0 a 1 nan t\n", r"run\.txt:1: score 'nan'"),
        ("q Q0 a 1 inf t\n", r"run\.txt:1: score 'inf'"),
        ("q Q0 a 1 1e999 t\n", r"run\.txt:1: score '1e999'"),
        ("q Q0 a 1 1_0 t\n", r"run\.txt:1: score '1_0'"),
        (
            "q Q0 a 1 0.5 t\nq Q0 b 2 0.4 t\nq Q0 a 3 0.3 t\n",
            r"run\.txt:3: duplicate document 'a' for query 'q' \(first on line 1\)",
        ),
    ],
)
def test_read_run_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_trec_run(write(tmp_path / "run.txt", text))


def test_read_run_rejects_bad_utf8(tmp_path):
    path = tmp_path / "run.txt"
    path.write_bytes(b"q Q0 a 1 0.5 t\nq Q0 \xff 2 0.4 t\n")
    with pytest.raises(ValueError, match=r"run\.txt:2: not valid UTF-8"):
        read_trec_run(path)


@pytest.mark.parametrize(
    ("run", "kwargs", "match"),
    [
        ({"q": {"a": 1.0}}, {"tag": "my run"}, "tag 'my run'"),
        ({"q": {"a": 1.0}}, {"tag": ""}, "tag ''"),
        ({"q 1": {"a": 1.0}}, {}, "query id 'q 1'"),
        ({"q": {"a\tb": 1.0}}, {}, r"document id \(query 'q'\) 'a\\tb'"),
        ({"q": {"": 1.0}}, {}, "document id"),
        ({"q": {"a": 1.0, "b": math.nan}}, {}, "query 'q', document 'b' is nan"),
        ({"q": {"a": -math.inf}}, {"scores": "rank"}, "query 'q', document 'a' is -inf"),
        ({"q": {"a": "x"}}, {}, "query 'q', document 'a' is not a number"),
        ({"q": {1: 1.0, "1": 2.0}}, {}, "document '1' twice"),
        ({"q": {"a": 1.0}}, {"scores": "ranks"}, "scores must be"),
    ],
)
def test_write_run_errors(tmp_path, run, kwargs, match):
    path = tmp_path / "run.txt"
    with pytest.raises(ValueError, match=match):
        write_trec_run(path, run, **kwargs)
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left behind


def test_write_is_atomic_on_failure(tmp_path):
    path = write(tmp_path / "run.txt", "old content\n")
    with pytest.raises(ValueError, match="nan"):
        write_trec_run(path, {"q": {"a": 1.0}, "r": {"b": math.nan}})
    assert path.read_text(encoding="utf-8") == "old content\n"
    assert os.listdir(tmp_path) == ["run.txt"]
    write_trec_run(path, {"q": {"a": 1.0}})
    assert read_trec_run(path) == {"q": {"a": 1.0}}
    assert os.listdir(tmp_path) == ["run.txt"]


# ---------------------------------------------------------------------------
# qrels files
# ---------------------------------------------------------------------------


def test_qrels_round_trip(tmp_path):
    path = tmp_path / "qrels.txt"
    write_trec_qrels(path, QRELS)
    assert read_trec_qrels(path) == QRELS
    assert lines(path)[0] == ["q1", "0", "d3", "2"]
    assert all(line[1] == "0" for line in lines(path))


def test_read_qrels_keeps_zero_and_negative_grades(tmp_path):
    path = write(tmp_path / "qrels", "q 0 a -1\n\nq 1 b 0\nq 0 c +3\n")
    assert read_trec_qrels(path) == {"q": {"a": -1, "b": 0, "c": 3}}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("q 0 a 1\nq 0 b\n", r"qrels:2: expected 4 fields.*'q 0 b'"),
        ("q 0 a 1 x\n", r"qrels:1: expected 4 fields .*got 5: 'q 0 a 1 x'"),
        ("q 0 a 1.5\n", r"qrels:1: grade '1\.5' is not an integer"),
        ("q 0 a yes\n", r"qrels:1: grade 'yes'"),
        ("q 0 a 1\nq 0 b 1\n\nq 0 a 2\n", r"qrels:4: duplicate judgment.*\(first on line 1\)"),
    ],
)
def test_read_qrels_errors(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_trec_qrels(write(tmp_path / "qrels", text))


@pytest.mark.parametrize(
    ("qrels", "match"),
    [
        ({"q": {"a": 1.5}}, "query 'q', document 'a' must be an integer"),
        ({"q x": {"a": 1}}, "query id 'q x'"),
        ({"q": {"a b": 1}}, "'a b'"),
    ],
)
def test_write_qrels_errors(tmp_path, qrels, match):
    with pytest.raises(ValueError, match=match):
        write_trec_qrels(tmp_path / "qrels", qrels)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# parity with pytrec_eval (the trec_eval library)
# ---------------------------------------------------------------------------


def test_pytrec_eval_parses_written_files_identically(tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    run_path, qrels_path = tmp_path / "run.txt", tmp_path / "qrels.txt"
    write_trec_run(run_path, RUN)
    write_trec_qrels(qrels_path, QRELS)
    with open(run_path, encoding="utf-8") as f:
        assert dict(pytrec_eval.parse_run(f)) == read_trec_run(run_path) == RUN
    with open(qrels_path, encoding="utf-8") as f:
        assert dict(pytrec_eval.parse_qrel(f)) == read_trec_qrels(qrels_path) == QRELS


def _ndcg10(gains: list[float], judged: list[float]) -> float:
    dcg = sum(g / math.log2(r + 2) for r, g in enumerate(gains[:10]))
    ideal = sorted((g for g in judged if g > 0), reverse=True)[:10]
    return dcg / sum(g / math.log2(r + 2) for r, g in enumerate(ideal))


def test_trec_eval_sees_the_written_order_with_rank_scores(tmp_path):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    qrels = {"q": {"a": 2, "b": 0, "c": 1, "d": 3}}
    # a and b tie, c and d tie; the written (stable) order is a, b, c, d.
    run = {"q": {"a": 1.0, "b": 1.0, "c": 0.5, "d": 0.5}}
    expected = _ndcg10([2, 0, 1, 3], [2, 0, 1, 3])
    # trec_eval's own tie rule (docno descending) gives b, a, d, c instead.
    tie_rule = _ndcg10([0, 2, 3, 1], [2, 0, 1, 3])
    assert not math.isclose(expected, tie_rule)

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    results = {}
    for mode in ("rank", "original"):
        path = tmp_path / f"{mode}.txt"
        write_trec_run(path, run, scores=mode)
        assert [line[2] for line in lines(path)] == ["a", "b", "c", "d"]
        with open(path, encoding="utf-8") as f:
            parsed = dict(pytrec_eval.parse_run(f))
        results[mode] = evaluator.evaluate(parsed)["q"]["ndcg_cut_10"]
    assert results["rank"] == pytest.approx(expected, abs=1e-12)
    assert results["original"] == pytest.approx(tie_rule, abs=1e-12)


# ---------------------------------------------------------------------------
# runs from estimator output
# ---------------------------------------------------------------------------


def test_run_from_topk_with_padding_and_minus_inf():
    indices = np.array([[2, 0, 1], [1, -1, -1], [0, 2, -1]])
    scores = np.array(
        [[0.9, 0.5, -np.inf], [0.3, -np.inf, np.nan], [-np.inf, -np.inf, 0.0]],
        dtype=np.float32,
    )
    with pytest.warns(UserWarning, match=r"Dropped 3 item\(s\) scored -inf"):
        run = run_from_topk(["q1", "q2", "q3"], ["a", "b", "c"], indices, scores)
    f32 = [float(np.float32(v)) for v in (0.9, 0.3)]
    assert run == {"q1": {"c": f32[0], "a": 0.5}, "q2": {"b": f32[1]}, "q3": {}}
    assert list(run["q1"]) == ["c", "a"]


def test_run_from_topk_default_scores_and_ids():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = run_from_topk(np.array([7, 8]), np.array([10, 20, 30]), [[2, 1], [-1, 0]])
    assert run == {"7": {"30": 2.0, "20": 1.0}, "8": {"10": 1.0}}


def test_run_from_topk_written_order_matches_columns(tmp_path):
    indices = np.array([[3, 1, 0, 2]])
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    run = run_from_topk(["q"], ["d0", "d1", "d2", "d3"], indices, scores)
    path = tmp_path / "run"
    write_trec_run(path, run, scores="rank")
    assert [line[2] for line in lines(path)] == ["d3", "d1", "d0", "d2"]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((["q"], ["a", "b"], [[0, 1]], [[0.1]]), r"scores has shape \(1, 1\)"),
        ((["q", "r"], ["a", "b"], [[0, 1]]), r"indices must have shape \(n_queries=2, k\)"),
        ((["q"], ["a", "b"], [0, 1]), "indices must have shape"),
        ((["q"], ["a", "b"], [[0, 2]]), r"indices\[0, 1\] = 2 is not a position"),
        ((["q"], ["a", "b"], [[0, -2]]), r"indices\[0, 1\] = -2"),
        ((["q"], ["a", "b"], [[0.0, 1.0]]), "integer item positions"),
        ((["q"], ["a", "b"], [[1, 1]]), "query 'q' give the same item twice"),
        ((["q"], ["a", "b"], [[0, 1]], [[np.nan, 0.1]]), "query 'q' contain NaN"),
        ((["q"], ["a", "b"], [[0, 1]], [[np.inf, 0.1]]), r"query 'q' contain \+inf"),
        ((["q", "q"], ["a"], [[0], [0]]), "query_ids holds 'q' twice"),
        ((["q"], ["a", 1, "1"], [[0]]), "item_ids holds '1' twice"),
    ],
)
def test_run_from_topk_errors(args, match):
    with pytest.raises(ValueError, match=match):
        run_from_topk(*args)


def test_run_from_scores_ties_and_k():
    scores = np.array(
        [
            [0.5, 0.9, 0.5, 0.1, 0.9],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    )
    run = run_from_scores(["q1", "q2"], list("abcde"), scores, k=3)
    assert list(run["q1"].items()) == [("b", 0.9), ("e", 0.9), ("a", 0.5)]
    assert list(run["q2"]) == ["a", "b", "c"]
    # default k covers a small catalog entirely
    full = run_from_scores(["q1", "q2"], list("abcde"), scores)
    assert list(full["q1"]) == ["b", "e", "a", "c", "d"]
    assert len(full["q2"]) == 5
    # integer matrices work too (no unsigned wrap-around in the negation)
    assert list(run_from_scores(["q"], list("abc"), np.array([[1, 3, 2]], np.uint8), k=2)["q"]) == [
        "b",
        "c",
    ]


def test_run_from_scores_drops_minus_inf():
    with pytest.warns(UserWarning, match=r"Dropped 1 item"):
        run = run_from_scores(["q"], list("abc"), [[-np.inf, 0.2, 0.1]], k=3)
    assert run == {"q": {"b": 0.2, "c": 0.1}}


def test_run_from_scores_agrees_with_kneighbors_order(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(6, 30)).astype(np.float64)  # many ties
    run = run_from_scores([f"q{i}" for i in range(6)], [f"d{j}" for j in range(30)], scores, k=10)
    for i in range(6):
        expected = np.lexsort((np.arange(30), -scores[i]))[:10]
        assert list(run[f"q{i}"]) == [f"d{j}" for j in expected]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((["q"], ["a", "b"], [[0.1, np.nan]]), {}, "query 'q' contain NaN"),
        ((["q", "r"], ["a", "b"], [[0.1, 0.2], [np.nan, 0]]), {}, "query 'r' contain NaN"),
        ((["q"], ["a", "b"], [[0.1, 0.2, 0.3]]), {}, r"expected \(n_queries, n_items\) = \(1, 2\)"),
        ((["q"], ["a"], [[0.1]]), {"k": 0}, "k must be a positive int"),
        ((["q"], ["a"], [[0.1]]), {"k": 2.5}, "k must be a positive int"),
        ((["q"], ["a"], sp.csr_matrix([[0.1]])), {}, "dense array"),
    ],
)
def test_run_from_scores_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_from_scores(*args, **kwargs)


# ---------------------------------------------------------------------------
# qrels <-> matrices
# ---------------------------------------------------------------------------


def test_qrels_to_matrix():
    qrels = {"q2": {"b": 2, "a": 0, "c": -1}, 1: {"c": 1}}
    matrix = qrels_to_matrix(qrels, ["1", "q2", "q3"], ["a", "b", "c"])
    assert sp.issparse(matrix)
    assert matrix.format == "csr"
    assert matrix.dtype == np.float64
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix.toarray(), [[0, 0, 1], [0, 2, 0], [0, 0, 0]])
    assert matrix.nnz == 2  # grades <= 0 are not stored


def test_qrels_to_matrix_unknown_ids():
    qrels = {"q": {"a": 1, "zz": 2}, "nope": {"a": 1, "b": 1}}
    with pytest.raises(
        ValueError,
        match=r"1 query id\(s\).*1 item id\(s\).*3 judgment\(s\); the first is item id 'zz'",
    ):
        qrels_to_matrix(qrels, ["q"], ["a", "b"])
    with pytest.raises(ValueError, match="the first is query id 'nope'"):
        qrels_to_matrix({"nope": {"a": 1}}, ["q"], ["a"])
    with pytest.warns(UserWarning, match=r"in 3 judgment\(s\)"):
        matrix = qrels_to_matrix(qrels, ["q"], ["a", "b"], unknown="ignore")
    np.testing.assert_array_equal(matrix.toarray(), [[1, 0]])


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (({"q": {"a": 1}}, ["q", "q"], ["a"]), {}, "query_ids holds 'q' twice"),
        (({"q": {"a": 1}}, ["q"], ["a", "b", "a"]), {}, r"item_ids holds 'a' twice \(positions 0"),
        (({"q": {"a": 1.5}}, ["q"], ["a"]), {}, "query 'q', document 'a' must be an integer"),
        (({"q": {"a": 1}}, ["q"], ["a"]), {"unknown": "skip"}, "unknown must be"),
        (({"1": {"a": 1}, 1: {"b": 1}}, ["1"], ["a", "b"]), {}, "query '1' twice"),
    ],
)
def test_qrels_to_matrix_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        qrels_to_matrix(*args, **kwargs)


def test_matrix_to_qrels_inverse():
    dense = np.array([[0, 3, 0, 1], [0, 0, 0, 0], [2, 0, 0, 0]], dtype=np.float64)
    query_ids, item_ids = ["q1", "q2", "q3"], ["a", "b", "c", "d"]
    qrels = matrix_to_qrels(sp.csr_matrix(dense), query_ids, item_ids)
    assert qrels == {"q1": {"b": 3, "d": 1}, "q3": {"a": 2}}
    assert all(type(v) is int for docs in qrels.values() for v in docs.values())
    assert matrix_to_qrels(dense, query_ids, item_ids) == qrels
    back = qrels_to_matrix(qrels, query_ids, item_ids)
    np.testing.assert_array_equal(back.toarray(), dense)
    # explicit zeros and unsorted csc input
    m = sp.csc_matrix(([0.0, 1.0], ([0, 0], [1, 0])), shape=(1, 2))
    assert matrix_to_qrels(m, ["q"], ["a", "b"]) == {"q": {"a": 1}}


@pytest.mark.parametrize(
    ("relevance", "match"),
    [
        (np.array([[0, 1.5]]), r"gain of query 'q', item 'b' is 1\.5"),
        (sp.csr_matrix(np.array([[np.inf, 0]])), "item 'a' is inf"),
        (np.zeros((2, 2)), r"expected \(n_queries, n_items\) = \(1, 2\)"),
        (np.zeros(2), "must be 2-D"),
    ],
)
def test_matrix_to_qrels_errors(relevance, match):
    with pytest.raises(ValueError, match=match):
        matrix_to_qrels(relevance, ["q"], ["a", "b"])


# ---------------------------------------------------------------------------
# BEIR
# ---------------------------------------------------------------------------

ITEM_IDS = ["doc-1", "ドキュメント", "d 3"]
CORPUS = {
    "title": ["First", "", 'Third "quoted"'],
    "text": ["Some text.", "日本語のテキスト\nwith a newline", "t\tab"],
    "lang": ["en", "ja", ""],
}
QUERY_IDS = ["q1", "q-é", "unjudged"]
QUERIES = ["first query", "deuxième requête", "never judged"]
BEIR_QRELS = {"q-é": {"ドキュメント": 2, "d 3": 0}, "q1": {"doc-1": 1}}


def save_small(path: Path, **changes) -> None:
    kwargs = {
        "item_ids": ITEM_IDS,
        "corpus": CORPUS,
        "query_ids": QUERY_IDS,
        "queries": QUERIES,
        "qrels": BEIR_QRELS,
    }
    kwargs.update(changes)
    save_beir(path, **kwargs)


def test_beir_round_trip(tmp_path):
    root = tmp_path / "ds"
    save_small(root)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "corpus.jsonl",
        "qrels",
        "qrels/test.tsv",
        "queries.jsonl",
    ]
    data = load_beir(root)
    assert data.item_ids == ITEM_IDS
    assert data.corpus == CORPUS
    assert list(data.corpus) == ["title", "text", "lang"]
    # only judged queries, in queries.jsonl order (not qrels order)
    assert data.query_ids == ["q1", "q-é"]
    assert data.queries == ["first query", "deuxième requête"]
    assert data.qrels == BEIR_QRELS
    np.testing.assert_array_equal(data.relevance.toarray(), [[1, 0, 0], [0, 2, 0]])
    # the files are what BEIR expects
    first = json.loads((root / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first == {"_id": "doc-1", "title": "First", "text": "Some text.", "lang": "en"}
    assert (root / "corpus.jsonl").read_text(encoding="utf-8").count("ドキュメント") == 1
    tsv = (root / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[:2] == ["query-id\tcorpus-id\tscore", "q-é\tドキュメント\t2"]


def test_beir_split_and_missing_title(tmp_path):
    save_small(tmp_path, corpus={"text": CORPUS["text"]}, split="dev")
    assert (tmp_path / "qrels" / "dev.tsv").exists()
    data = load_beir(tmp_path, split="dev")
    assert data.corpus == {"title": ["", "", ""], "text": CORPUS["text"]}
    with pytest.raises(FileNotFoundError):
        load_beir(tmp_path)  # no test split


def test_load_beir_hand_written_files(tmp_path):
    write(
        tmp_path / "corpus.jsonl",
        '{"_id": "a", "title": "T", "text": "x", "metadata": {"url": "u"}}\n'
        "\n"
        '{"_id": 2, "text": "y", "extra": "e", "year": 1999, "title": null}\n',
    )
    write(tmp_path / "queries.jsonl", '{"_id": "q", "text": "hello", "metadata": {}}\n')
    (tmp_path / "qrels").mkdir()
    write(tmp_path / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq\t2\t1\n\n")
    data = load_beir(tmp_path)
    assert data.item_ids == ["a", "2"]
    assert data.corpus == {"title": ["T", ""], "text": ["x", "y"], "extra": ["", "e"]}
    assert data.qrels == {"q": {"2": 1}}


def _beir_files(root: Path, corpus: str, queries: str, qrels: str) -> Path:
    write(root / "corpus.jsonl", corpus)
    write(root / "queries.jsonl", queries)
    (root / "qrels").mkdir(exist_ok=True)
    write(root / "qrels" / "test.tsv", qrels)
    return root


GOOD_CORPUS = '{"_id": "a", "title": "", "text": "x"}\n{"_id": "b", "title": "", "text": "y"}\n'
GOOD_QUERIES = '{"_id": "q", "text": "hello"}\n'
GOOD_QRELS = "query-id\tcorpus-id\tscore\nq\ta\t1\n"


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "match"),
    [
        (GOOD_CORPUS + '{"_id": "c", "text": \n', GOOD_QUERIES, GOOD_QRELS,
         r"corpus\.jsonl:3: malformed JSON"),
        ('["a"]\n', GOOD_QUERIES, GOOD_QRELS, r"corpus\.jsonl:1: expected a JSON object"),
        (GOOD_CORPUS + '{"title": "", "text": "z"}\n', GOOD_QUERIES, GOOD_QRELS,
         r"corpus\.jsonl:3: the object has no '_id'"),
        ('{"_id": null, "text": "z"}\n', GOOD_QUERIES, GOOD_QRELS,
         r"corpus\.jsonl:1: '_id' must be a string"),
        (GOOD_CORPUS + '{"_id": "a", "text": "z"}\n', GOOD_QUERIES, GOOD_QRELS,
         r"corpus\.jsonl:3: duplicate '_id' 'a' \(first at .*corpus\.jsonl:1\)"),
        (GOOD_CORPUS, GOOD_QUERIES + '{"_id": "q", "text": "again"}\n', GOOD_QRELS,
         r"queries\.jsonl:2: duplicate '_id' 'q'"),
        (GOOD_CORPUS, '{"_id": "q"}\n', GOOD_QRELS, r"queries\.jsonl:1: query 'q' has no string"),
        (GOOD_CORPUS, GOOD_QUERIES, "q\ta\t1\n", r"test\.tsv:1: expected the header"),
        (GOOD_CORPUS, GOOD_QUERIES, "", r"test\.tsv:1: empty file"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q\tb\n", r"test\.tsv:3: expected 3 tab-sep"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q b 1\n", r"test\.tsv:3: expected 3"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q\tb\t0.5\n",
         r"test\.tsv:3: score '0\.5' is not an integer"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "\nz\tb\t1\n",
         r"test\.tsv:4: query id 'z' is not in queries\.jsonl"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q\tzz\t1\n",
         r"test\.tsv:3: corpus id 'zz' is not in corpus\.jsonl"),
        (GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS + "q\tb\t1\nq\ta\t2\n",
         r"test\.tsv:4: duplicate judgment .*\(first on line 2\)"),
    ],
)  # fmt: skip
def test_load_beir_errors(tmp_path, corpus, queries, qrels, match):
    root = _beir_files(tmp_path, corpus, queries, qrels)
    with pytest.raises(ValueError, match=match):
        load_beir(root)


def test_load_beir_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split must be a plain file name"):
        load_beir(tmp_path, split="../test")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"item_ids": ["a", "b", "a"]}, "item_ids holds 'a' twice"),
        ({"corpus": {"text": ["x"]}}, r"corpus\['text'\] has 1 entries for 3 ids"),
        ({"corpus": {"text": ["x", None, "z"]}}, r"corpus\['text'\] of 'ドキュメント' is not"),
        ({"corpus": {"_id": ["x", "y", "z"]}}, "other than '_id'"),
        ({"queries": ["only one"]}, "queries has 1 entries for 3 ids"),
        ({"qrels": {"q9": {"doc-1": 1}}}, "query id 'q9', which is not in query_ids"),
        ({"qrels": {"q1": {"zz": 1}}}, "item id 'zz', which is not in item_ids"),
        ({"qrels": {"q1": {"doc-1": 1.0}}}, "must be an integer"),
        ({"split": "a/b"}, "split must be"),
    ],
)
def test_save_beir_errors(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        save_small(tmp_path / "ds", **changes)
    assert not (tmp_path / "ds").exists()  # checked before anything is written


def test_cranfield_through_beir(tmp_path):
    cran = load_cranfield()
    qrels = matrix_to_qrels(cran.relevance, cran.query_ids, cran.ids)
    assert sum(len(docs) for docs in qrels.values()) == cran.relevance.nnz
    corpus = {
        "title": cran.title,
        "text": cran.abstract,
        "authors": cran.authors,
        "bibliography": cran.bibliography,
    }
    save_beir(
        tmp_path,
        item_ids=cran.ids,
        corpus=corpus,
        query_ids=cran.query_ids,
        queries=cran.queries,
        qrels=qrels,
    )
    data = load_beir(tmp_path)
    assert data.item_ids == [str(i) for i in cran.ids]
    assert data.corpus == corpus
    assert data.query_ids == cran.query_ids  # every query is judged
    assert data.queries == cran.queries
    assert data.qrels == qrels
    assert data.relevance.shape == (225, 1400)
    assert (data.relevance != cran.relevance).nnz == 0
    np.testing.assert_array_equal(data.relevance.toarray(), cran.relevance.toarray())

    # the same judgments through a trec_eval qrels file
    write_trec_qrels(tmp_path / "cran.qrels", qrels)
    matrix = qrels_to_matrix(read_trec_qrels(tmp_path / "cran.qrels"), cran.query_ids, cran.ids)
    assert (matrix != cran.relevance).nnz == 0


def test_byte_order_mark_is_ignored(tmp_path):
    run_path = tmp_path / "run.txt"
    run_path.write_bytes("\ufeffq Q0 a 1 0.5 t\n".encode())
    assert read_trec_run(run_path) == {"q": {"a": 0.5}}
    (tmp_path / "ds").mkdir()
    root = _beir_files(tmp_path / "ds", "", GOOD_QUERIES, GOOD_QRELS)
    (root / "corpus.jsonl").write_bytes(("\ufeff" + GOOD_CORPUS).encode())
    assert load_beir(root).item_ids == ["a", "b"]


def test_estimator_output_to_trec_eval(tmp_path):
    """kneighbors -> run file -> trec_eval gives the package's own nDCG@10."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from skfusion import Catalog, HybridFusion

    rng = np.random.default_rng(3)
    n_items, n_queries, dim = 40, 6, 8
    components = {
        name: rng.normal(size=(n_items, dim)).astype(np.float32) for name in ("title", "image")
    }
    # a duplicated item makes exact score ties
    for matrix in components.values():
        matrix[7] = matrix[3]
    catalog = Catalog.from_arrays(
        components, ids=[f"item{i}" for i in range(n_items)], normalize=True
    )
    queries = rng.normal(size=(n_queries, dim)).astype(np.float32)
    queries[0] = components["title"][3] + components["image"][3]  # items 3 and 7 on top
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    query_ids = [f"Q{i}" for i in range(n_queries)]
    dense = np.ceil(rng.random((n_queries, n_items)) * 3) * (rng.random((n_queries, n_items)) < 0.2)
    dense[:, 3], dense[:, 7] = 2.0, 0.0  # the tie matters: 3 is relevant, its twin 7 is not
    relevance = sp.csr_matrix(dense)

    scores, indices = HybridFusion(catalog).fit().kneighbors(queries, n_neighbors=20)
    run = run_from_topk(query_ids, catalog.ids, indices, scores)
    qrels = matrix_to_qrels(relevance, query_ids, catalog.ids)
    write_trec_run(tmp_path / "run", run, scores="rank")
    write_trec_qrels(tmp_path / "qrels", qrels)
    with open(tmp_path / "run", encoding="utf-8") as f:
        parsed_run = dict(pytrec_eval.parse_run(f))
    with open(tmp_path / "qrels", encoding="utf-8") as f:
        parsed_qrels = dict(pytrec_eval.parse_qrel(f))
    result = pytrec_eval.RelevanceEvaluator(parsed_qrels, {"ndcg_cut.10"}).evaluate(parsed_run)
    ours = [_ndcg10(list(dense[q, indices[q]]), list(dense[q])) for q in range(n_queries)]
    theirs = [result[qid]["ndcg_cut_10"] for qid in query_ids]
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-12)
