"""Datasets in the BEIR layout: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sklearn.utils import Bunch

from ._trec import (
    MAX_JSONL_LINE_BYTES,
    Qrels,
    _atomic_writer,
    _grade,
    _grade_error,
    _iter_lines,
    _parse_grade,
    _quote,
    _str_ids,
    qrels_to_matrix,
)

__all__ = ["load_beir", "save_beir"]

_CORPUS_FILE = "corpus.jsonl"
_QUERIES_FILE = "queries.jsonl"
_QRELS_DIR = "qrels"
_QRELS_HEADER = ["query-id", "corpus-id", "score"]
#: Corpus fields every record gets, first; other string fields follow.
_MAIN_FIELDS = ("title", "text")
# BEIR reads the qrels with csv.reader(delimiter="\t", quoting=QUOTE_MINIMAL);
# the same dialect is used here both ways.
_TSV = {"delimiter": "\t", "quotechar": '"', "quoting": csv.QUOTE_MINIMAL}


def _check_split(split: str) -> str:
    if not isinstance(split, str) or split in ("", ".", "..") or any(c in split for c in "/\\\x00"):
        raise ValueError(f"split must be a plain file name such as 'test', got {split!r}.")
    return split


def _read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Yield ``(where, record, id)`` for each non-blank line of a JSON-lines file."""
    for lineno, line in _iter_lines(path, MAX_JSONL_LINE_BYTES):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: malformed JSON ({exc.msg}, column {exc.colno})") from None
        except RecursionError:
            raise ValueError(f"{where}: JSON nested too deeply") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise ValueError(f"{where}: unreadable JSON ({_quote(str(exc))})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if "_id" not in record:
            raise ValueError(f"{where}: the object has no '_id'")
        raw_id = record["_id"]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise ValueError(
                f"{where}: '_id' must be a string, got {type(raw_id).__name__} "
                f"{_quote(repr(raw_id))}"
            )
        yield where, record, str(raw_id)


def _read_corpus(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    item_ids: list[str] = []
    records: list[dict[str, str]] = []
    first_seen: dict[str, str] = {}
    fields: dict[str, None] = dict.fromkeys(_MAIN_FIELDS)
    for where, record, item_id in _read_jsonl(path):
        if item_id in first_seen:
            raise ValueError(
                f"{where}: duplicate '_id' {_quote(item_id)} (first at {first_seen[item_id]})"
            )
        first_seen[item_id] = where
        strings = {k: v for k, v in record.items() if k != "_id" and isinstance(v, str)}
        fields.update(dict.fromkeys(strings))
        item_ids.append(item_id)
        records.append(strings)
    corpus = {field: [r.get(field, "") for r in records] for field in fields}
    return item_ids, corpus


def _read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    first_seen: dict[str, str] = {}
    for where, record, query_id in _read_jsonl(path):
        if query_id in first_seen:
            raise ValueError(
                f"{where}: duplicate '_id' {_quote(query_id)} (first at {first_seen[query_id]})"
            )
        first_seen[query_id] = where
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{where}: query {_quote(query_id)} has no string 'text'")
        queries[query_id] = text
    return queries


def _read_qrels_tsv(path: Path, query_ids: Mapping[str, Any], item_ids: set[str]) -> Qrels:
    lines = (line for _, line in _iter_lines(path))
    reader = csv.reader(lines, **_TSV)  # type: ignore[arg-type]
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    header_seen = False
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValueError(f"{path}:{reader.line_num}: {exc}") from None
        where = f"{path}:{reader.line_num}"
        if not header_seen:
            if row != _QRELS_HEADER:
                raise ValueError(
                    f"{where}: expected the header {chr(9).join(_QRELS_HEADER)!r}, got "
                    f"{_quote(chr(9).join(row))}"
                )
            header_seen = True
            continue
        if not row:
            continue
        if len(row) != 3:
            raise ValueError(
                f"{where}: expected 3 tab-separated fields 'query-id corpus-id score', got "
                f"{len(row)}: {_quote(chr(9).join(row))}"
            )
        query_id, item_id, score = row
        grade = _parse_grade(score)
        if grade is None:
            raise ValueError(_grade_error(where, score, "score"))
        if query_id not in query_ids:
            raise ValueError(f"{where}: query id {_quote(query_id)} is not in {_QUERIES_FILE}")
        if item_id not in item_ids:
            raise ValueError(f"{where}: corpus id {_quote(item_id)} is not in {_CORPUS_FILE}")
        if (query_id, item_id) in first_line:
            raise ValueError(
                f"{where}: duplicate judgment of query {_quote(query_id)} and document "
                f"{_quote(item_id)} (first on line {first_line[query_id, item_id]})"
            )
        first_line[query_id, item_id] = reader.line_num
        qrels.setdefault(query_id, {})[item_id] = grade
    if not header_seen:
        raise ValueError(f"{path}:1: empty file; expected the header {_QRELS_HEADER!r}")
    return qrels


def load_beir(path: str | os.PathLike[str], split: str = "test") -> Bunch:
    """Load a dataset stored in the BEIR layout.

    The directory holds ``corpus.jsonl`` (one JSON object per line with
    ``"_id"``, ``"title"``, ``"text"`` and possibly more fields),
    ``queries.jsonl`` (``"_id"``, ``"text"``) and ``qrels/<split>.tsv``
    (tab-separated ``query-id``, ``corpus-id``, integer ``score``, after a
    header line with those names). Files are UTF-8.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset directory.
    split : str, default="test"
        Which qrels file to read.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the fields:

        item_ids : list of str
            Corpus ids in file order (an integer ``_id`` is read as its
            decimal string).
        corpus : dict of str to list of str
            Field name -> one string per item, aligned with ``item_ids``.
            The fields are ``"title"`` and ``"text"``, always, then every
            other field holding a string in at least one record, in order
            of first appearance. A record without a field gets ``""``
            there. Values that are not strings (``null``, numbers, BEIR's
            ``metadata`` objects) are ignored.
        query_ids : list of str
            Only the queries judged in the split's qrels (as BEIR's own
            loader keeps them, score-0 judgments included), in
            ``queries.jsonl`` order. BEIR's ``GenericDataLoader`` keeps the
            same queries but orders them by first appearance in the qrels.
        queries : list of str
            Their texts, aligned with ``query_ids``.
        qrels : dict of str to dict of str to int
            The judgments as written, in file order.
        relevance : scipy.sparse.csr_matrix of shape (n_queries, n_items)
            ``qrels_to_matrix(qrels, query_ids, item_ids)``: float64 gains,
            scores ``<= 0`` left out.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        A file is missing, or is a directory.
    ValueError
        Malformed JSON (nesting too deep and integers of more than 4,300
        digits included), a line that is not an object, a missing or
        duplicate ``_id``, a query without a string ``text``, a qrels file
        without its header, a row without three fields or with a score that
        is not an integer in ``[-2**31, 2**31 - 1]``, a judgment naming an
        id absent from the corpus or the queries, a duplicate judgment,
        bytes that are not UTF-8, a NUL byte, a byte-order mark starting a
        line other than the first, or a line longer than 64 MiB (JSON
        lines) or 1 MiB (qrels). Messages start with ``file:line`` and
        quote at most 200 characters of the input.

    Notes
    -----
    Every file is read one line at a time. Lines may end in ``"\\n"`` or
    ``"\\r\\n"``, and a UTF-8 byte-order mark at the start of a file is
    skipped. In a JSON object that repeats a key the last value wins (as in
    Python's :mod:`json` and BEIR's own loader). Negative and zero scores
    are kept in ``qrels`` and left out of ``relevance``.

    See Also
    --------
    save_beir, qrels_to_matrix
    """
    root = Path(path)
    qrels_path = root / _QRELS_DIR / f"{_check_split(split)}.tsv"
    item_ids, corpus = _read_corpus(root / _CORPUS_FILE)
    all_queries = _read_queries(root / _QUERIES_FILE)
    qrels = _read_qrels_tsv(qrels_path, all_queries, set(item_ids))
    query_ids = [query_id for query_id in all_queries if query_id in qrels]
    return Bunch(
        item_ids=item_ids,
        corpus=corpus,
        query_ids=query_ids,
        queries=[all_queries[query_id] for query_id in query_ids],
        qrels=qrels,
        relevance=qrels_to_matrix(qrels, query_ids, item_ids),
    )


def _check_texts(values: Sequence[Any], n: int, what: str, ids: list[str]) -> list[str]:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of strings, not a single string.")
    texts = list(values)
    if len(texts) != n:
        raise ValueError(f"{what} has {len(texts)} entries for {n} ids.")
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what} of {ids[position]!r} is not a string: {text!r}")
    return texts


def save_beir(
    path: str | os.PathLike[str],
    *,
    item_ids: Sequence[Any],
    corpus: Mapping[str, Sequence[str]],
    query_ids: Sequence[Any],
    queries: Sequence[str],
    qrels: Mapping[Any, Mapping[Any, int]],
    split: str = "test",
) -> None:
    """Write a dataset in the BEIR layout; :func:`load_beir` reads it back.

    Writes ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``
    under ``path`` (created if needed), each through a temporary file
    renamed into place. Everything is checked before the first file is
    written.

    Parameters
    ----------
    path : str or os.PathLike
        The dataset directory.
    item_ids : sequence of length n_items
        Corpus ids, written as ``str(id)``; unique.
    corpus : mapping of field name to sequence of str
        Each sequence aligned with ``item_ids``. ``"title"`` and
        ``"text"`` are BEIR's keys (written as ``""`` when not given);
        any other field becomes an extra key of each record.
    query_ids : sequence of length n_queries
        Query ids, written as ``str(id)``; unique.
    queries : sequence of str
        Query texts aligned with ``query_ids``. All are written, but
        :func:`load_beir` returns only the judged ones.
    qrels : mapping of query id to mapping of item id to int
        Judgments; every id must be in ``query_ids`` / ``item_ids``.
    split : str, default="test"
        Name of the qrels file.

    Raises
    ------
    ValueError
        Duplicate ids, lengths that do not match, a text that is not a
        string, a field named ``"_id"``, a judgment naming an unknown id,
        a grade that is not an integer, or a bad split name.
    """
    split = _check_split(split)
    iids = _str_ids(item_ids, "item_ids")
    qids = _str_ids(query_ids, "query_ids")
    columns: dict[str, list[str]] = {field: [""] * len(iids) for field in _MAIN_FIELDS}
    for field, values in corpus.items():
        if not isinstance(field, str) or field == "_id":
            raise ValueError(f"corpus field names must be strings other than '_id', got {field!r}")
        columns[field] = _check_texts(values, len(iids), f"corpus[{field!r}]", iids)
    texts = _check_texts(queries, len(qids), "queries", qids)
    known_queries, known_items = set(qids), set(iids)
    rows: list[tuple[str, str, int]] = []
    for query, docs in qrels.items():
        qid = str(query)
        if qid not in known_queries:
            raise ValueError(f"qrels name query id {qid!r}, which is not in query_ids.")
        for doc, rel in docs.items():
            docid = str(doc)
            if any(c in qid + docid for c in "\r\n"):
                raise ValueError(
                    f"qrels ids cannot hold line breaks: query {qid!r}, item {docid!r}."
                )
            if docid not in known_items:
                raise ValueError(
                    f"qrels of query {qid!r} name item id {docid!r}, which is not in item_ids."
                )
            rows.append((qid, docid, _grade(rel, qid, docid)))
    if len({(q, d) for q, d, _ in rows}) != len(rows):
        raise ValueError("qrels hold a (query, item) pair twice (ids equal as strings).")

    root = Path(path)
    (root / _QRELS_DIR).mkdir(parents=True, exist_ok=True)
    with _atomic_writer(root / _CORPUS_FILE) as f:
        for position, item_id in enumerate(iids):
            record = {"_id": item_id, **{k: v[position] for k, v in columns.items()}}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    with _atomic_writer(root / _QUERIES_FILE) as f:
        for query_id, text in zip(qids, texts, strict=True):
            f.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with _atomic_writer(root / _QRELS_DIR / f"{split}.tsv") as f:
        writer = csv.writer(f, lineterminator="\n", **_TSV)  # type: ignore[arg-type]
        writer.writerow(_QRELS_HEADER)
        writer.writerows(rows)
