"""Every input accounted for: on every entry point, each sentence given gets exactly one answer, in order, or a
refusal naming it; a blank or missing one is never scored."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import sys

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentscore import Scorer
from sentscore.cli.main import main
from sentscore.data import load_labelled, read_table
from sentscore.errors import SentscoreError

from .test_cli import run

POOL = ["Great food.", "Awful service.", "Ok I guess.", "the staff were rude", "a lovely, quiet room"]
BLANKS = ["", " ", "\t"]
MISSING = [None, float("nan"), pd.NA, np.nan]


@pytest.fixture(scope="module")
def scorer(trained_tiny_dir):
    return Scorer.load(trained_tiny_dir)  # the backend the CLI and the server pick: the ONNX export


@pytest.fixture(scope="module")
def alone(scorer):
    """Each pool sentence's score, scored on its own."""
    return {sentence: scorer.predict([sentence])[0].score for sentence in POOL}


def blank(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or not value.strip()


mixed = st.lists(st.sampled_from(POOL) | st.sampled_from(BLANKS) | st.sampled_from(MISSING), min_size=1, max_size=8)
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def piped(data: str | bytes) -> io.TextIOWrapper:
    """A standard input as a pipe gives it: text over bytes (UTF-8 for a str)."""
    return io.TextIOWrapper(io.BytesIO(data.encode("utf-8") if isinstance(data, str) else data))


def in_process(argv: list[str], stdin: str | bytes | None = None) -> tuple[int, list[str], str]:
    """``sentscore ARGV`` run in this process: its exit code, its standard output's lines and its standard error."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = piped(stdin) if stdin is not None else saved
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        sys.stdin = saved
    return code, out.getvalue().splitlines(), err.getvalue()


# --- 1. Blank lines of plain text and standard input keep their place -------------------------------------


def test_blank_lines_of_standard_input_get_an_empty_answer_in_their_place(trained_tiny_dir, alone):
    piped = "Great food.\n\nAwful service.\n\nOk I guess.\n"
    result = subprocess_predict(trained_tiny_dir, piped, "-q")
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [str(alone["Great food."]), "", str(alone["Awful service."]), "", str(alone["Ok I guess."])]
    assert "lines 2, 4 of 5 are blank: not scored" in result.stderr
    shown = subprocess_predict(trained_tiny_dir, piped).stdout.splitlines()
    assert shown[1] == "Score: -\t" and shown[2].startswith("Score: ") and len(shown) == 5
    refused = subprocess_predict(trained_tiny_dir, piped, "--blank-rows", "fail")
    assert refused.returncode == 2 and "lines 2, 4 are blank (2 of 5)" in refused.stderr and not refused.stdout
    dropped = subprocess_predict(trained_tiny_dir, piped, "-q", "--blank-rows", "drop")
    assert dropped.returncode == 3 and len(dropped.stdout.splitlines()) == 3


def subprocess_predict(model_dir, stdin: str, *flags):
    import os
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "sentscore", "predict", str(model_dir), "-", *flags],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )


def test_a_text_file_with_blank_lines_is_scored_line_for_line(trained_tiny_dir, tmp_path, alone):
    gaps = tmp_path / "gaps.txt"
    gaps.write_text("Great food.\n\nAwful service.\n\nOk I guess.\n")
    result = run("predict", trained_tiny_dir, "--input", gaps, "--output", tmp_path / "out.csv", "-q")
    assert result.returncode == 3, result.stderr
    assert "lines 2, 4 are blank" in " ".join(result.stderr.split())
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype=str)
    assert len(written) == 5 and written["sentence"].tolist()[1::2] == ["", ""]
    scores = [str(alone["Great food."]), "", str(alone["Awful service."]), "", str(alone["Ok I guess."])]
    assert written["score"].tolist() == scores


def test_a_blank_command_line_sentence_gets_an_empty_answer_and_exit_3(trained_tiny_dir, alone):
    code, lines, err = in_process(["predict", str(trained_tiny_dir), "Great food.", "  ", "--json"])
    assert code == 3 and "sentence 2 of 2 is blank" in err
    assert '"score": null' in lines[1] and '"blank": true' in lines[1]
    code, _, err = in_process(["predict", str(trained_tiny_dir), "Great food.", "", "--blank-rows", "fail"])
    assert code == 2 and "sentence 2 is blank" in err and "unset shell variable" in err


# --- 2. Missing values in Python are blank rows, not the strings "None" and "nan" -------------------------


def test_missing_values_are_refused_by_default_and_never_scored(scorer):
    with pytest.raises(SentscoreError, match=r"texts\[1, 2\] are blank \(2 of 3\)"):
        scorer.predict(["Great food.", None, float("nan")])
    with pytest.raises(SentscoreError, match=r"texts\[0\] is blank"):
        scorer.explain([None])  # was a raw TypeError
    with pytest.raises(SentscoreError, match=r"texts\[0\] is blank"):
        scorer.predict([""])
    predictions = scorer.predict(["Great food.", None, float("nan")], blank_rows="skip")
    assert [p.blank for p in predictions] == [False, True, True]
    assert predictions[1].to_dict() == {"score": None, "confidence": None, "expected_score": None, "blank": True}
    assert scorer.explain([None, "Great food."], blank_rows="skip")[0] is None
    assert len(scorer.predict(["Great food.", None], blank_rows="drop")) == 1


def test_values_that_are_not_text_are_refused_naming_their_place(scorer):
    with pytest.raises(SentscoreError, match=r"texts\[1\] is not text \(float 3.5\)"):
        scorer.predict(["Great food.", 3.5])
    with pytest.raises(SentscoreError, match=r"texts\[0, 2\] are not text \(int 7 first\)"):
        scorer.predict_proba([7, "fine", b"bytes"])
    with pytest.raises(SentscoreError, match="must be a string or a list of strings, got int"):
        scorer.predict(5)


def test_a_single_string_is_one_sentence_everywhere(scorer):
    assert scorer.predict_proba("Great food.").shape == (1, 5)  # was one row per character
    assert len(scorer.explain("Great food.")) == 1 and len(scorer.predict("Great food.")) == 1


# --- The property: count and order on every entry point ---------------------------------------------------


@PROPERTY
@given(values=mixed, container=st.sampled_from(["list", "tuple", "series", "array"]))
def test_python_gives_one_answer_per_value_in_order(scorer, alone, values, container):
    given_as = {
        "list": list,
        "tuple": tuple,
        "series": lambda v: pd.Series(v, dtype=object),
        "array": lambda v: np.array(v, dtype=object),
    }[container](values)
    predictions = scorer.predict(given_as, blank_rows="skip")
    assert len(predictions) == len(values)
    for value, prediction in zip(values, predictions, strict=True):
        assert prediction.blank == blank(value)
        assert prediction.blank or prediction.score == alone[value]
    probs = scorer.predict_proba(given_as, blank_rows="skip")
    assert np.isnan(probs).any(axis=1).tolist() == [blank(v) for v in values]
    kept = scorer.predict_proba(given_as, blank_rows="drop")
    assert len(kept) == sum(not blank(v) for v in values)
    if any(blank(v) for v in values):
        with pytest.raises(SentscoreError, match="blank"):
            scorer.predict(given_as)


def as_text(value) -> str:
    """What a value becomes on the command line or in a file: a missing one is empty."""
    return "" if value is None or value is pd.NA or isinstance(value, float) else value


@PROPERTY
@given(values=mixed, how=st.sampled_from(["arguments", "stdin"]))
def test_the_command_line_gives_one_line_per_sentence_in_order(trained_tiny_dir, alone, values, how):
    texts = [as_text(v) for v in values]
    if how == "stdin":
        code, lines, _ = in_process(["predict", str(trained_tiny_dir), "-", "-q"], "\n".join(texts) + "\n")
    else:
        code, lines, _ = in_process(["predict", str(trained_tiny_dir), "-q", "--", *texts])
    assert code == (3 if any(blank(t) for t in texts) else 0)
    assert lines == ["" if blank(t) else str(alone[t]) for t in texts]


@PROPERTY
@given(values=mixed, suffix=st.sampled_from([".txt", ".csv", ".jsonl"]))
def test_a_file_gives_one_row_per_row_in_order(scorer, alone, tmp_path, values, suffix):
    source, out = tmp_path / f"in{suffix}", tmp_path / "out.csv"
    texts = [as_text(v) for v in values]
    if suffix == ".txt":
        source.write_text("".join(t + "\n" for t in texts))
    elif suffix == ".csv":
        pd.DataFrame({"sentence": texts}).to_csv(source, index=False)
    else:
        pd.DataFrame({"sentence": values}).to_json(source, orient="records", lines=True)  # None/NaN as null
    found = scorer.score_file(source, out, show_progress=False)
    assert found.rows == len(values) and found.blank == [i for i, t in enumerate(texts) if blank(t)]
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)["score"].tolist()
    assert scores == ["" if blank(t) else str(alone[t]) for t in texts]


@pytest.fixture(scope="module")
def client(scorer):
    from sentscore.serve.app import ServeSettings, create_app

    with TestClient(create_app(scorer, ServeSettings(max_wait_ms=1)), raise_server_exceptions=False) as test_client:
        yield test_client


@PROPERTY
@given(values=mixed)
def test_the_http_api_answers_each_sentence_in_order_or_names_the_blank_ones(client, alone, values):
    texts = [as_text(v) for v in values]
    response = client.post("/v1/score", json={"sentences": texts})
    if any(blank(t) for t in texts):
        assert response.status_code == 422
        named = [i for i, t in enumerate(texts) if blank(t)][:10]
        assert str(named) in response.text
    else:
        assert [r["score"] for r in response.json()["results"]] == [alone[t] for t in texts]


# --- 9. Small silent changes -----------------------------------------------------------------------------


def test_a_header_naming_a_column_twice_is_refused_not_renamed(scorer, tmp_path):
    source = tmp_path / "twice.csv"
    source.write_text("sentence,id,sentence\nGreat food.,1,Awful service.\n")
    with pytest.raises(SentscoreError, match=r"names column 'sentence' twice \(columns 1 and 3\)"):
        scorer.score_file(source, tmp_path / "out.csv", show_progress=False)


def test_a_first_row_longer_than_the_header_is_refused_not_shifted(scorer, tmp_path):
    """pandas takes such a row's first field for an index: every column moved left, the scores scored as text."""
    source = tmp_path / "unquoted.csv"
    source.write_text("sentence,score\nGreat food, really,5\nAwful.,1\n")
    with pytest.raises(SentscoreError, match="row 2 has 3 fields, but the header names 2 columns"):
        scorer.score_file(source, tmp_path / "out.csv", show_progress=False)
    from sentscore import evaluate

    with pytest.raises(SentscoreError, match="row 2 has 3 fields"):
        evaluate(scorer.model_dir, source, scorer=scorer)
    assert not (tmp_path / "out.csv").exists()
    one_column = tmp_path / "sentences.csv"  # "Great food" the index, " really" the sentence
    one_column.write_text("sentence\nGreat food, really\nAwful.\n")
    with pytest.raises(SentscoreError) as refused:
        scorer.score_file(one_column, tmp_path / "out.csv", show_progress=False)
    assert refused.value.message.endswith("row 2 has 2 fields, but the header names 1 column")
    assert "name the file .txt" in refused.value.hint


def test_a_stray_quote_is_refused_not_joining_rows(scorer, tmp_path):
    """pandas joins the lines between a quote that opens a field and one that closes it lines later into one row
    (a row lost, its text and score wrong), and drops a quote that ends a field early ("Great" food)."""
    joined = tmp_path / "joined.csv"
    joined.write_text('sentence,score\n"half,2\nlast" one,4\nfinal,1\n')
    with pytest.raises(SentscoreError, match="on line 3 a quoted field is followed by more text"):
        scorer.score_file(joined, tmp_path / "out.csv", show_progress=False)
    early = tmp_path / "early.tsv"
    early.write_text('sentence\tscore\n"Great" food\t5\n')
    with pytest.raises(SentscoreError, match="on line 2 a quoted field is followed by more text") as refused:
        load_labelled(early)
    assert '"""Great"" food"' in refused.value.hint
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('sentence\n"never closed\nfine\n')
    with pytest.raises(SentscoreError, match="a quoted field is never closed"):
        scorer.score_file(unclosed, tmp_path / "out.csv", show_progress=False)
    fine = tmp_path / "fine.csv"  # what the rules allow still reads: quotes inside, doubled quotes, line breaks
    fine.write_text('sentence\nHe said "hi" loudly\n"ok ""quoted"" fine"\n"two\nlines"\n')
    assert read_table(fine)["sentence"].tolist() == ['He said "hi" loudly', 'ok "quoted" fine', "two\nlines"]


def test_json_lines_values_come_back_as_they_went_in(scorer, tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    records = [
        {"id": 1, "sentence": "Great food.", "meta": {"stars": 5}, "ok": True},
        {"id": 2, "sentence": None, "meta": None, "ok": False},
        {"id": 3, "sentence": "Awful service.", "meta": [1, 2], "ok": None, "code": "007"},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    scorer.score_file(source, out, show_progress=False)
    back = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in back] == [1, 2, 3]  # integers, not "1"
    assert back[0]["meta"] == {"stars": 5} and back[2]["meta"] == [1, 2] and back[0]["ok"] is True
    assert back[2]["code"] == "007" and back[1]["score"] is None and isinstance(back[0]["score"], int)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence": "fine"}\n{"sentence": "unclosed\n')
    with pytest.raises(SentscoreError, match=r"bad.jsonl: line 2 is not valid JSON"):
        scorer.score_file(bad, tmp_path / "o.jsonl", show_progress=False)


def test_a_validation_file_missing_levels_is_warned_of_in_the_dry_run(tiny_model_dir, tmp_path):
    from .conftest import synthetic_rows, write_csv

    write_csv(tmp_path / "train.csv", synthetic_rows(6))
    write_csv(tmp_path / "dev.csv", [("the food was great", 5), ("the room was awful", 1)])
    config = {"model_name": str(tiny_model_dir), "train_file": "train.csv", "validation_file": "dev.csv"}
    (tmp_path / "config.json").write_text(json.dumps({**config, "max_length": 32}))
    code, _, err = in_process(["train", "--config", str(tmp_path / "config.json"), "--dry-run"])
    said = " ".join(err.split())
    assert code == 0 and "No validation rows have the score(s) 2, 3, 4 (2 validation rows in all)" in said


# --- 8. Hints in the words of the place the user speaks from ---------------------------------------------


def test_a_missing_column_is_hinted_in_the_words_of_each_place(scorer, trained_tiny_dir, tmp_path, client):
    source = tmp_path / "reviews.csv"
    source.write_text("review\nGreat food.\n")
    with pytest.raises(SentscoreError) as python:
        scorer.score_file(source, tmp_path / "out.csv", show_progress=False)
    assert "text_column= / score_column=" in python.value.hint and "--" not in python.value.hint
    code, _, err = in_process(["predict", str(trained_tiny_dir), "--input", str(source), "--output", "o.csv"])
    said = " ".join(err.split())
    assert code == 2 and "--text-column (config key text_column)" in said
    response = client.post("/v1/score-file", files={"file": ("reviews.csv", b"review\nGreat food.\n")})
    assert response.status_code == 422 and "the field text_column" in response.text


def test_a_trained_models_scale_is_not_a_labels_list_to_extend(scorer, tmp_path):
    from sentscore import evaluate

    source = tmp_path / "ten.csv"
    source.write_text("sentence,score\nGreat food.,10\nAwful.,1\n")
    with pytest.raises(SentscoreError) as info:
        evaluate(scorer.model_dir, source, scorer=scorer)
    assert "The levels of the model are 1, 2, 3, 4, 5" in info.value.hint and "'labels' list" not in info.value.hint


# --- 10. Text that is not UTF-8 is refused where it comes in, never a crash in the tokenizer ----------------


def test_bytes_that_are_not_utf8_are_refused_naming_their_place_on_every_path(scorer, trained_tiny_dir, tmp_path):
    model = str(trained_tiny_dir)
    code, lines, err = in_process(["predict", model, "-"], stdin=b"Great food.\n\xff\xfe awful\n")
    assert code == 2 and not lines and "Standard input is not valid UTF-8 text: line 2 (byte 12)" in err
    assert "Traceback" not in err and "Unexpected error" not in err
    # An argument with such bytes (Linux hands them to Python as lone surrogates): named, not a TypeError.
    code, lines, err = in_process(["predict", model, "Great food.", "ok \udcff"])
    assert code == 2 and not lines and "sentence 2 is not valid text: it holds '\\udcff'" in err
    with pytest.raises(SentscoreError, match=r"texts\[1\] is not valid text"):
        scorer.predict(["Great food.", "x \ud800"])
    escaped = tmp_path / "escaped.jsonl"
    escaped.write_text('{"sentence": "Great food."}\n{"sentence": "x \\ud800"}\n')
    with pytest.raises(SentscoreError, match="line 2's 'sentence' is not valid text"):
        scorer.score_file(escaped, tmp_path / "out.csv", show_progress=False)


def test_standard_input_is_read_as_utf8_whatever_the_locale(trained_tiny_dir):
    """As files are: a Windows console's code page (here Latin-1 for Python's streams) does not turn "café"
    into "cafÃ©" on the way in."""
    import os
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "sentscore", "predict", str(trained_tiny_dir), "-"],
        input="\ufeffcafé\r\nthé\n".encode(),
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "latin-1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    shown = [line.split("\t")[1] for line in result.stdout.decode("latin-1").splitlines()]
    assert shown == ["café", "thé"]


def test_the_http_api_refuses_half_a_surrogate_pair_per_request_not_per_batch(client):
    """JSON can spell one ("\\ud800"); refused with the request's own positions, before any batch."""
    body = b'{"sentences": ["Great food.", "x \\ud800"]}'
    response = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "sentence [1] (counted from 0) is not valid text" in response.json()["error"]


def test_a_json_lines_files_records_are_named_by_their_line_in_the_file(scorer, tmp_path, caplog):
    """No header row, and blank lines are no records: "row N" as for a table would point past the record."""
    from sentscore import evaluate

    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"sentence": "Great food.", "score": 5}\n\n{"sentence": "Awful.", "score": "x"}\n')
    with pytest.raises(SentscoreError, match="labelled.jsonl: line 3 has 'score' values"):
        evaluate(scorer.model_dir, labelled, scorer=scorer)
    labelled.write_text('{"sentence": "Great food.", "score": 5}\n\n{"sentence": "Awful.", "score": 1}\n')
    mistakes = evaluate(scorer.model_dir, labelled, scorer=scorer)["worst_mistakes"]
    lines = {"Great food.": 1, "Awful.": 3}
    assert mistakes and all(m["row"] == lines[m["sentence"]] for m in mistakes)
    to_score = tmp_path / "to_score.jsonl"
    to_score.write_text('\n{"sentence": "Great food."}\n{"sentence": null}\n')
    with caplog.at_level(logging.WARNING):
        scorer.score_file(to_score, tmp_path / "out.csv", show_progress=False, blank_rows="skip")
    assert "to_score.jsonl: line 3 has a blank 'sentence'" in caplog.text
