"""Tests of the bundled Cranfield 1400 collection and its parser.

Facts checked against the data files: 1,400 documents, 225 queries, and
1,837 judgment lines in ``cranqrel`` (its last line has no trailing
newline, so ``wc -l`` says 1,836). No (query, document) pair is judged
twice; the loader would raise on a duplicate. 225 lines, exactly one per
query, carry code ``-1`` (no interest): they are left out of the matrix,
which holds the other 1,612 judgments. Every query keeps at least one
graded judgment.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils import Bunch

from skfusion.datasets import load_cranfield
from skfusion.datasets._cranfield import _read_cranfield

N_DOCS = 1400
N_QUERIES = 225
N_LINES = 1837
N_NO_INTEREST = 225


@pytest.fixture(scope="module")
def cran() -> Bunch:
    return load_cranfield()


def _qrel_lines() -> list[list[int]]:
    text = (resources.files("skfusion.data.cranfield") / "cranqrel").read_text(encoding="latin-1")
    return [[int(part) for part in line.split()] for line in text.split("\n") if line.strip()]


def test_sizes(cran: Bunch) -> None:
    assert cran.ids == [str(i) for i in range(1, N_DOCS + 1)]
    for field in ("title", "abstract", "authors", "bibliography"):
        assert len(cran[field]) == N_DOCS
        assert all(isinstance(value, str) for value in cran[field])
        assert all(" ".join(value.split()) == value for value in cran[field])
    assert len(cran.queries) == N_QUERIES
    assert len(cran.query_ids) == N_QUERIES
    assert all(cran.queries)
    assert cran.query_ids[:4] == ["001", "002", "004", "008"]
    assert cran.query_ids[-1] == "365"
    assert "Cleverdon" in cran.DESCR


def test_first_document(cran: Bunch) -> None:
    title = "experimental investigation of the aerodynamics of a wing in a slipstream"
    assert cran.title[0] == title + " ."
    assert cran.abstract[0].startswith(title)
    assert cran.authors[0] == "brenckman,m."
    assert cran.bibliography[0] == "j. ae. scs. 25, 1958, 324."
    assert cran.queries[0].startswith("what similarity laws must be obeyed")


def test_relevance_matrix(cran: Bunch) -> None:
    rel = cran.relevance
    assert sp.issparse(rel)
    assert rel.format == "csr"
    assert rel.shape == (N_QUERIES, N_DOCS)
    assert rel.dtype == np.float64
    assert set(rel.data.tolist()) == {1.0, 2.0, 3.0, 4.0}


def test_judgment_counts_match_file(cran: Bunch) -> None:
    lines = _qrel_lines()
    assert len(lines) == N_LINES
    pairs = {(query, doc) for query, doc, _ in lines}
    assert len(pairs) == len(lines)  # no duplicate pairs in the file
    no_interest = [line for line in lines if line[2] == -1]
    assert len(no_interest) == N_NO_INTEREST
    assert sorted(query for query, _, _ in no_interest) == list(range(1, N_QUERIES + 1))
    assert cran.relevance.nnz == N_LINES - N_NO_INTEREST == 1612
    for query, doc, code in lines:
        expected = 0.0 if code == -1 else 5.0 - code
        assert cran.relevance[query - 1, doc - 1] == expected


def test_every_query_has_a_graded_judgment(cran: Bunch) -> None:
    assert (cran.relevance.getnnz(axis=1) >= 1).all()


def test_repeated_fields_are_joined(cran: Bunch) -> None:
    # Document 240 has a stray second ".A" inside its abstract.
    assert cran.authors[239].startswith("dean r. chapman application to turbulent")


DOCS = """.I 1
.T
first  title
 continued .
.A
smith,j.
.B
.W
first abstract .
.I 2
.W
second
abstract .
"""
QUERIES = """.I 007
.W
a query
 on two lines .
.I 010
.W
another query .
"""


def _write(directory: Path, docs: str = DOCS, queries: str = QUERIES, qrels: str = "") -> Path:
    (directory / "cran.all.1400").write_text(docs, encoding="latin-1")
    (directory / "cran.qry").write_text(queries, encoding="latin-1")
    (directory / "cranqrel").write_text(qrels, encoding="latin-1")
    return directory


def test_synthetic_collection(tmp_path: Path) -> None:
    data = _read_cranfield(_write(tmp_path, qrels="1 2 1\n2 1 4 \n2 2 -1\n"))
    assert data["ids"] == ["1", "2"]
    assert data["title"] == ["first title continued .", ""]
    assert data["authors"] == ["smith,j.", ""]
    assert data["bibliography"] == ["", ""]
    assert data["abstract"] == ["first abstract .", "second abstract ."]
    assert data["queries"] == ["a query on two lines .", "another query ."]
    assert data["query_ids"] == ["007", "010"]
    assert data["relevance"].toarray().tolist() == [[0.0, 4.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("docs", "match"),
    [
        ("stray text\n" + DOCS, r"cran\.all\.1400, line 1: text before '\.I'"),
        (".I 1\nno marker\n", r"line 2: text before a field marker"),
        (".I\n.T\nx\n", r"line 1: '\.I' must be followed by a number"),
        (".I 1\n.X\nx\n", r"line 2: unexpected marker '\.X'"),
        (".I 1\n.T title on marker line\n", r"line 2: unexpected marker"),
        (".T\nx\n", r"line 1: field '\.T' before '\.I'"),
        (DOCS + ".I 2\n.T\nx\n", r"duplicate document id 2"),
    ],
)
def test_malformed_documents(tmp_path: Path, docs: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _read_cranfield(_write(tmp_path, docs=docs))


def test_malformed_queries(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cran\.qry, line 3: unexpected marker '\.T'"):
        _read_cranfield(_write(tmp_path, queries=".I 1\n.W\n.T\nx\n"))


@pytest.mark.parametrize(
    ("qrels", "match"),
    [
        ("1 1 1\n3 1 2\n", r"cranqrel, line 2: unknown query 3"),
        ("1 1 1\n\n1 3 2\n", r"cranqrel, line 3: unknown document 3"),
        ("1 1 5\n", r"line 1: relevance code 5"),
        ("1 1 0\n", r"line 1: relevance code 0"),
        ("1 1\n", r"line 1: expected three integers"),
        ("1 a 2\n", r"line 1: expected three integers"),
        ("1 1 2\n2 1 3\n1 1 -1\n", r"line 3: duplicate judgment of query 1 .*line 1"),
    ],
)
def test_malformed_judgments(tmp_path: Path, qrels: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _read_cranfield(_write(tmp_path, qrels=qrels))
