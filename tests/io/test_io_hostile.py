"""Hostile inputs for the skfusion.io readers, and robust row normalisation.

Each test feeds one malformed or adversarial file (or array) and checks the
exact error -- file, line, what is wrong, a bounded quote -- or the documented
result. Files that people receive from others must be safe to open: no error
message grows with the input, no reader holds more than a line in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skfusion._validation import (
    check_unit_rows,
    normalize_rows,
    row_norms,
    row_sq_norms,
)
from skfusion.io import _beir as beir_module
from skfusion.io import (
    load_beir,
    qrels_to_matrix,
    read_trec_qrels,
    read_trec_run,
    save_beir,
    write_trec_qrels,
    write_trec_run,
)

#: No error message may be longer than this, whatever the input.
MESSAGE_LIMIT = 1_000

CORPUS = '{"_id": "a", "title": "A", "text": "x"}\n{"_id": "b", "text": "y"}\n'
QUERIES = '{"_id": "q1", "text": "find a"}\n'
QRELS = "query-id\tcorpus-id\tscore\nq1\ta\t1\n"


def write_bytes(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def beir_dir(
    root: Path,
    corpus: bytes | str = CORPUS,
    queries: bytes | str = QUERIES,
    qrels: bytes | str = QRELS,
) -> Path:
    (root / "qrels").mkdir(parents=True)
    write_bytes(root / "corpus.jsonl", corpus)
    write_bytes(root / "queries.jsonl", queries)
    write_bytes(root / "qrels" / "test.tsv", qrels)
    return root


def raises(call, *args, match: str) -> str:
    """Run ``call(*args)``; assert a ``ValueError`` matching ``match`` and a short message."""
    with pytest.raises(ValueError, match=match) as info:
        call(*args)
    message = str(info.value)
    assert len(message) <= MESSAGE_LIMIT, f"{len(message):,}-character message"
    return message


# ---------------------------------------------------------------------------
# very long lines: bounded memory, bounded messages
# ---------------------------------------------------------------------------


def test_50_mb_line_is_refused_with_a_short_message(tmp_path):
    path = write_bytes(tmp_path / "run.txt", b"q Q0 " + b"d" * 50_000_000 + b" 1 0.5 t\n")
    message = raises(
        read_trec_run,
        path,
        match=r"run\.txt:1: line longer than 1,048,576 bytes; it starts 'q Q0 dddd",
    )
    # 200 characters of input, quoted, and no more
    assert message.endswith("'q Q0 " + "d" * 195 + "'...")


def test_long_line_under_the_cap_is_quoted_truncated(tmp_path):
    # 800,000 characters: below the 1 MiB cap, so the field count is what fails
    path = write_bytes(tmp_path / "run.txt", "q Q0 d 1 0.5 t\n" + "x " * 400_000 + "\n")
    message = raises(
        read_trec_run,
        path,
        match=r"run\.txt:2: expected 6 fields 'qid Q0 docid rank score tag', got 400000: ",
    )
    assert message.endswith("... (799,999 characters in all)")


def test_a_line_of_exactly_the_cap_is_read(tmp_path):
    from skfusion.io import _trec

    # the cap counts the line without its line break: 16 bytes are read, 17 refused
    path = write_bytes(tmp_path / "run.txt", "q Q0 d 1 0.5 ttt\nq Q0 e 1 0.5 tttt\n")
    lines = _trec._iter_lines(path, 16)
    assert next(lines) == (1, "q Q0 d 1 0.5 ttt\n")
    with pytest.raises(ValueError, match=r"run\.txt:2: line longer than 16 bytes"):
        next(lines)


def test_reading_is_streamed_from_an_endless_file():
    # /dev/zero has no line break: a reader that slurps lines would never return.
    zero = Path("/dev/zero")
    if not zero.exists():  # pragma: no cover - not POSIX
        pytest.skip("no /dev/zero")
    raises(read_trec_run, zero, match=r"/dev/zero:1: line longer than 1,048,576 bytes")


def test_long_jsonl_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(beir_module, "MAX_JSONL_LINE_BYTES", 64)
    root = beir_dir(tmp_path / "ds", corpus=CORPUS + '{"_id": "c", "text": "' + "z" * 100 + '"}\n')
    raises(load_beir, root, match=r"corpus\.jsonl:3: line longer than 64 bytes")


def test_huge_id_in_a_duplicate_is_quoted_truncated(tmp_path):
    doc = "d" * 100_000
    path = write_bytes(tmp_path / "run.txt", f"q Q0 {doc} 1 0.5 t\nq Q0 {doc} 2 0.4 t\n")
    message = raises(read_trec_run, path, match=r"run\.txt:2: duplicate document 'ddd")
    assert "(100,000 characters in all) for query 'q' (first on line 1)" in message


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "match"),
    [
        ("9" * 5000, r"grade '9{200}'\.\.\. \(5,000 characters in all\) is outside "),
        ("2147483648", r"grade '2147483648' is outside \[-2147483648, 2147483647\]"),
        ("-2147483649", r"grade '-2147483649' is outside"),
        ("1.0", r"grade '1\.0' is not an integer"),
        ("٣", r"grade '٣' is not an integer"),
    ],
)
def test_qrels_grade_out_of_range_names_file_and_line(tmp_path, grade, match):
    path = write_bytes(tmp_path / "q.qrels", f"q 0 a 1\nq 0 b {grade}\n")
    raises(read_trec_qrels, path, match=r"q\.qrels:2: " + match)


def test_qrels_grade_range_edges_and_leading_zeros_are_read(tmp_path):
    path = write_bytes(
        tmp_path / "q.qrels",
        "q 0 a 2147483647\nq 0 b -2147483648\nq 0 c " + "0" * 5000 + "7\nq 0 d +3\nq 0 e -0\n",
    )
    assert read_trec_qrels(path) == {"q": {"a": 2**31 - 1, "b": -(2**31), "c": 7, "d": 3, "e": 0}}


def test_writers_refuse_grades_the_reader_would_refuse(tmp_path):
    with pytest.raises(
        ValueError, match=r"grade of query 'q', document 'a' is 2147483648, outside"
    ):
        write_trec_qrels(tmp_path / "q.qrels", {"q": {"a": 2**31}})
    with pytest.raises(
        ValueError, match=r"is an integer of magnitude at least 2\*\*16609, outside"
    ):
        write_trec_qrels(tmp_path / "q.qrels", {"q": {"a": 10**5000}})
    assert not (tmp_path / "q.qrels").exists()
    with pytest.raises(ValueError, match=r"document 'a' is -2147483649, outside"):
        qrels_to_matrix({"q": {"a": -(2**31) - 1}}, ["q"], ["a"])


@pytest.mark.parametrize(
    ("score", "match"),
    [
        ("1e400", r"score '1e400' is not a finite number: 'q Q0 b 1 1e400 t'"),
        ("-1e400", r"score '-1e400' is not a finite number"),
        ("nan", r"score 'nan' is not a finite number"),
        ("inf", r"score 'inf' is not a finite number"),
        ("Infinity", r"score 'Infinity' is not a finite number"),
        ("1" * 5000, r"score '1{200}'\.\.\. \(5,000 characters in all\) is not a finite number"),
        ("0x1p3", r"score '0x1p3' is not a finite number"),
    ],
)
def test_run_score_not_finite(tmp_path, score, match):
    path = write_bytes(tmp_path / "run.txt", f"q Q0 a 1 0.5 t\nq Q0 b 1 {score} t\n")
    raises(read_trec_run, path, match=r"run\.txt:2: " + match)


def test_run_score_underflow_reads_as_zero(tmp_path):
    # documented: like C's atof, a score too small for a float is 0.0
    path = write_bytes(
        tmp_path / "run.txt", "q Q0 a 1 1e-400 t\nq Q0 b 2 0." + "0" * 5000 + "1 t\n"
    )
    assert read_trec_run(path) == {"q": {"a": 0.0, "b": 0.0}}


def test_run_rank_of_5000_digits_is_accepted_and_ignored(tmp_path):
    # documented: the rank must be an integer but is not used (trec_eval ignores it)
    path = write_bytes(tmp_path / "run.txt", f"q Q0 a {'9' * 5000} 0.5 t\n")
    assert read_trec_run(path) == {"q": {"a": 0.5}}


def test_beir_score_of_5000_digits_names_file_and_line(tmp_path):
    root = beir_dir(tmp_path / "ds", qrels=QRELS + "q1\tb\t" + "9" * 5000 + "\n")
    raises(
        load_beir,
        root,
        match=r"test\.tsv:3: score '9{200}'\.\.\. \(5,000 characters in all\) is outside "
        r"\[-2147483648, 2147483647\]",
    )


def test_beir_json_integer_of_5000_digits_names_file_and_line(tmp_path):
    root = beir_dir(tmp_path / "ds", corpus=CORPUS + '{"_id": "c", "n": 1' + "0" * 5000 + "}\n")
    raises(load_beir, root, match=r"corpus\.jsonl:3: unreadable JSON \('Exceeds the limit")


def test_beir_json_nested_too_deeply(tmp_path):
    root = beir_dir(tmp_path / "ds", queries=QUERIES + "[" * 200_000 + "\n")
    raises(load_beir, root, match=r"^.*queries\.jsonl:2: JSON nested too deeply$")


def test_beir_huge_non_string_id_is_quoted_truncated(tmp_path):
    root = beir_dir(tmp_path / "ds", corpus=CORPUS + '{"_id": [' + "1, " * 100_000 + "1]}\n")
    raises(
        load_beir,
        root,
        match=r"corpus\.jsonl:3: '_id' must be a string, got list '\[1, 1, .*'\.\.\. "
        r"\(300,003 characters in all\)$",
    )


# ---------------------------------------------------------------------------
# columns, encodings, line endings
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "text", "match"),
    [
        (read_trec_run, "q Q0 a 1 0.5\n", r"f:1: expected 6 fields .*, got 5: 'q Q0 a 1 0\.5'"),
        (read_trec_run, "q Q0 a 1 0.5 t x\n", r"f:1: expected 6 fields .*, got 7"),
        (read_trec_qrels, "q 0 a\n", r"f:1: expected 4 fields 'qid iter docid rel', got 3"),
        (read_trec_qrels, "q 0 a 1 1\n", r"f:1: expected 4 fields .*, got 5"),
        # a no-break space splits a field (str.split) where trec_eval would not: refused
        (read_trec_qrels, "q\u00a0x 0 a 1\n", r"f:1: expected 4 fields .*, got 5"),
    ],
)
def test_wrong_column_counts(tmp_path, reader, text, match):
    raises(reader, write_bytes(tmp_path / "f", text), match=match)


def test_beir_wrong_column_count(tmp_path):
    root = beir_dir(tmp_path / "ds", qrels=QRELS + "q1\tb\n")
    raises(
        load_beir,
        root,
        match=r"test\.tsv:3: expected 3 tab-separated fields 'query-id corpus-id score', "
        r"got 2: 'q1\\tb'",
    )


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write_bytes(tmp_path / "run.txt", b"q Q0 a 1 0.5 t\nq Q0 \xe9 1 0.5 t\n")
    raises(
        read_trec_run,
        path,
        match=r"^.*run\.txt:2: not valid UTF-8 \(byte 6 of the line: invalid continuation byte\)$",
    )
    root = beir_dir(tmp_path / "ds", corpus=b"\xff" + CORPUS.encode())
    raises(load_beir, root, match=r"corpus\.jsonl:1: not valid UTF-8 \(byte 1 of the line")


def test_utf16_file_gets_a_hint(tmp_path):
    path = write_bytes(tmp_path / "q.qrels", "q 0 a 1\n".encode("utf-16"))
    raises(
        read_trec_qrels,
        path,
        match=r"q\.qrels:1: not valid UTF-8 .*; the file starts with a UTF-16 byte-order mark, "
        "save it as UTF-8",
    )


def test_nul_byte_is_refused(tmp_path):
    path = write_bytes(tmp_path / "run.txt", b"q Q0 a\x00b 1 0.5 t\n")
    raises(read_trec_run, path, match=r"run\.txt:1: NUL byte at character 7 of the line")
    root = beir_dir(tmp_path / "ds", qrels=QRELS + "q1\tb\x00\t1\n")
    raises(load_beir, root, match=r"test\.tsv:3: NUL byte at character 5 of the line")


def test_bom_at_start_is_skipped_and_later_is_refused(tmp_path):
    path = write_bytes(tmp_path / "q.qrels", "\ufeffq 0 a 1\n")
    assert read_trec_qrels(path) == {"q": {"a": 1}}
    # two files concatenated: the second one's BOM would silently become part of an id
    path = write_bytes(tmp_path / "q.qrels", "\ufeffq 0 a 1\n\ufeffq 0 b 1\n")
    raises(
        read_trec_qrels,
        path,
        match=r"q\.qrels:2: a byte-order mark starts the line \(were files concatenated\?\)",
    )
    root = beir_dir(tmp_path / "ds", queries="\ufeff" + QUERIES + "\ufeff" + QUERIES)
    raises(load_beir, root, match=r"queries\.jsonl:2: a byte-order mark starts the line")


def test_crlf_is_read_everywhere(tmp_path):
    run = write_bytes(tmp_path / "run.txt", "q Q0 a 1 0.5 t\r\nq Q0 b 2 0.25 t\r\n")
    assert read_trec_run(run) == {"q": {"a": 0.5, "b": 0.25}}
    qrels = write_bytes(tmp_path / "q.qrels", "q 0 a 1\r\n\r\nq 0 b 0\r\n")
    assert read_trec_qrels(qrels) == {"q": {"a": 1, "b": 0}}
    crlf = {"corpus": CORPUS, "queries": QUERIES, "qrels": QRELS}
    root = beir_dir(tmp_path / "ds", **{k: v.replace("\n", "\r\n") for k, v in crlf.items()})
    data = load_beir(root)
    assert data.item_ids == ["a", "b"]
    assert data.corpus == {"title": ["A", ""], "text": ["x", "y"]}
    assert data.qrels == {"q1": {"a": 1}}


def test_bare_cr_line_breaks_get_a_hint(tmp_path):
    path = write_bytes(tmp_path / "run.txt", "q Q0 a 1 0.5 t\rq Q0 b 2 0.25 t\r")
    raises(
        read_trec_run,
        path,
        match=r"run\.txt:1: expected 6 fields .*, got 12 \(it holds carriage returns: only "
        r"\\n and \\r\\n end a line\)",
    )


# ---------------------------------------------------------------------------
# empty files, duplicates, signs, directories
# ---------------------------------------------------------------------------


def test_empty_and_blank_trec_files_read_as_empty(tmp_path):
    # documented: what write_trec_run writes for a run without documents
    for text in ("", "\n\n  \r\n"):
        assert read_trec_run(write_bytes(tmp_path / "run.txt", text)) == {}
        assert read_trec_qrels(write_bytes(tmp_path / "q.qrels", text)) == {}


def test_empty_beir_files(tmp_path):
    raises(
        load_beir,
        beir_dir(tmp_path / "a", qrels=""),
        match=r"test\.tsv:1: empty file; expected the header",
    )
    # an empty corpus and queries with a header-only qrels: an empty dataset
    data = load_beir(beir_dir(tmp_path / "b", corpus="", queries="", qrels=QRELS.split("\n")[0]))
    assert data.item_ids == []
    assert data.query_ids == []
    assert data.qrels == {}
    assert data.relevance.shape == (0, 0)


def test_conflicting_duplicate_judgments(tmp_path):
    path = write_bytes(tmp_path / "q.qrels", "q 0 a 2\nq 0 b 1\nq 0 a 0\n")
    raises(
        read_trec_qrels,
        path,
        match=r"q\.qrels:3: duplicate judgment of query 'q' and document 'a' \(first on line 1\)",
    )
    root = beir_dir(tmp_path / "ds", qrels=QRELS + "q1\ta\t3\n")
    raises(
        load_beir,
        root,
        match=r"test\.tsv:3: duplicate judgment of query 'q1' and document 'a' "
        r"\(first on line 2\)",
    )


def test_negative_grades_are_kept_but_not_relevant(tmp_path):
    path = write_bytes(tmp_path / "q.qrels", "q 0 a -2\nq 0 b 1\n")
    qrels = read_trec_qrels(path)
    assert qrels == {"q": {"a": -2, "b": 1}}
    assert qrels_to_matrix(qrels, ["q"], ["a", "b"]).toarray().tolist() == [[0.0, 1.0]]
    data = load_beir(beir_dir(tmp_path / "ds", qrels=QRELS.replace("\t1\n", "\t-1\n")))
    assert data.qrels == {"q1": {"a": -1}}
    assert data.relevance.nnz == 0


def test_a_directory_is_not_a_file(tmp_path):
    (tmp_path / "run.txt").mkdir()
    with pytest.raises(IsADirectoryError, match=r"a directory, not a file: '.*run\.txt'"):
        read_trec_run(tmp_path / "run.txt")
    (tmp_path / "q.qrels").mkdir()
    with pytest.raises(IsADirectoryError, match=r"q\.qrels"):
        read_trec_qrels(tmp_path / "q.qrels")
    root = beir_dir(tmp_path / "ds")
    (root / "corpus.jsonl").unlink()
    (root / "corpus.jsonl").mkdir()
    with pytest.raises(IsADirectoryError, match=r"corpus\.jsonl"):
        load_beir(root)


def test_json_repeated_key_last_value_wins(tmp_path):
    # documented: as Python's json and BEIR's own loader read it
    root = beir_dir(tmp_path / "ds", corpus=CORPUS + '{"_id": "c", "_id": "z", "text": "w"}\n')
    assert load_beir(root).item_ids == ["a", "b", "z"]


def test_stray_quote_in_beir_qrels_is_bounded(tmp_path):
    # an opening quote swallows lines up to csv's field limit, then fails on the line reached
    root = beir_dir(tmp_path / "ds", qrels=QRELS + 'q1\t"b\t1\n' + "x\n" * 10)
    raises(
        load_beir,
        root,
        match=r"test\.tsv:13: expected 3 tab-separated fields .*got 2: 'q1\\tb\\t1\\nx\\nx",
    )
    root = beir_dir(tmp_path / "ds2", qrels=QRELS + 'q1\t"b\t1\n' + ("x" * 1000 + "\n") * 200)
    raises(load_beir, root, match=r"test\.tsv:\d+: field larger than field limit")


def test_save_beir_round_trips_extreme_grades(tmp_path):
    save_beir(
        tmp_path / "ds",
        item_ids=["a", "b"],
        corpus={"text": ["x", "y"]},
        query_ids=["q"],
        queries=["find"],
        qrels={"q": {"a": 2**31 - 1, "b": -(2**31)}},
    )
    assert load_beir(tmp_path / "ds").qrels == {"q": {"a": 2**31 - 1, "b": -(2**31)}}
    with pytest.raises(ValueError, match=r"is 2147483648, outside"):
        save_beir(
            tmp_path / "ds2",
            item_ids=["a"],
            corpus={"text": ["x"]},
            query_ids=["q"],
            queries=["find"],
            qrels={"q": {"a": 2**31}},
        )


# ---------------------------------------------------------------------------
# row normalisation
# ---------------------------------------------------------------------------

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)
F32_TINY = 2.0**-149  # the smallest float32 subnormal


@pytest.mark.parametrize(
    ("row", "dtype", "unit"),
    [
        # a 3-4-5 triangle at every scale: the unit row is exactly (0.6, 0.8)
        ([3e30, 4e30], np.float32, [0.6, 0.8]),
        ([3e30, 4e30], np.float64, [0.6, 0.8]),
        ([3e300, 4e300], np.float64, [0.6, 0.8]),
        ([3 * F32_TINY, 4 * F32_TINY], np.float32, [0.6, 0.8]),  # subnormal in float32
        ([3 * 2.0**-1074, 4 * 2.0**-1074], np.float64, [0.6, 0.8]),  # subnormal in float64
        # the largest finite values: the norm itself overflows float32 / float64
        ([F32_MAX, F32_MAX], np.float32, [2**-0.5, 2**-0.5]),
        ([F64_MAX, -F64_MAX], np.float64, [2**-0.5, -(2**-0.5)]),
        ([F64_MAX, 0.0, 0.0, 0.0], np.float64, [1.0, 0.0, 0.0, 0.0]),
        ([0.0, -5e-324], np.float64, [0.0, -1.0]),
        ([1, 2, 2], np.int64, [1 / 3, 2 / 3, 2 / 3]),
    ],
)
def test_normalize_rows_at_extreme_scales(row, dtype, unit):
    X = np.array([row, [0.0] * len(row)], dtype=dtype)
    X[1, 0] = 1
    out = normalize_rows(X, what="X")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], unit, rtol=1e-6)
    np.testing.assert_array_equal(out[1], np.eye(len(row))[0])
    # and the result passes the unit-row check the catalog applies
    check_unit_rows(row_sq_norms(out), what="X")


def test_normalize_rows_float64_dtype_and_input_untouched():
    X = np.array([[3e300, 4e300]])
    out = normalize_rows(X, what="X", dtype=np.float64)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.6, 0.8]])
    np.testing.assert_array_equal(X, [[3e300, 4e300]])


def test_normalize_rows_refuses_only_true_zero_rows():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [5e-324, 0.0], [0.0, -0.0]])
    with pytest.raises(
        ValueError,
        match=r"^Component 'title' has an all-zero row for item 'y' \(row 1\); 2 such row\(s\) "
        r"in all, which cannot be normalised\. Mark it missing\.$",
    ):
        normalize_rows(
            X, what="Component 'title'", labels=["x", "y", "z", "w"], hint="Mark it missing."
        )
    # skipped rows (missing components) are neither checked nor normalised
    out = normalize_rows(X, what="X", skip=np.array([False, True, False, True]))
    np.testing.assert_array_equal(out, [[1, 0], [0, 0], [1, 0], [0, 0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalize_rows_refuses_non_finite_rows_by_name(bad):
    X = np.array([[1.0, 0.0], [3e30, 4e30], [bad, 1.0]], dtype=np.float32)
    with pytest.raises(
        ValueError,
        match=r"^X has NaN or infinite values in row 2; 1 such row\(s\) in all, which cannot "
        r"be normalised\.$",
    ):
        normalize_rows(X, what="X")
    with pytest.raises(ValueError, match=r"in item 7 \(row 2\)"):
        normalize_rows(X, what="X", labels=np.array([5, 6, 7]))
    # a skipped non-finite row is allowed (an all-NaN row marks a missing component)
    assert normalize_rows(X, what="X", skip=np.array([False, False, True]))[2].tolist() == [0, 0]


def test_row_norms_do_not_overflow_or_underflow():
    X32 = np.array([[3e30, 4e30], [3 * F32_TINY, 4 * F32_TINY], [0, 0]], dtype=np.float32)
    norms = row_norms(X32)
    np.testing.assert_allclose(norms, [5e30, 5 * F32_TINY, 0.0], rtol=1e-6)
    X64 = np.array([[3e300, 4e300], [F64_MAX, F64_MAX], [np.nan, 1], [np.inf, 0]])
    norms = row_norms(X64)
    np.testing.assert_allclose(norms[0], 5e300)
    assert norms[1] == np.inf  # sqrt(2) * F64_MAX is beyond float64
    assert np.isnan(norms[2:]).all()


def test_huge_rows_are_reported_with_their_norm_not_as_non_finite():
    # before: float32 einsum overflowed to inf and the row was called "NaN or infinite"
    q = np.array([[1.0, 0.0], [3e30, 4e30]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"but row 1 has norm 5e\+30 \(1 row\(s\) off"):
        check_unit_rows(row_sq_norms(q), what="queries")
    q64 = np.array([[1.0, 0.0], [3e300, 4e300]])
    with pytest.raises(
        ValueError,
        match=r"but row 1 has an infinite norm \(an infinite value, or values too large to "
        r"square\) \(1 row\(s\) off",
    ):
        check_unit_rows(row_sq_norms(q64), what="queries")
    q64[1, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"queries contains NaN or infinite values \(first at row 1"
    ):
        check_unit_rows(row_sq_norms(q64), what="queries")


def test_row_sq_norms_blocks_match_a_direct_computation(monkeypatch):
    monkeypatch.setattr("skfusion._validation.REDUCTION_BLOCK", 3)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 4)).astype(np.float32)
    np.testing.assert_allclose(row_sq_norms(X), (X.astype(np.float64) ** 2).sum(axis=1), rtol=1e-6)
    out = normalize_rows(X, what="X")
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    assert out.dtype == np.float32


# -- gzip-compressed run and qrels files ------------------------------------------------


def test_gz_paths_are_written_compressed_and_read_back_identically(tmp_path):
    import gzip

    run = {"q1": {"d2": 0.5, "d1": 1.25, "d3": 1e-300}, "q2": {"d9": -3.0}}
    write_trec_run(tmp_path / "r.txt", run, tag="t")
    write_trec_run(tmp_path / "r.txt.gz", run, tag="t")
    packed = (tmp_path / "r.txt.gz").read_bytes()
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == (tmp_path / "r.txt").read_bytes()
    assert (
        read_trec_run(tmp_path / "r.txt.gz")
        == read_trec_run(tmp_path / "r.txt")
        == {
            "q1": {"d1": 1.25, "d2": 0.5, "d3": 1e-300},
            "q2": {"d9": -3.0},
        }
    )
    # No file name or time stamp in the header: the same run gives the same bytes.
    write_trec_run(tmp_path / "again.txt.gz", run, tag="t")
    assert (tmp_path / "again.txt.gz").read_bytes() == packed
    qrels = {"q1": {"d1": 2, "d2": 0}}
    write_trec_qrels(tmp_path / "q.txt.gz", qrels)
    assert read_trec_qrels(tmp_path / "q.txt.gz") == qrels


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    import gzip

    (tmp_path / "run").write_bytes(gzip.compress(b"q1 Q0 d1 1 2.5 t\n"))
    assert read_trec_run(tmp_path / "run") == {"q1": {"d1": 2.5}}


@pytest.mark.parametrize("cut", [5, 20, -3])
def test_truncated_or_corrupt_gzip_names_the_file(tmp_path, cut):
    import gzip

    data = gzip.compress(b"".join(b"q1 Q0 d%d 1 %d.5 t\n" % (i, i) for i in range(200)))
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(data[:cut] if cut > 0 else data[:cut] + b"\x00\x01\x02")
    with pytest.raises(ValueError, match=r"bad\.txt\.gz:\d+: the gzip stream is corrupt"):
        read_trec_run(bad)


def test_a_gzip_bomb_line_is_refused_without_inflating_it(tmp_path):
    import gzip

    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(b"x" * (64 << 20)))  # 64 MiB of one line, ~64 KB packed
    with pytest.raises(ValueError, match="line longer than"):
        read_trec_run(bomb)
