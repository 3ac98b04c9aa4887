"""trec_eval run and qrels files, and conversions from estimator output.

A *run* maps query id -> item id -> score and a *qrels* maps query id ->
item id -> integer grade: the dicts that ``pytrec_eval`` takes, with ids
always ``str``. The readers are strict (every malformed line is an error
naming ``path:line``) and the writers are atomic (a temporary file beside
the destination, renamed into place) and lossless (scores are written with
``repr``, the shortest text that reads back to the same float). A path
ending in ``.gz`` is written gzip-compressed, and the readers decompress a
gzip file whatever its name (trec_eval itself reads plain text: ``zcat``
the file or ``gunzip`` it first).

trec_eval ignores the rank column: it orders each query's documents by
score, descending, and breaks score ties by document id, *descending*
(``strcmp`` order). ``write_trec_run(..., scores="rank")`` writes distinct
scores ``n, n - 1, ..., 1`` so trec_eval sees exactly the written order.
"""

from __future__ import annotations

import errno
import gzip
import io
import math
import operator
import os
import re
import secrets
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Qrels",
    "Run",
    "matrix_to_qrels",
    "qrels_to_matrix",
    "read_trec_qrels",
    "read_trec_run",
    "run_from_scores",
    "run_from_topk",
    "write_trec_qrels",
    "write_trec_run",
]

#: Query id -> item id -> score (a trec_eval run, as ``pytrec_eval`` takes it).
Run: TypeAlias = dict[str, dict[str, float]]
#: Query id -> item id -> integer grade (trec_eval qrels; grades < 1 are not relevant).
Qrels: TypeAlias = dict[str, dict[str, int]]

# What C's atof reads as a finite decimal number, ASCII only (Python's float()
# would also take "1_0", "nan", "infinity" and non-ASCII digits).
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT = re.compile(r"[+-]?\d+", re.ASCII)

#: Longest line, in bytes, of a trec_eval file or a BEIR qrels file.
MAX_LINE_BYTES = 1 << 20
#: Longest line, in bytes, of a BEIR ``corpus.jsonl`` / ``queries.jsonl`` (one document).
MAX_JSONL_LINE_BYTES = 1 << 26
#: Characters of input quoted, at most, in an error message.
QUOTE_CHARS = 200
#: Grades must lie in C's 32-bit ``int`` range (trec_eval, pytrec_eval).
GRADE_MIN, GRADE_MAX = -(2**31), 2**31 - 1


# --------------------------------------------------------------------------
# file helpers (shared with _beir)
# --------------------------------------------------------------------------


def _quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr(text)``, cut to ``limit`` characters of ``text`` with the full length noted."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters in all)"


def _parse_grade(text: str) -> int | None:
    """The integer a grade field spells, or None when it is not one or is out of range.

    The digits are counted before converting, so a 5,000-digit field costs
    nothing and never meets Python's limit on integer-string conversion.
    """
    if not _INT.fullmatch(text):
        return None
    sign, digits = ("-", text[1:]) if text[0] == "-" else ("", text.lstrip("+"))
    digits = digits.lstrip("0") or "0"
    if len(digits) > 10:
        return None
    value = int(sign + digits)
    return value if GRADE_MIN <= value <= GRADE_MAX else None


def _grade_error(where: str, text: str, name: str = "grade") -> str:
    """The message for a grade field (called ``name``) that :func:`_parse_grade` refused."""
    if _INT.fullmatch(text):
        return (
            f"{where}: {name} {_quote(text)} is outside [{GRADE_MIN}, {GRADE_MAX}] (trec_eval "
            "reads grades as C integers)"
        )
    return f"{where}: {name} {_quote(text)} is not an integer"


def _check_file(path: str | os.PathLike[str]) -> str:
    """``os.fspath(path)``; a directory raises ``IsADirectoryError`` naming it."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise IsADirectoryError(errno.EISDIR, "a directory, not a file", name)
    return name


#: The first two bytes of a gzip stream.
_GZIP_MAGIC = b"\x1f\x8b"


def _iter_lines(
    path: str | os.PathLike[str], max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` of a UTF-8 file, split on ``"\\n"`` only.

    The file is streamed: memory is bounded by one line, and a line longer
    than ``max_bytes`` raises ``ValueError`` (so ``/dev/zero`` or a file
    with no line breaks cannot exhaust memory). The text keeps its line
    ending. A byte-order mark at the start is dropped; one starting a later
    line (concatenated files) is an error. Bytes that are not UTF-8 and NUL
    bytes raise ``ValueError`` naming the line.
    """
    name = _check_file(path)
    with open(name, "rb") as raw_file:
        compressed = raw_file.read(2) == _GZIP_MAGIC
        raw_file.seek(0)
        f: Any = gzip.GzipFile(fileobj=raw_file) if compressed else raw_file
        lineno = 0
        while True:
            try:
                raw = f.readline(max_bytes + 1)
            except (OSError, EOFError, zlib.error) as exc:
                raise ValueError(
                    f"{name}:{lineno + 1}: the gzip stream is corrupt or truncated ({exc})"
                ) from None
            if not raw:
                return
            lineno += 1
            where = f"{name}:{lineno}"
            if len(raw) > max_bytes and not (len(raw) == max_bytes + 1 and raw.endswith(b"\n")):
                start = raw[: QUOTE_CHARS * 4].decode("utf-8", errors="replace")
                raise ValueError(
                    f"{where}: line longer than {max_bytes:,} bytes{_crlf_hint(start)}; it "
                    f"starts {start[:QUOTE_CHARS]!r}..."
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                hint = ""
                if lineno == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    hint = "; the file starts with a UTF-16 byte-order mark, save it as UTF-8"
                raise ValueError(
                    f"{where}: not valid UTF-8 (byte {exc.start + 1} of the line: {exc.reason})"
                    f"{hint}"
                ) from None
            if "\x00" in line:
                raise ValueError(
                    f"{where}: NUL byte at character {line.index(chr(0)) + 1} of the line "
                    "(a binary file?)"
                )
            if line.startswith("\ufeff"):
                if lineno > 1:
                    raise ValueError(
                        f"{where}: a byte-order mark starts the line (were files concatenated?)"
                    )
                line = line[1:]
            yield lineno, line


def _crlf_hint(text: str) -> str:
    """A note for a line holding carriage returns before its end (old Mac line breaks)."""
    if "\r" in text.rstrip("\r\n"):
        return " (it holds carriage returns: only \\n and \\r\\n end a line)"
    return ""


def _records(
    path: str | os.PathLike[str], layout: str
) -> Iterator[tuple[str, int, list[str], str]]:
    """Yield ``(where, line number, fields, line)`` for the non-blank lines of a TREC file.

    ``layout`` names the fields (e.g. ``"qid iter docid rel"``); a line with
    another number of fields raises ``ValueError`` starting with ``path:line``.
    """
    name = os.fspath(path)
    n_fields = len(layout.split())
    for lineno, line in _iter_lines(path):
        fields = line.split()
        if not fields:
            continue
        where = f"{name}:{lineno}"
        if len(fields) != n_fields:
            raise ValueError(
                f"{where}: expected {n_fields} fields {layout!r}, got {len(fields)}"
                f"{_crlf_hint(line)}: {_quote(line.strip())}"
            )
        yield where, lineno, fields, line.strip()


@contextmanager
def _atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open a temporary text file beside ``path``; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is untouched.
    The file is UTF-8 with ``"\\n"`` line endings; its permissions follow
    the umask, as for a file created by ``open``. A ``path`` ending in
    ``.gz`` is gzip-compressed (no name or time stamp in the header, so the
    same content gives the same bytes).
    """
    dest = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(dest)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        break
    try:
        with open(fd, "wb") as raw:
            if dest.endswith(".gz"):
                with (
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
                    io.TextIOWrapper(packed, encoding="utf-8", newline="\n") as f,
                ):
                    yield f
            else:
                with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as f:
                    yield f
                    f.flush()
                    os.fsync(raw.fileno())
        if dest.endswith(".gz"):
            with open(tmp, "rb") as done:
                os.fsync(done.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _check_token(value: Any, what: str) -> str:
    """``str(value)``, refused when empty or containing whitespace."""
    text = str(value)
    if text.split() != [text]:
        raise ValueError(
            f"{what} {_quote(text)} is empty or contains whitespace; trec_eval files are "
            "whitespace-separated."
        )
    return text


def _index_ids(ids: Sequence[Any], name: str) -> dict[str, int]:
    """Map ``str(id)`` -> position; duplicates are an error."""
    positions: dict[str, int] = {}
    for position, value in enumerate(ids):
        key = str(value)
        if key in positions:
            raise ValueError(
                f"{name} holds {_quote(key)} twice (positions {positions[key]} and {position}); "
                "ids must be unique."
            )
        positions[key] = position
    return positions


def _str_ids(ids: Any, name: str) -> list[str]:
    """``ids`` as a list of ``str``, refused when it is not 1-D or not unique."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of ids, not a single {type(ids).__name__}.")
    values = [str(value) for value in (ids.tolist() if isinstance(ids, np.ndarray) else ids)]
    _index_ids(values, name)
    return values


# --------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------


def read_trec_run(path: str | os.PathLike[str]) -> Run:
    """Read a trec_eval run file.

    Each non-blank line is ``qid Q0 docid rank score tag``: exactly six
    whitespace-separated fields. The second and sixth fields are not
    checked; ``rank`` must be an integer but is not used (trec_eval orders
    by score, too).

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 text file.

    Returns
    -------
    run : dict of str to dict of str to float
        Query id -> document id -> score. Queries and, within a query,
        documents keep their file order.

    Raises
    ------
    ValueError
        A line without exactly six fields, a rank that is not an integer,
        a score that is not a finite decimal number (``nan``, ``inf`` and
        values that overflow, such as ``1e400``, included), a (query,
        document) pair given twice, bytes that are not UTF-8, a NUL byte, a
        byte-order mark starting a line other than the first, or a line
        longer than 1 MiB. The message starts with
        ``path:line`` and quotes at most 200 characters of the input.
    FileNotFoundError, IsADirectoryError
        ``path`` does not exist or is a directory.

    Notes
    -----
    The file is read one line at a time, so memory is bounded by the
    longest line and the size of the result. An empty file gives ``{}``.
    Lines may end in ``"\\n"`` or ``"\\r\\n"``; a UTF-8 byte-order mark at
    the start is skipped. A score that underflows (``1e-400``) reads as
    ``0.0``, as with C's ``atof``.

    See Also
    --------
    write_trec_run, pytrec_eval.parse_run
    """
    run: Run = {}
    first_line: dict[tuple[str, str], int] = {}
    for where, lineno, fields, text in _records(path, "qid Q0 docid rank score tag"):
        qid, _, docid, rank, score, _ = fields
        if not _INT.fullmatch(rank):
            raise ValueError(f"{where}: rank {_quote(rank)} is not an integer: {_quote(text)}")
        value = float(score) if _FLOAT.fullmatch(score) else math.nan
        if not math.isfinite(value):
            raise ValueError(
                f"{where}: score {_quote(score)} is not a finite number: {_quote(text)}"
            )
        if (qid, docid) in first_line:
            raise ValueError(
                f"{where}: duplicate document {_quote(docid)} for query {_quote(qid)} (first "
                f"on line {first_line[qid, docid]}): {_quote(text)}"
            )
        first_line[qid, docid] = lineno
        run.setdefault(qid, {})[docid] = value
    return run


def write_trec_run(
    path: str | os.PathLike[str],
    run: Mapping[Any, Mapping[Any, float]],
    *,
    tag: str = "skfusion",
    scores: Literal["original", "rank"] = "original",
) -> None:
    """Write a run as a trec_eval run file, atomically.

    For each query, in the mapping's order, the documents are written by
    descending score, ties kept in the mapping's insertion order (a stable
    sort), with ranks ``1 .. n``. A query with no documents writes no line.

    trec_eval ignores the rank column and re-sorts every query by score,
    breaking *ties by document id in descending string order*. So with
    ``scores="original"`` tied documents may be evaluated in another order
    than the one written. ``scores="rank"`` writes the score
    ``n - rank + 1`` instead (``n`` the query's number of documents): the
    scores are distinct and trec_eval evaluates exactly the written order.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; written through a temporary file in the same
        directory, renamed into place, so a failure leaves it untouched.
    run : mapping of query id to mapping of document id to float
        Ids are written as ``str(id)``.
    tag : str, default="skfusion"
        The run name written in the last column.
    scores : {"original", "rank"}, default="original"
        Write the scores themselves (with ``repr`` precision, so reading the
        file back gives the same floats) or the descending integers above.

    Raises
    ------
    ValueError
        An id or the tag is empty or contains whitespace, a score is not
        finite (the message names the query and document), two ids of a
        query are equal as strings, or ``scores`` is unknown.

    See Also
    --------
    read_trec_run, run_from_topk, run_from_scores
    """
    if scores not in ("original", "rank"):
        raise ValueError(f"scores must be 'original' or 'rank', got {scores!r}.")
    tag = _check_token(tag, "tag")
    with _atomic_writer(path) as f:
        for query, docs in run.items():
            qid = _check_token(query, "query id")
            entries: list[tuple[str, float]] = []
            seen: set[str] = set()
            for doc, score in docs.items():
                docid = _check_token(doc, f"document id (query {_quote(qid)})")
                if docid in seen:
                    raise ValueError(f"query {_quote(qid)} holds document {_quote(docid)} twice.")
                seen.add(docid)
                try:
                    value = float(score)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"score of query {_quote(qid)}, document {_quote(docid)} is not a "
                        f"number: {_quote(repr(score))}"
                    ) from None
                if not math.isfinite(value):
                    raise ValueError(
                        f"score of query {_quote(qid)}, document {_quote(docid)} is {value}; "
                        "trec_eval needs finite scores (drop the document or give it a finite "
                        "score)."
                    )
                entries.append((docid, value))
            entries.sort(key=lambda entry: -entry[1])
            n_docs = len(entries)
            for rank, (docid, value) in enumerate(entries, start=1):
                text = repr(value) if scores == "original" else str(n_docs - rank + 1)
                f.write(f"{qid} Q0 {docid} {rank} {text} {tag}\n")


# --------------------------------------------------------------------------
# qrels
# --------------------------------------------------------------------------


def read_trec_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read a trec_eval qrels file.

    Each non-blank line is ``qid iter docid rel``: exactly four
    whitespace-separated fields. ``iter`` is not checked (trec_eval ignores
    it); ``rel`` must be an integer and is kept as written, zero and
    negative grades included (trec_eval counts ``rel < 1`` as not
    relevant).

    Parameters
    ----------
    path : str or os.PathLike
        A UTF-8 text file.

    Returns
    -------
    qrels : dict of str to dict of str to int
        Query id -> document id -> grade, in file order.

    Raises
    ------
    ValueError
        A line without exactly four fields, a grade that is not an integer
        or lies outside C's 32-bit ``int`` range (``[-2**31, 2**31 - 1]``;
        a 5,000-digit grade is refused before any conversion), a (query,
        document) pair judged twice (with the same grade or not), bytes
        that are not UTF-8, a NUL byte, a byte-order mark starting a line
        other than the first, or a line longer than 1 MiB. The message
        starts with ``path:line`` and quotes at most 200 characters of the
        input.
    FileNotFoundError, IsADirectoryError
        ``path`` does not exist or is a directory.

    Notes
    -----
    Read one line at a time, like :func:`read_trec_run`; an empty file
    gives ``{}``.

    See Also
    --------
    write_trec_qrels, qrels_to_matrix, pytrec_eval.parse_qrel
    """
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    for where, lineno, fields, text in _records(path, "qid iter docid rel"):
        qid, _, docid, rel = fields
        grade = _parse_grade(rel)
        if grade is None:
            raise ValueError(f"{_grade_error(where, rel)}: {_quote(text)}")
        if (qid, docid) in first_line:
            raise ValueError(
                f"{where}: duplicate judgment of query {_quote(qid)} and document "
                f"{_quote(docid)} (first on line {first_line[qid, docid]}): {_quote(text)}"
            )
        first_line[qid, docid] = lineno
        qrels.setdefault(qid, {})[docid] = grade
    return qrels


def _grade(value: Any, qid: str, docid: str) -> int:
    """``value`` as an int grade in ``[GRADE_MIN, GRADE_MAX]``, or ``ValueError``."""
    try:
        grade = operator.index(value)
    except TypeError:
        raise ValueError(
            f"grade of query {_quote(qid)}, document {_quote(docid)} must be an integer, got "
            f"{_quote(repr(value))}."
        ) from None
    if not GRADE_MIN <= grade <= GRADE_MAX:
        # str() of a 5,000-digit int would itself fail (sys.set_int_max_str_digits).
        shown = (
            str(grade)
            if grade.bit_length() < 64
            else f"an integer of magnitude at least 2**{grade.bit_length() - 1}"
        )
        raise ValueError(
            f"grade of query {_quote(qid)}, document {_quote(docid)} is {shown}, outside "
            f"[{GRADE_MIN}, {GRADE_MAX}] (trec_eval reads grades as C integers)."
        )
    return grade


def write_trec_qrels(path: str | os.PathLike[str], qrels: Mapping[Any, Mapping[Any, int]]) -> None:
    """Write judgments as a trec_eval qrels file, atomically.

    One line ``qid 0 docid rel`` per judgment, in the mapping's order.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, written through a temporary file in the same
        directory and renamed into place.
    qrels : mapping of query id to mapping of document id to int
        Ids are written as ``str(id)``; grades must be integers (any sign).

    Raises
    ------
    ValueError
        An id that is empty or contains whitespace, a grade that is not an
        integer or lies outside ``[-2**31, 2**31 - 1]`` (what
        :func:`read_trec_qrels` reads back), or two ids of a query that are
        equal as strings.

    See Also
    --------
    read_trec_qrels, matrix_to_qrels
    """
    with _atomic_writer(path) as f:
        for query, docs in qrels.items():
            qid = _check_token(query, "query id")
            seen: set[str] = set()
            for doc, rel in docs.items():
                docid = _check_token(doc, f"document id (query {_quote(qid)})")
                if docid in seen:
                    raise ValueError(f"query {_quote(qid)} holds document {_quote(docid)} twice.")
                seen.add(docid)
                f.write(f"{qid} 0 {docid} {_grade(rel, qid, docid)}\n")


# --------------------------------------------------------------------------
# runs from estimator output
# --------------------------------------------------------------------------


def _build_run(
    query_ids: list[str],
    item_ids: list[str],
    indices: np.ndarray,
    scores: np.ndarray,
) -> Run:
    """Assemble a run from checked (n_queries, k) positions and scores.

    Entries with position -1 are skipped silently; entries scored ``-inf``
    are dropped with one warning. Any other non-finite score is an error.
    """
    valid = indices >= 0
    bad = valid & np.isnan(scores)
    if bad.any():
        q = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"scores of query {_quote(query_ids[q])} contain NaN.")
    bad = valid & (scores == np.inf)
    if bad.any():
        q = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"scores of query {_quote(query_ids[q])} contain +inf.")
    minus_inf = valid & (scores == -np.inf)
    n_dropped = int(minus_inf.sum())
    if n_dropped:
        warnings.warn(
            f"Dropped {n_dropped} item(s) scored -inf (undefined score) from the run; "
            "trec_eval needs finite scores.",
            UserWarning,
            stacklevel=3,
        )
        valid &= ~minus_inf
    run: Run = {}
    for q, qid in enumerate(query_ids):
        keep = valid[q]
        run[qid] = {
            item_ids[i]: s
            for i, s in zip(indices[q][keep].tolist(), scores[q][keep].tolist(), strict=True)
        }
    return run


def run_from_topk(
    query_ids: Sequence[Any],
    item_ids: Sequence[Any],
    indices: Any,
    scores: Any = None,
) -> Run:
    """A run from top-k item positions, such as an estimator's ``kneighbors``.

    Parameters
    ----------
    query_ids : sequence of length n_queries
        Query ids (converted with ``str``; must be unique).
    item_ids : sequence of length n_items
        Item ids of the catalog, by position (``str``; unique), e.g.
        ``catalog.ids``.
    indices : array-like of int, shape (n_queries, k)
        Item positions in ranked order, best first. ``-1`` is padding (a
        query with fewer than ``k`` results) and is skipped.
    scores : array-like of float, shape (n_queries, k), optional
        The matching scores. Entries scored ``-inf`` (an undefined cosine,
        ranked last by the estimators) are dropped with one
        ``UserWarning`` giving their count, since a run file cannot hold
        them. When omitted, the score of column ``j`` (0-based) is
        ``k - j``, so the scores follow the column order.

    Returns
    -------
    run : dict of str to dict of str to float
        Every query id, in order, mapped to its items in column order (a
        query whose entries were all skipped maps to an empty dict).

    Raises
    ------
    ValueError
        Shapes that do not match, a non-integer ``indices``, a position
        below -1 or past the catalog, an item given twice for a query, a
        NaN or ``+inf`` score (naming the query), or duplicate ids.

    Examples
    --------
    >>> import numpy as np
    >>> run_from_topk(["q1"], ["a", "b", "c"], np.array([[2, 0, -1]]))
    {'q1': {'c': 3.0, 'a': 2.0}}
    """
    qids = _str_ids(query_ids, "query_ids")
    iids = _str_ids(item_ids, "item_ids")
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[0] != len(qids):
        raise ValueError(f"indices must have shape (n_queries={len(qids)}, k), got {idx.shape}.")
    if idx.size and idx.dtype.kind not in "iu":
        raise ValueError(f"indices must hold integer item positions, got dtype {idx.dtype}.")
    idx = idx.astype(np.int64, copy=False)
    out_of_range = (idx < -1) | (idx >= len(iids))
    if out_of_range.any():
        q, j = (int(v) for v in np.argwhere(out_of_range)[0])
        raise ValueError(
            f"indices[{q}, {j}] = {idx[q, j]} is not a position in a catalog of {len(iids)} "
            "items (-1 marks padding)."
        )
    ordered = np.sort(idx, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if repeated.any():
        q = int(np.flatnonzero(repeated.any(axis=1))[0])
        raise ValueError(f"indices of query {_quote(qids[q])} give the same item twice.")
    k = idx.shape[1]
    if scores is None:
        values = np.broadcast_to(np.arange(k, 0, -1, dtype=np.float64), idx.shape)
    else:
        values = np.asarray(scores)
        if values.shape != idx.shape:
            raise ValueError(
                f"scores has shape {values.shape}; expected the shape of indices, {idx.shape}."
            )
        if values.size and values.dtype.kind not in "iuf":
            raise ValueError(f"scores must be real numbers, got dtype {values.dtype}.")
        values = values.astype(np.float64, copy=False)
    return _build_run(qids, iids, idx, values)


def run_from_scores(
    query_ids: Sequence[Any],
    item_ids: Sequence[Any],
    scores: Any,
    *,
    k: int = 1000,
) -> Run:
    """A run of the ``k`` best items per query from a dense score matrix.

    Parameters
    ----------
    query_ids : sequence of length n_queries
        Query ids (``str``; unique).
    item_ids : sequence of length n_items
        Item ids by column (``str``; unique).
    scores : array-like of float, shape (n_queries, n_items)
        Dense scores, larger is better. ``-inf`` entries are dropped with a
        ``UserWarning`` (as in :func:`run_from_topk`).
    k : int, default=1000
        Items kept per query (all of them when the catalog is smaller);
        1000 is trec_eval's usual depth.

    Returns
    -------
    run : dict of str to dict of str to float
        Each query's items by descending score; tied scores go to the
        lower column first.

    Raises
    ------
    ValueError
        Wrong shape, a sparse matrix, ``k < 1``, a NaN or ``+inf`` score
        (naming the query), or duplicate ids.

    Examples
    --------
    >>> run_from_scores(["q"], ["a", "b", "c"], [[0.5, 0.9, 0.5]], k=2)
    {'q': {'b': 0.9, 'a': 0.5}}
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    if sp.issparse(scores):
        raise ValueError("scores must be a dense array; use scores.toarray() for a sparse one.")
    qids = _str_ids(query_ids, "query_ids")
    iids = _str_ids(item_ids, "item_ids")
    values = np.asarray(scores)
    if values.shape != (len(qids), len(iids)):
        raise ValueError(
            f"scores has shape {values.shape}; expected (n_queries, n_items) = "
            f"({len(qids)}, {len(iids)})."
        )
    if values.size and values.dtype.kind not in "iuf":
        raise ValueError(f"scores must be real numbers, got dtype {values.dtype}.")
    values = values.astype(np.float64, copy=False)
    nan_rows = np.isnan(values).any(axis=1)
    if nan_rows.any():
        raise ValueError(f"scores of query {qids[int(np.flatnonzero(nan_rows)[0])]!r} contain NaN.")
    depth = min(int(k), len(iids))
    # A stable sort of the negated scores: ties keep the lower column first.
    order = np.argsort(-values, axis=1, kind="stable")[:, :depth]
    top = np.take_along_axis(values, order, axis=1)
    return _build_run(qids, iids, order, top)


# --------------------------------------------------------------------------
# qrels <-> relevance matrices
# --------------------------------------------------------------------------


def qrels_to_matrix(
    qrels: Mapping[Any, Mapping[Any, int]],
    query_ids: Sequence[Any],
    item_ids: Sequence[Any],
    *,
    unknown: Literal["raise", "ignore"] = "raise",
) -> sp.csr_matrix:
    """Judgments as a sparse ``(n_queries, n_items)`` gain matrix.

    Parameters
    ----------
    qrels : mapping of query id to mapping of item id to int
        Ids are matched to ``query_ids`` and ``item_ids`` as ``str(id)``.
    query_ids : sequence of length n_queries
        Row order (unique as strings).
    item_ids : sequence of length n_items
        Column order (unique as strings), e.g. ``catalog.ids``.
    unknown : {"raise", "ignore"}, default="raise"
        What to do with judgments naming a query or item id absent from
        ``query_ids`` / ``item_ids``: raise, or skip them with one
        ``UserWarning`` giving their count.

    Returns
    -------
    relevance : scipy.sparse.csr_matrix of float64
        The grade of each judged pair. Grades ``<= 0`` are not stored (not
        relevant, as in trec_eval), nor are unjudged pairs. This is the
        ``y`` the estimators' ``score`` accepts.

    Raises
    ------
    ValueError
        An unknown id with ``unknown="raise"`` (the first one is named,
        with how many there are), a grade that is not an integer, duplicate
        ids, or two ids of ``qrels`` equal as strings.

    See Also
    --------
    matrix_to_qrels, skfusion.metrics.ranking_metrics
    """
    if unknown not in ("raise", "ignore"):
        raise ValueError(f"unknown must be 'raise' or 'ignore', got {unknown!r}.")
    rows_of = _index_ids(list(query_ids), "query_ids")
    cols_of = _index_ids(list(item_ids), "item_ids")
    rows: list[int] = []
    cols: list[int] = []
    gains: list[float] = []
    seen_queries: set[str] = set()
    missing_queries: list[str] = []
    missing_items: set[str] = set()
    first_missing: str | None = None
    n_skipped = 0
    for query, docs in qrels.items():
        qid = str(query)
        if qid in seen_queries:
            raise ValueError(f"qrels holds query {_quote(qid)} twice (as different objects).")
        seen_queries.add(qid)
        row = rows_of.get(qid)
        if row is None:
            missing_queries.append(qid)
            if first_missing is None:
                first_missing = f"query id {_quote(qid)}"
        seen_docs: set[str] = set()
        for doc, rel in docs.items():
            docid = str(doc)
            if docid in seen_docs:
                raise ValueError(f"qrels of query {_quote(qid)} hold item {_quote(docid)} twice.")
            seen_docs.add(docid)
            grade = _grade(rel, qid, docid)
            col = cols_of.get(docid)
            if col is None:
                missing_items.add(docid)
                if first_missing is None:
                    first_missing = f"item id {_quote(docid)} (query {_quote(qid)})"
            if row is None or col is None:
                n_skipped += 1
                continue
            if grade > 0:
                rows.append(row)
                cols.append(col)
                gains.append(float(grade))
    if first_missing is not None:
        counts = (
            f"{len(missing_queries)} query id(s) not in query_ids and {len(missing_items)} "
            f"item id(s) not in item_ids, in {n_skipped} judgment(s)"
        )
        if unknown == "raise":
            raise ValueError(
                f"qrels name {counts}; the first is {first_missing}. Pass unknown='ignore' "
                "to skip them."
            )
        warnings.warn(f"Skipped judgments naming unknown ids: {counts}.", UserWarning, stacklevel=2)
    matrix = sp.csr_matrix(
        (np.asarray(gains, dtype=np.float64), (np.asarray(rows, dtype=np.int64), cols)),
        shape=(len(rows_of), len(cols_of)),
        dtype=np.float64,
    )
    matrix.sort_indices()
    return matrix


def matrix_to_qrels(relevance: Any, query_ids: Sequence[Any], item_ids: Sequence[Any]) -> Qrels:
    """Judgments from a ``(n_queries, n_items)`` gain matrix; inverse of :func:`qrels_to_matrix`.

    Parameters
    ----------
    relevance : sparse matrix or array-like of shape (n_queries, n_items)
        Integer-valued gains; zeros (stored or not) are not judgments.
    query_ids : sequence of length n_queries
        Row ids (``str``; unique).
    item_ids : sequence of length n_items
        Column ids (``str``; unique).

    Returns
    -------
    qrels : dict of str to dict of str to int
        Only the queries with at least one non-zero gain, in row order; the
        items of a query in column order. Negative gains are kept (and
        ``qrels_to_matrix`` drops them again).

    Raises
    ------
    ValueError
        Wrong shape, a gain that is not a finite integer (naming the query
        and item), or duplicate ids.
    """
    qids = _str_ids(query_ids, "query_ids")
    iids = _str_ids(item_ids, "item_ids")
    matrix = sp.csr_matrix(relevance) if sp.issparse(relevance) else None
    if matrix is None:
        dense = np.asarray(relevance)
        if dense.ndim != 2:
            raise ValueError(f"relevance must be 2-D, got shape {dense.shape}.")
        if dense.size and dense.dtype.kind not in "biuf":
            raise ValueError(f"relevance must hold numbers, got dtype {dense.dtype}.")
        matrix = sp.csr_matrix(dense)
    if matrix.shape != (len(qids), len(iids)):
        raise ValueError(
            f"relevance has shape {matrix.shape}; expected (n_queries, n_items) = "
            f"({len(qids)}, {len(iids)})."
        )
    matrix = matrix.copy()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    data = matrix.data.astype(np.float64)
    bad = ~np.isfinite(data) | (data != np.round(data))
    qrels: Qrels = {}
    for q, qid in enumerate(qids):
        start, stop = int(matrix.indptr[q]), int(matrix.indptr[q + 1])
        if start == stop:
            continue
        if bad[start:stop].any():
            pos = start + int(np.flatnonzero(bad[start:stop])[0])
            raise ValueError(
                f"gain of query {_quote(qid)}, item {_quote(iids[int(matrix.indices[pos])])} is "
                f"{float(matrix.data[pos])!r}, not an integer."
            )
        qrels[qid] = {
            iids[col]: int(gain)
            for col, gain in zip(
                matrix.indices[start:stop].tolist(), data[start:stop].tolist(), strict=True
            )
        }
    return qrels
