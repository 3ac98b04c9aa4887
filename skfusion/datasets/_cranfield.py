"""Loader of the bundled Cranfield 1400 test collection."""

from __future__ import annotations

import re
import sys
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["load_cranfield"]

_DATA_PACKAGE = "skfusion.data.cranfield"
_DOCS_FILE = "cran.all.1400"
_QUERIES_FILE = "cran.qry"
_QRELS_FILE = "cranqrel"
_ENCODING = "latin-1"

#: Document fields: marker letter -> Bunch key.
_DOC_FIELDS = {"T": "title", "A": "authors", "B": "bibliography", "W": "abstract"}
_QUERY_FIELDS = {"W": "text"}

#: Cleverdon's codes 1 (complete answer) .. 4 (minimum interest).
_GRADED_CODES = frozenset({1, 2, 3, 4})
#: Code of the one "no interest" line per query: kept out of the matrix.
_NO_INTEREST_CODE = -1

# A line starting with "." and a capital letter is a field marker. Files are
# split on "\n" only: str.splitlines would also split on Latin-1 "\x85".
_MARKER = re.compile(r"^\.([A-Z])(.*)$")


def _normalise(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def _parse_records(text: str, fields: dict[str, str], filename: str) -> list[dict[str, str]]:
    """Parse a SMART-format file into one dict per ``.I`` record.

    Every record gets the key ``"id"`` plus every key of ``fields`` (empty
    string when the field is missing). A repeated field marker appends its
    text to the earlier text of that field.
    """
    records: list[dict[str, str]] = []
    chunks: dict[str, list[str]] = {}
    current: list[str] | None = None
    record_id = ""

    def finish() -> None:
        record = {"id": record_id}
        for key in fields.values():
            record[key] = _normalise(chunks.get(key, []))
        records.append(record)

    started = False
    for number, line in enumerate(text.split("\n"), start=1):
        match = _MARKER.match(line)
        if match is None:
            if current is not None:
                current.append(line)
            elif line.strip():
                where = "a field marker" if started else "'.I'"
                raise ValueError(
                    f"{filename}, line {number}: text before {where}: {line.strip()[:40]!r}"
                )
            continue
        letter, rest = match.group(1), match.group(2).strip()
        if letter == "I":
            if started:
                finish()
            if not re.fullmatch(r"\d+", rest):
                raise ValueError(
                    f"{filename}, line {number}: '.I' must be followed by a number, "
                    f"got {line.strip()!r}"
                )
            started = True
            record_id = rest
            chunks = {}
            current = None
        elif letter in fields and not rest:
            if not started:
                raise ValueError(f"{filename}, line {number}: field {line.strip()!r} before '.I'")
            current = chunks.setdefault(fields[letter], [])
        else:
            allowed = ", ".join(f"'.{key}'" for key in ("I", *fields))
            raise ValueError(
                f"{filename}, line {number}: unexpected marker {line.strip()!r} "
                f"(expected one of {allowed}, the field markers alone on their line)"
            )
    if started:
        finish()
    return records


def _read_relevance(
    text: str, n_queries: int, doc_positions: dict[int, int], filename: str
) -> sp.csr_matrix:
    """Parse ``query doc code`` lines into a (n_queries, n_docs) gain matrix."""
    rows: list[int] = []
    cols: list[int] = []
    gains: list[float] = []
    seen: dict[tuple[int, int], int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not all(re.fullmatch(r"-?\d+", part) for part in parts):
            raise ValueError(
                f"{filename}, line {number}: expected three integers 'query doc code', "
                f"got {line.strip()!r}"
            )
        query, doc, code = (int(part) for part in parts)
        if not 1 <= query <= n_queries:
            raise ValueError(
                f"{filename}, line {number}: unknown query {query} "
                f"(queries are numbered 1..{n_queries} by position)"
            )
        if doc not in doc_positions:
            raise ValueError(f"{filename}, line {number}: unknown document {doc}")
        if code != _NO_INTEREST_CODE and code not in _GRADED_CODES:
            raise ValueError(
                f"{filename}, line {number}: relevance code {code} is not one of "
                f"1, 2, 3, 4 or {_NO_INTEREST_CODE}"
            )
        if (query, doc) in seen:
            raise ValueError(
                f"{filename}, line {number}: duplicate judgment of query {query} and "
                f"document {doc} (first on line {seen[query, doc]})"
            )
        seen[query, doc] = number
        if code == _NO_INTEREST_CODE:
            continue
        rows.append(query - 1)
        cols.append(doc_positions[doc])
        gains.append(float(5 - code))
    return sp.csr_matrix(
        (np.asarray(gains, dtype=np.float64), (rows, cols)),
        shape=(n_queries, len(doc_positions)),
        dtype=np.float64,
    )


def _read_cranfield(directory: Traversable) -> dict[str, Any]:
    """Read the three Cranfield files found in ``directory``.

    ``directory`` is a :class:`pathlib.Path` or an importlib.resources
    ``Traversable``. Returns every field of :func:`load_cranfield` but
    ``DESCR``.
    """
    docs = _parse_records(
        (directory / _DOCS_FILE).read_text(encoding=_ENCODING), _DOC_FIELDS, _DOCS_FILE
    )
    queries = _parse_records(
        (directory / _QUERIES_FILE).read_text(encoding=_ENCODING), _QUERY_FIELDS, _QUERIES_FILE
    )
    doc_positions: dict[int, int] = {}
    for position, doc in enumerate(docs):
        if int(doc["id"]) in doc_positions:
            raise ValueError(f"{_DOCS_FILE}: duplicate document id {doc['id']}")
        doc_positions[int(doc["id"])] = position
    relevance = _read_relevance(
        (directory / _QRELS_FILE).read_text(encoding=_ENCODING),
        len(queries),
        doc_positions,
        _QRELS_FILE,
    )
    return {
        "ids": [doc["id"] for doc in docs],
        "title": [doc["title"] for doc in docs],
        "abstract": [doc["abstract"] for doc in docs],
        "authors": [doc["authors"] for doc in docs],
        "bibliography": [doc["bibliography"] for doc in docs],
        "queries": [query["text"] for query in queries],
        "query_ids": [query["id"] for query in queries],
        "relevance": relevance,
    }


def load_cranfield() -> Bunch:
    """Load the Cranfield 1400 collection: 1,400 abstracts, 225 judged queries.

    The classic information-retrieval test collection from Cyril
    Cleverdon's Cranfield experiments (1960s): aerodynamics papers with a
    title, authors, a bibliographic reference and an abstract each, and
    225 natural-language queries with graded relevance judgments. The
    files are bundled, so nothing is downloaded. See ``DESCR`` for the
    origin and the details of the judgments.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        ids : list of str
            Document ids ``"1"`` .. ``"1400"``, as written after ``.I``.
        title, abstract, authors, bibliography : list of str
            One whitespace-normalised string per document (``.T``,
            ``.W``, ``.A`` and ``.B``); an empty string where the field
            is empty (2 titles, 2 abstracts, 53 author lists and 70
            bibliographies; documents 471 and 995 are empty in every
            field), which :meth:`~skfusion.Catalog.from_frame` masks
            rather than embeds. The abstract repeats the title at its start.
        queries : list of str
            The 225 query texts, whitespace-normalised, in file order.
        query_ids : list of str
            The queries' ``.I`` numbers as written (``"001"``, ``"002"``,
            ``"004"``, ...); they are not contiguous.
        relevance : scipy.sparse.csr_matrix of shape (225, 1400)
            Graded relevance, float64: row ``i`` is the query at position
            ``i`` (the judgments number queries by position, not by
            ``.I``), column ``j`` the document at position ``j``. The
            value is the gain ``5 - code`` for Cleverdon's codes 1 (complete
            answer) to 4 (minimum interest), so gains are 4 to 1.
            Unjudged pairs, and the one line per query with code ``-1``
            (no interest), are not stored (gain 0).
        DESCR : str
            Description of the dataset (its README).

    Examples
    --------
    >>> from skfusion.datasets import load_cranfield
    >>> cran = load_cranfield()
    >>> len(cran.ids), len(cran.queries)
    (1400, 225)
    >>> cran.relevance.shape
    (225, 1400)
    >>> cran.query_ids[:3]
    ['001', '002', '004']
    >>> sorted(set(cran.relevance.data.tolist()))
    [1.0, 2.0, 3.0, 4.0]
    """
    root = resources.files(_DATA_PACKAGE)
    data = _read_cranfield(root)
    return Bunch(**data, DESCR=(root / "README.md").read_text(encoding="utf-8"))
