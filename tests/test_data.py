import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentscore.data import LabelledData, ScoreScale, load_labelled, read_table, read_texts, split
from sentscore.errors import SentscoreError

from .conftest import synthetic_rows, write_csv


def test_reads_csv_tsv_jsonl_and_text(tmp_path):
    rows = [("good, really", "5"), ("bad", "1")]
    write_csv(tmp_path / "a.csv", rows)
    (tmp_path / "a.tsv").write_text("sentence\tscore\ngood, really\t5\nbad\t1\n")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"sentence": s, "score": int(v)}) for s, v in rows))
    (tmp_path / "a.txt").write_text("good, really\n\nbad\n")
    for name in ("a.csv", "a.tsv", "a.jsonl"):
        data = load_labelled(tmp_path / name)
        assert data.texts == ["good, really", "bad"], name
        assert data.scale.labels == ("1", "2", "3", "4", "5")
        assert data.label_ids == [4, 0]
    with pytest.raises(SentscoreError, match=r"a.txt: line 2 is blank"):  # a blank line is a row, as in CSV
        read_texts(tmp_path / "a.txt")
    (tmp_path / "a.txt").write_text("good, really\nbad\n")
    frame, texts = read_texts(tmp_path / "a.txt")
    assert texts == ["good, really", "bad"]


def test_spreadsheet_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("sentence,score\nfine,3\ngood,4\n".encode("utf-8-sig"))
    assert load_labelled(path).texts == ["fine", "good"]


def test_semicolon_separated_csv_from_a_spreadsheet(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbfsentence;score\r\n"nice, really";5\r\nbad;1\r\n')
    data = load_labelled(path)
    assert data.texts == ["nice, really", "bad"]
    assert data.label_ids == [4, 0]
    commas = tmp_path / "commas.csv"
    commas.write_text('sentence,score\n"a; b",5\nc,1\n')
    assert load_labelled(commas).texts == ["a; b", "c"]


def test_missing_columns_lists_the_columns_found(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("x", 1), ("y", 2)], header=("text", "rating"))
    with pytest.raises(SentscoreError) as info:
        load_labelled(path)
    assert "'sentence', 'score' not found" in info.value.message
    assert "'text', 'rating'" in info.value.message
    assert "text_column=" in info.value.hint  # a Python call is told its arguments (the CLI its flags: test_inputs)
    data = load_labelled(path, text_column="text", score_column="rating", num_labels=None)
    assert data.texts == ["x", "y"]


def test_a_plain_text_file_is_not_taken_for_a_labelled_one(tmp_path):
    """Before: "column 'score' not found; the columns found are 'sentence'" for a file that has no columns."""
    plain = tmp_path / "reviews.txt"
    plain.write_text("Great food.\nAwful service.\n")
    with pytest.raises(SentscoreError, match="reviews.txt is plain text .* needs a labelled file") as refused:
        load_labelled(plain)
    assert "with a 'sentence' and a 'score' column" in refused.value.hint


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(SentscoreError, match="e.csv is empty") as info:
        load_labelled(tmp_path / "e.csv")
    assert info.value.hint == "Add a header line and at least a few rows."
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(SentscoreError, match="e.txt is empty") as info:
        read_texts(tmp_path / "e.txt")
    assert info.value.hint == "Add one sentence a line."  # a text file has no header
    (tmp_path / "h.csv").write_text("sentence,score\n")
    with pytest.raises(SentscoreError, match="no data rows"):
        load_labelled(tmp_path / "h.csv")


def test_mixed_numbers_and_text(tmp_path):
    path = write_csv(tmp_path / "m.csv", [("a", 1), ("b", "great"), ("c", 3)])
    with pytest.raises(SentscoreError, match=r"mixes numbers and text; row 3 holds 'great'"):
        load_labelled(path)


def test_fractional_scores(tmp_path):
    path = write_csv(tmp_path / "f.csv", [("a", 1), ("b", 2.5), ("c", "3.0")])
    with pytest.raises(SentscoreError, match=r"fractional scores \(2.5\) in row 3"):
        load_labelled(path)


def test_scores_outside_num_labels(tmp_path):
    path = write_csv(tmp_path / "o.csv", [("a", 1), ("b", 6), ("c", 3), ("d", 7)])
    with pytest.raises(SentscoreError, match=r"scores must be 1..5, but rows 3, 5 hold \[6, 7\]"):
        load_labelled(path, num_labels=5)


def test_num_labels_fixes_the_scale_even_when_a_level_is_absent(tmp_path):
    path = write_csv(tmp_path / "s.csv", [("a", 1), ("b", 2), ("c", 4)])
    assert load_labelled(path, num_labels=5).scale.labels == ("1", "2", "3", "4", "5")
    assert load_labelled(path).scale.labels == ("1", "2", "3", "4")
    zero_based = write_csv(tmp_path / "z.csv", [("a", 0), ("b", 10)])
    assert load_labelled(zero_based).scale.labels == tuple(str(i) for i in range(11))


def test_explicit_labels_order_text_labels_and_reject_others(tmp_path):
    path = write_csv(tmp_path / "l.csv", [("a", "good"), ("b", "bad"), ("c", "ok")])
    data = load_labelled(path, labels=["bad", "ok", "good"])
    assert data.label_ids == [2, 0, 1]
    assert not data.scale.is_numeric
    assert load_labelled(path).scale.labels == ("bad", "good", "ok")  # sorted when no order is given
    with pytest.raises(SentscoreError, match="outside the labels"):
        load_labelled(path, labels=["bad", "good"])


def test_blank_sentences_are_named_by_row(tmp_path):
    path = write_csv(tmp_path / "b.csv", [("a", 1), ("  ", 2), ("c", 3), ("", 4)])
    with pytest.raises(SentscoreError, match=r"blank 'sentence' in rows 3, 5"):
        load_labelled(path)


def test_every_problem_of_a_labelled_file_is_named_at_once(tmp_path):
    rows = [("a", 1), ("", 2), ("c", ""), ("d", 3.5), ("e", 9), ("f", "x"), ("g", 2)]
    path = write_csv(tmp_path / "p.csv", rows)
    with pytest.raises(SentscoreError) as info:
        load_labelled(path)
    assert info.value.message == (
        f"{path}: blank 'sentence' in row 3; blank 'score' in row 4; "
        "column 'score' mixes numbers and text; row 7 holds 'x'"
    )
    assert info.value.hint.startswith("Fill in or delete those rows. Make every score a whole number")
    # checked against a model's levels, the values are named by their rows in the file, past the blank one
    with pytest.raises(SentscoreError, match=r"blank 'score' in row 4; rows 5, 6, 7 have 'score' values"):
        load_labelled(path, scale=ScoreScale(("1", "2", "3", "4", "5")))
    fractional = write_csv(tmp_path / "f.csv", [("a", 1), ("b", ""), ("c", 2.5), ("d", 2)])
    with pytest.raises(SentscoreError, match=r"row 3; column 'score' has fractional scores \(2.5\) in row 4\n"):
        load_labelled(fractional)


def test_undecodable_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sentence,score\ncaf\xe9 was nice,4\n".encode("latin-1"))
    with pytest.raises(SentscoreError, match="not valid UTF-8") as info:
        load_labelled(path)
    assert "UTF-8" in info.value.hint


def test_malformed_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('sentence,score\n"unclosed quote,4\n')
    with pytest.raises(SentscoreError, match="a quoted field is never closed"):
        read_table(path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(SentscoreError, match="unsupported file type"):
        read_table(path)


def test_level_with_too_few_rows_to_split(tmp_path):
    rows = [(f"s{i}", 1 + i % 2) for i in range(20)] + [("lonely", 3)]
    data = load_labelled(write_csv(tmp_path / "few.csv", rows))
    with pytest.raises(SentscoreError, match=r"score level '3' \(1 row\) has too few rows"):
        split(data, 0.2, seed=1)


def test_split_is_seeded_and_stratified():
    rows = synthetic_rows(n_per_level=10)
    data = LabelledData(
        [r[0] + str(i) for i, r in enumerate(rows)],
        [r[1] - 1 for r in rows],
        ScoreScale(("1", "2", "3", "4", "5")),
        "mem",
    )
    train_a, val_a = split(data, 0.2, seed=7)
    train_b, val_b = split(data, 0.2, seed=7)
    assert val_a.texts == val_b.texts
    assert Counter(val_a.label_ids) == {i: 2 for i in range(5)}
    assert split(data, 0.2, seed=8)[1].texts != val_a.texts


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=2, max_value=30), min_size=2, max_size=6),
    fraction=st.floats(min_value=0.1, max_value=0.5),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_split_property(counts, fraction, seed):
    """Any split that succeeds is a partition with every level on both sides."""
    labels = [level for level, n in enumerate(counts) for _ in range(n)]
    data = LabelledData(
        [f"t{i}" for i in range(len(labels))], labels, ScoreScale(tuple(str(i) for i in range(len(counts)))), "mem"
    )
    try:
        train, val = split(data, fraction, seed)
    except SentscoreError as error:
        assert "too few" in error.message
        return
    assert sorted(train.texts + val.texts) == sorted(data.texts)
    assert set(train.label_ids) == set(val.label_ids) == set(range(len(counts)))


def test_undecodable_bytes_and_ragged_rows_are_reported_with_their_row(tmp_path):
    undecodable = tmp_path / "bytes.csv"
    undecodable.write_bytes(b"sentence,score\nfine,1\nbad \xff here,2\n")
    with pytest.raises(SentscoreError, match=r"not valid UTF-8 text: row 3 \(byte 26\)"):
        load_labelled(undecodable)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("sentence,score\nfine,1\ntoo,many,fields\n")
    with pytest.raises(SentscoreError, match="line 3"):
        load_labelled(ragged)


def test_formula_cells_are_neutralised_for_spreadsheets_and_numbers_kept(tmp_path):
    import pandas as pd

    from sentscore.data import write_table

    frame = pd.DataFrame(
        {"sentence": ['=HYPERLINK("http://x")', "+1+2", "@SUM(A1)", "-2", "fine"], "score": [1, 2, 3, 4, 5]}
    ).astype({"sentence": object})
    write_table(frame, tmp_path / "safe.csv", safe_for_spreadsheets=True)
    write_table(frame, tmp_path / "raw.csv")
    safe = pd.read_csv(tmp_path / "safe.csv", dtype=str)["sentence"].tolist()
    assert safe == ['\'=HYPERLINK("http://x")', "'+1+2", "'@SUM(A1)", "-2", "fine"]
    assert pd.read_csv(tmp_path / "raw.csv", dtype=str)["sentence"].tolist()[0] == '=HYPERLINK("http://x")'
