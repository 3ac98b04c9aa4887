"""`skfusion demo`: the weight grid, the report folder's contract, and real-model runs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skfusion import cli
from skfusion.demo import run_demo
from skfusion.fusion import simplex_grid
from skfusion.io import read_trec_qrels, read_trec_run

pytrec_eval = pytest.importorskip("pytrec_eval")

STRATEGIES = [
    "agreement-cv",
    "agreement",
    "average",
    "weighted",
    "hybrid",
    "combsum",
    "rrf",
    "title-only",
    "abstract-only",
    "authors-only",
    "bibliography-only",
    "bm25",
]


def test_simplex_grid() -> None:
    grid = simplex_grid(4, 0.1)
    assert grid.shape == (math.comb(13, 3), 4)  # 286 weight vectors
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert len({tuple(np.round(r, 9)) for r in grid}) == len(grid)
    assert np.all(grid >= 0)
    np.testing.assert_allclose(
        simplex_grid(3, 0.5),
        [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 1, 0], [0, 0.5, 0.5], [0, 0, 1]],
    )
    with pytest.raises(ValueError, match="whole number"):
        simplex_grid(3, 0.3)


@pytest.fixture(scope="module")
def tiny_report(tiny_clip_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo") / "report"
    argv = ["demo", "--clip", str(tiny_clip_dir), "--device", "cpu", "--out", str(out)]
    argv += ["--folds", "3", "--inner-folds", "2", "--grid-step", "0.5", "--resamples", "300"]
    argv += ["--no-progress"]
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main(argv)
    return {"code": code, "out": out, "stdout": buffer.getvalue()}


def test_demo_command_prints_the_table(tiny_report: dict) -> None:
    assert tiny_report["code"] == 0
    text = tiny_report["stdout"]
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("strategy"))
    assert "nDCG@10" in lines[header]
    assert "Recall@10" in lines[header]
    assert "MRR" in lines[header]
    rows = lines[header + 2 : header + 2 + len(STRATEGIES)]
    assert [r.split()[0] for r in rows] == STRATEGIES
    assert rows[STRATEGIES.index("hybrid")].count("baseline") == 3
    assert "Holm-corrected over 11 strategies" in text
    assert "Dense + lexical ('agreement-cv') against BM25 alone" in text
    # The tiny CLIP has a 16-token context; the truncation warning becomes one note.
    assert "note:" in text
    assert sum("truncated" in line for line in lines) == 1
    # The command measures itself: wall clock and CPU time of the whole run.
    timing = next(line for line in lines if line.startswith("Time: embedding "))
    assert re.search(r"the whole command \d+ s wall clock and \d+ s of CPU", timing)


def test_results_json_contract(tiny_report: dict) -> None:
    res = json.loads((tiny_report["out"] / "results.json").read_text())
    tests = res["lexical_tests"]
    assert [t["metric"] for t in tests] == [
        m for m in ("ndcg@10", "recall@10", "mrr", "recall@100") for _ in range(2)
    ]
    assert {t["strategy"] for t in tests} == {"agreement-cv"}
    assert tests[0]["versus"] == "bm25"
    assert tests[1]["versus"] not in ("bm25", "agreement-cv")
    for t in tests:
        assert t["mean"] - t["versus_mean"] == pytest.approx(t["mean_difference"], abs=1e-12)
        assert 0.0 < t["p_uncorrected"] <= t["p_value"] <= 1.0
    assert res["dataset"] == "cranfield"
    assert res["n_items"] == 1400
    assert res["n_queries"] == 225
    assert res["components"] == ["title", "abstract", "authors", "bibliography"]
    assert list(res["strategies"]) == STRATEGIES
    for name, metrics in res["strategies"].items():
        assert list(metrics) == ["ndcg@10", "recall@10", "mrr"]
        for m in metrics.values():
            lo, hi = m["ci"]
            assert 0.0 <= lo <= m["mean"] <= hi <= 1.0
            if name == "hybrid":
                assert m["p_value"] is None
            else:
                assert 0.0 < m["p_value"] <= 1.0
                assert m["p_value"] >= m["p_value_uncorrected"]  # Holm never lowers a p-value
    folds = res["tuning"]["weighted"]
    assert len(folds) == 3
    test_ids = [q for f in folds for q in f["test_query_ids"]]
    assert len(test_ids) == len(set(test_ids)) == 225  # each query held out exactly once
    for f in folds:
        assert f["n_train"] + f["n_test"] == 225
        assert set(f["params"]["weights"]) == set(res["components"])
        assert sum(f["params"]["weights"].values()) == pytest.approx(1.0)
    assert res["settings"]["grid_points"] == math.comb(5, 3)
    assert res["settings"]["embeddings"] == "computed"  # --clip embeds afresh
    timings = res["timings_s"]
    assert set(timings) == {"embed", "evaluate", "landscape", "wall", "cpu"}
    assert timings["wall"] >= timings["embed"] + timings["evaluate"] + timings["landscape"] - 0.01
    assert timings["cpu"] > 0
    chosen = res["tuning"]["agreement-cv"]
    assert [f["test_query_ids"] for f in chosen] == [f["test_query_ids"] for f in folds]
    for f in chosen:
        assert f["params"]["prior"] in (0.25, 0.5, 0.75, 1.0)
        assert set(f["params"]["prior_weights"]) == set(res["components"])
        assert sum(f["params"]["prior_weights"].values()) == pytest.approx(1.0)


def test_per_query_csv_and_trec_files_agree_with_trec_eval(tiny_report: dict) -> None:
    out = tiny_report["out"]
    frame = pd.read_csv(out / "per_query.csv", dtype={"query_id": str})
    assert frame.shape == (len(STRATEGIES) * 225, 5)
    res = json.loads((out / "results.json").read_text())
    qrels = read_trec_qrels(out / "qrels.txt")
    assert len(qrels) == 225
    assert sum(map(len, qrels.values())) == 1612
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"})
    for name in STRATEGIES:
        run = read_trec_run(out / "runs" / f"{name}.txt.gz")
        assert all(len(docs) == 1000 for docs in run.values())
        ref = evaluator.evaluate(run)
        ours = frame[frame["strategy"] == name].set_index("query_id")
        for qid, values in ref.items():
            assert ours.loc[qid, "ndcg@10"] == pytest.approx(values["ndcg_cut_10"], abs=1e-9)
            assert ours.loc[qid, "recall@10"] == pytest.approx(values["recall_10"], abs=1e-9)
        assert res["strategies"][name]["ndcg@10"]["mean"] == pytest.approx(ours["ndcg@10"].mean())


def test_plots_are_pngs(tiny_report: dict) -> None:
    for name in ("strategies.png", "simplex.png"):
        data = (tiny_report["out"] / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000


def test_demo_with_the_real_text_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """all-MiniLM-L6-v2 on Cranfield (its bundled embeddings): fields rank as their content
    suggests, and the collection is not embedded again unless asked."""
    from skfusion.demo import _cranfield

    calls: list[dict] = []

    def embed(**kwargs: object) -> tuple:
        calls.append(kwargs)
        return _cranfield.load_embedded()  # what the default model computes, rounded

    monkeypatch.setattr(_cranfield, "embed_cranfield", embed)
    small = {"n_folds": 3, "inner_folds": 2, "grid_step": 0.5, "n_resamples": 300}
    result = run_demo(device="cpu", **small)
    assert calls == []
    assert result.settings["embeddings"].startswith("bundled")
    assert result.timings["embed"] == 0
    assert result.timings["wall"] >= result.timings["evaluate"] > 0
    assert result.timings["cpu"] > 0
    again = run_demo(device="cpu", reembed=True, **small)
    assert calls == [{"mode": "text", "model": None, "device": "cpu", "show_progress": False}]
    assert again.settings["embeddings"] == "computed"
    table_again = again.benchmark.table.set_index(["strategy", "metric"])["mean"]
    table = result.benchmark.table.set_index(["strategy", "metric"])["mean"]
    # Measured with the full demo: abstract-only 0.374, authors-only 0.006 nDCG@10.
    assert table[("abstract-only", "ndcg@10")] > 0.3
    assert table[("authors-only", "ndcg@10")] < 0.05
    assert table[("hybrid", "ndcg@10")] > table[("title-only", "ndcg@10")]
    assert result.simplex["components"] == ["title", "abstract", "bibliography"]
    assert result.encoder_id is not None
    assert result.encoder_id.startswith("text:")
    assert table_again.equals(table)


def test_reembed_option() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["demo", "--reembed"]).reembed is True
    assert parser.parse_args(["demo"]).reembed is False
