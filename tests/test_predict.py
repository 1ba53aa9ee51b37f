import json

import numpy as np
import pandas as pd
import pytest

from sentscore import Scorer
from sentscore.errors import SentscoreError

SENTENCES = ["the food was great", "a terrible, dirty room " * 30, "ok", "the staff were rude and the film awful"]


def test_predictions_keep_input_order_and_do_not_depend_on_batching(trained_tiny_dir):
    scorer = Scorer.load(trained_tiny_dir, backend="torch", batch_size=2)
    batched = scorer.predict_proba(SENTENCES)
    one_by_one = np.vstack([scorer.predict_proba([s]) for s in SENTENCES])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert batched.shape == (4, 5)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-5)


def test_blank_texts_are_refused_not_scored(trained_tiny_dir):
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    with pytest.raises(SentscoreError, match=r"texts\[1, 2\] are blank"):
        scorer.predict(["fine", "", " \t"])


def test_prediction_fields(trained_tiny_dir):
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    prediction = scorer.predict("the food was great")[0]
    assert prediction.score in {1, 2, 3, 4, 5}
    assert prediction.confidence == pytest.approx(max(prediction.probs.values()))
    expected = sum(int(k) * p for k, p in prediction.probs.items())
    assert prediction.expected_score == pytest.approx(expected, abs=1e-5)
    assert set(prediction.to_dict(with_probs=True)) == {"score", "confidence", "expected_score", "probs"}


def test_tokenizer_matches_transformers_and_truncates_at_training_length(trained_tiny_dir):
    from transformers import AutoTokenizer

    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    reference = AutoTokenizer.from_pretrained(str(trained_tiny_dir))
    for sentence in SENTENCES:
        ours = scorer._tokenizer.encode(sentence).ids
        theirs = reference(sentence, truncation=True, max_length=32)["input_ids"]
        assert ours == theirs
    assert len(scorer._tokenizer.encode(SENTENCES[1]).ids) == 32


def test_logits_match_the_transformers_model(trained_tiny_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(trained_tiny_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(trained_tiny_dir))
    # training calibrated the probabilities, and the temperature is in the classifier's weights
    calibration = json.loads((trained_tiny_dir / "sentscore.json").read_text())["calibration"]
    assert calibration["temperature"] != 1.0 and calibration["in_weights"]
    with torch.inference_mode():
        inputs = tokenizer(SENTENCES, truncation=True, max_length=32, padding=True, return_tensors="pt")
        reference = model(**inputs).logits.softmax(-1).numpy()
    np.testing.assert_allclose(
        Scorer.load(trained_tiny_dir, backend="torch").predict_proba(SENTENCES), reference, atol=1e-5
    )


def write_table_as(path, frame):
    """``frame`` written in the format of ``path``'s suffix (text: its sentences, one a line)."""
    if path.suffix == ".txt":
        path.write_text("\n".join(frame["sentence"]) + "\n")
    elif path.suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in frame.to_dict("records")))
    else:
        frame.to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".txt"])
def test_score_file_keeps_order_and_columns(trained_tiny_dir, tmp_path, suffix):
    frame = pd.DataFrame({"id": ["007", "2", "3", "4"], "sentence": SENTENCES})
    source = write_table_as(tmp_path / f"in{suffix}", frame)
    out = tmp_path / "out.csv"
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    scorer.score_file(source, out, with_probs=True, show_progress=False)
    written = pd.read_csv(out, dtype={"id": str})
    assert written["sentence"].tolist() == SENTENCES
    if suffix != ".txt":
        assert written["id"].tolist() == ["007", "2", "3", "4"]
    expected = [p.score for p in scorer.predict(SENTENCES)]
    assert written["score"].tolist() == expected
    assert {"confidence", "expected_score", "prob_1", "prob_5"} <= set(written.columns)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_labelled_or_scored_file_keeps_its_own_columns_beside_the_new_scores(
    trained_tiny_dir, tmp_path, suffix, caplog
):
    given = ["5", "1", "4", "2"]
    frame = pd.DataFrame({"sentence": SENTENCES, "score": given, "input_score": ["a", "b", "c", "d"]})
    frame["confidence"] = "high"
    source, out = write_table_as(tmp_path / f"in{suffix}", frame), tmp_path / f"out{suffix}"
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    with caplog.at_level("WARNING"):
        scorer.score_file(source, out, show_progress=False, chunk_rows=3)
    read = pd.read_json(out, lines=True, dtype=False) if suffix == ".jsonl" else pd.read_csv(out, dtype=str)
    assert read.columns.tolist() == [
        "sentence", "input_input_score", "input_score", "input_confidence", "score", "confidence", "expected_score"
    ]  # fmt: skip
    assert read["input_input_score"].tolist() == given  # "input_score" was taken: the file's own stays as it is
    assert read["input_score"].tolist() == ["a", "b", "c", "d"]
    assert read["input_confidence"].tolist() == ["high"] * 4
    assert [str(s) for s in read["score"]] == [str(p.score) for p in scorer.predict(SENTENCES)]
    assert caplog.text.count("kept the file's own") == 1  # said once, not once a chunk
    assert "'score' as 'input_input_score', 'confidence' as 'input_confidence'" in caplog.text


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".txt"])
@pytest.mark.parametrize("blank_rows", ["skip", "drop"])
def test_score_file_in_chunks_writes_what_one_pass_writes(trained_tiny_dir, tmp_path, suffix, blank_rows):
    texts = [f"{SENTENCES[i % 4]} {i}" if i % 5 else "" for i in range(23)]  # a text file's blank line is a row
    frame = pd.DataFrame({"id": [str(i) for i in range(23)], "sentence": texts})
    source = write_table_as(tmp_path / f"in{suffix}", frame)
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    written = ".csv" if suffix == ".txt" else suffix  # a scored table is CSV, TSV or JSONL
    whole, chunked = tmp_path / f"whole{written}", tmp_path / f"chunked{written}"
    found = scorer.score_file(source, whole, with_probs=True, show_progress=False, blank_rows=blank_rows)
    again = scorer.score_file(
        source, chunked, with_probs=True, show_progress=False, blank_rows=blank_rows, chunk_rows=4
    )
    assert chunked.read_bytes() == whole.read_bytes()
    assert found == again and found.rows == 23
    assert found.blank == [0, 5, 10, 15, 20]
    read = pd.read_json(chunked, lines=True, dtype=False) if suffix == ".jsonl" else pd.read_csv(chunked)
    assert len(read) == (18 if blank_rows == "drop" else 23)
    scored = [t for t in texts if t]
    assert [s for s in read["score"].tolist() if s == s and s is not None] == [p.score for p in scorer.predict(scored)]


def test_score_file_in_two_worker_processes_writes_what_one_process_writes(trained_tiny_dir, tmp_path):
    texts = [f"{SENTENCES[i % 4]} {i}" if i % 7 else "" for i in range(30)]
    source = write_table_as(tmp_path / "in.csv", pd.DataFrame({"id": range(30), "sentence": texts}))
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    scorer.score_file(source, one, with_probs=True, show_progress=False, chunk_rows=8)
    found = scorer.score_file(source, two, with_probs=True, show_progress=False, chunk_rows=8, workers=2)
    assert found.rows == 30 and found.blank == [0, 7, 14, 21, 28]
    pd.testing.assert_frame_equal(pd.read_csv(two), pd.read_csv(one), atol=1e-5)


def test_score_file_checks_the_whole_file_before_scoring(trained_tiny_dir, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id,sentence\n" + "".join(f"{i},fine {i}\n" for i in range(40)) + "41,fine,too many\n")
    with pytest.raises(SentscoreError, match="could not be parsed as CSV: .* Expected 2 fields in line 42"):
        Scorer.load(trained_tiny_dir, backend="torch").score_file(source, out, show_progress=False, chunk_rows=8)
    assert not out.exists() and list(tmp_path.iterdir()) == [source]


def test_score_file_refuses_to_overwrite_its_input(trained_tiny_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("sentence\nhello\n")
    with pytest.raises(SentscoreError, match="is the input file"):
        Scorer.load(trained_tiny_dir, backend="torch").score_file(source, source, show_progress=False)


def test_a_batch_size_below_one_is_refused_with_its_value(trained_tiny_dir):
    with pytest.raises(SentscoreError, match="the batch size must be at least 1, got 0"):
        Scorer.load(trained_tiny_dir, backend="torch", batch_size=0)


def test_missing_and_incomplete_model_directories(trained_tiny_dir, tmp_path):
    with pytest.raises(SentscoreError, match="Model directory not found"):
        Scorer.load(tmp_path / "nope")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((trained_tiny_dir / "config.json").read_text())
    with pytest.raises(SentscoreError, match="missing model.safetensors, tokenizer.json"):
        Scorer.load(partial)
    import shutil

    unexported = shutil.copytree(trained_tiny_dir, tmp_path / "unexported", ignore=shutil.ignore_patterns("*.onnx"))
    with pytest.raises(SentscoreError, match="no exported ONNX model"):
        Scorer.load(unexported, backend="onnx")


def test_evaluate_reports_metrics_and_worst_mistakes(trained_tiny_dir, labelled_csv):
    from sentscore import evaluate

    report = evaluate(trained_tiny_dir, labelled_csv, worst=3, backend="torch")
    assert report["metrics"]["n"] == 60
    mistakes = report["worst_mistakes"]
    assert len(mistakes) <= 3
    errors = [m["error"] for m in mistakes]
    assert errors == sorted(errors, reverse=True)
    for m in mistakes:
        assert abs(m["predicted"] - m["true"]) == m["error"] > 0
    assert report["long_texts"] == {"count": 0, "max_length": 32, "scored": "windows"}


def test_evaluate_counts_the_texts_longer_than_max_length(trained_tiny_dir, tmp_path):
    from sentscore import evaluate

    data = tmp_path / "long.csv"
    data.write_text("sentence,score\n" + "great food,5\n" * 3 + ("awful room " * 40 + ",1\n") * 2)
    report = evaluate(trained_tiny_dir, data, backend="torch", long_texts="truncate")
    assert report["long_texts"] == {"count": 2, "max_length": 32, "scored": "truncate"}


@pytest.mark.parametrize("blank_rows", ["skip", "drop", "fail"])
def test_blank_rows_in_a_file_are_skipped_dropped_or_refused(trained_tiny_dir, tmp_path, blank_rows, caplog):
    source = tmp_path / "in.csv"
    source.write_text('id,sentence\n1,the food was great\n2,\n3,"  "\n4,awful room\n')
    out = tmp_path / "out.csv"
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    if blank_rows == "fail":
        with pytest.raises(SentscoreError, match=r"blank 'sentence' in rows 3, 4"):
            scorer.score_file(source, out, show_progress=False, blank_rows=blank_rows)
        assert not out.exists()
        return
    with caplog.at_level("WARNING", logger="sentscore.data"):
        rows = scorer.score_file(source, out, show_progress=False, blank_rows=blank_rows)
    assert rows.blank == [1, 2] and "rows 3, 4 have a blank 'sentence'" in caplog.text
    written = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)
    expected = [p.score for p in scorer.predict(["the food was great", "awful room"])]
    if blank_rows == "skip":
        assert written["id"].tolist() == ["1", "2", "3", "4"]
        assert written["score"].tolist() == [str(expected[0]), "", "", str(expected[1])]
    else:
        assert written["id"].tolist() == ["1", "4"] and written["score"].astype(int).tolist() == expected


def test_the_cli_says_which_rows_were_skipped_and_exits_3(trained_tiny_dir, tmp_path):
    from .test_cli import run

    source = tmp_path / "in.txt"
    source.write_text("the food was great\nawful room\n")
    (tmp_path / "in.csv").write_text("sentence\ngreat\n\nfine\n")
    result = run("predict", trained_tiny_dir, "--input", tmp_path / "in.csv", "--output", tmp_path / "o.csv", "-q")
    assert result.returncode == 3, result.stderr
    assert "1 row with a blank text was left with empty score cells" in result.stderr
    assert run("predict", trained_tiny_dir, "--input", source, "--output", tmp_path / "o2.csv", "-q").returncode == 0


def test_long_texts_are_scored_from_windows_and_short_ones_as_before(trained_tiny_dir):
    from sentscore.model.folder import TOKENIZER_FILE
    from sentscore.scoring.backends import load_tokenizer, window_overlap

    loaded = Scorer.load(trained_tiny_dir, backend="torch")  # max_length 32
    tokenizer = load_tokenizer(loaded.folder.file(TOKENIZER_FILE), 32, window_overlap(32))
    great = tokenizer.encode("great", add_special_tokens=False).ids[0]

    def run(batch):  # a model that gives score 5 to a window as much as it says "great"
        share = (batch["input_ids"] == great).sum(axis=1) / batch["attention_mask"].sum(axis=1)
        return np.stack([np.zeros_like(share)] * 4 + [200 * share], axis=1).astype(np.float32)

    def scorer(long_texts):
        return Scorer(loaded.folder, loaded.objective, tokenizer, run, "fake", 64, long_texts)

    windows, truncate = scorer("windows"), scorer("truncate")
    short = ["the food was great", "awful room"]
    np.testing.assert_array_equal(windows.predict_proba(short), truncate.predict_proba(short))
    long = "the room was small and the view was dull " * 5 + "great great great great"
    assert windows.long_text_count([*short, long]) == 1 and truncate.long_text_count([long]) == 1
    by_windows, by_start = windows.predict_proba([long])[0], truncate.predict_proba([long])[0]
    assert by_windows.sum() == pytest.approx(1.0, abs=1e-5)
    assert by_start[4] == pytest.approx(0.2, abs=1e-6)  # its start never says "great"
    assert by_windows[4] > by_start[4] + 0.1  # its end counts too
    real = Scorer.load(trained_tiny_dir, backend="torch")
    assert real.predict_proba([long]).shape == (1, 5)


def test_windows_are_averaged_by_the_tokens_they_read():
    from types import SimpleNamespace

    from sentscore.scoring.scorer import combine_windows

    def window(tokens):
        return SimpleNamespace(attention_mask=[1] * (tokens + 2))  # and [CLS], [SEP]

    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    combined = combine_windows(probs, [[window(30), window(10)], [window(4)]])
    np.testing.assert_allclose(combined, [[0.75, 0.25], [0.5, 0.5]])


def test_an_unknown_long_texts_choice_is_refused(trained_tiny_dir):
    with pytest.raises(SentscoreError, match="Unknown long_texts 'cut'"):
        Scorer.load(trained_tiny_dir, backend="torch", long_texts="cut")


# ---- the device the torch backend scores on ------------------------------------------------------------------


def test_a_gpu_asked_for_or_found_scores_with_the_torch_backend_and_onnx_stays_on_the_cpu(monkeypatch):
    from sentscore.model import loading
    from sentscore.scoring.backends import scoring_backend

    assert scoring_backend("auto", "cpu") == ("auto", "cpu")  # the default: the export when there is one
    monkeypatch.setattr(loading, "pick_device", lambda requested: "cuda")  # as on a machine with a GPU
    assert scoring_backend("auto", "cuda") == ("torch", "cuda")
    assert scoring_backend("auto", "auto") == ("torch", "cuda")
    assert scoring_backend("onnx", "auto") == ("onnx", "cpu")
    with pytest.raises(SentscoreError, match="ONNX backend scores on the CPU") as error:
        scoring_backend("onnx", "cuda")
    assert "--backend torch --device cuda" in error.value.hint
    assert scoring_backend("openvino", "auto") == ("openvino", "cpu")
    with pytest.raises(SentscoreError, match="OpenVINO backend scores on the CPU"):
        scoring_backend("openvino", "cuda")
    with pytest.raises(SentscoreError, match="Unknown device 'gpu'"):
        scoring_backend("auto", "gpu")


def test_device_auto_on_a_machine_without_a_gpu_scores_on_the_cpu_as_before(trained_tiny_dir):
    texts = ["the food was great and lovely", "the room was dirty"]
    auto = Scorer.load(trained_tiny_dir, backend="torch", device="auto")
    assert auto.device == "cpu"
    np.testing.assert_array_equal(
        auto.predict_proba(texts), Scorer.load(trained_tiny_dir, backend="torch").predict_proba(texts)
    )


def test_the_cli_refuses_a_gpu_it_cannot_see_and_workers_on_a_gpu(trained_tiny_dir, tmp_path):
    import torch

    from .test_cli import assert_user_error, run

    if not torch.cuda.is_available():
        refused = run("predict", str(trained_tiny_dir), "--device", "cuda", "a sentence")
        assert_user_error(refused, "no CUDA GPU is visible to torch")
    source = tmp_path / "in.csv"
    source.write_text("sentence\na\n")
    refused = run("predict", str(trained_tiny_dir), "--device", "cuda", "--workers", "2", "--input", str(source))
    assert_user_error(refused, "--workers and --engine ray score in CPU processes")


# ---- OpenVINO without its conversion tools -------------------------------------------------------------------

#: Run as `python - FOLDER`: `sentscore predict --backend openvino FOLDER "..."` as the CLI runs it; on its way
#: out, which OpenVINO modules the process had loaded and how many times it forked.
CLI_OPENVINO_MODULES = """
import json, os, sys
forks = []
os.register_at_fork(before=lambda: forks.append(1))
end = os._exit

def reporting_end(code):
    loaded = sorted(name for name, module in sys.modules.items() if name.startswith("openvino") and module)
    print(json.dumps({"loaded": loaded, "forks": len(forks)}), file=sys.stderr, flush=True)
    end(code)

os._exit = reporting_end
sys.argv = ["sentscore", "predict", "--backend", "openvino", sys.argv[1], "the food was great"]
from sentscore.cli.main import run
run()
"""


def test_the_cli_loads_openvino_without_its_conversion_tools_or_their_telemetry(trained_tiny_dir, tmp_path):
    """`import openvino` imports its model conversion tools, whose import sends a usage event from a forked
    process; the CLI never converts a model, so it loads the runtime alone."""
    import os
    import subprocess
    import sys

    from sentscore.scoring.openvino_backend import OPENVINO_TOOLS, openvino_installed

    if not openvino_installed():
        pytest.skip("OpenVINO is not installed (the openvino extra)")
    env = {**os.environ, "CI": "true"}  # should the tools load after all, their telemetry stays off (as in CI)
    plain = subprocess.run(
        [sys.executable, "-c", "import openvino, sys; print(sorted(sys.modules))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert OPENVINO_TOOLS in plain.stdout and "openvino_telemetry" in plain.stdout  # what the CLI leaves out
    cli = subprocess.run(
        [sys.executable, "-", str(trained_tiny_dir)],
        input=CLI_OPENVINO_MODULES,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("Score: ")
    seen = json.loads(cli.stderr.strip().splitlines()[-1])
    assert "openvino" in seen["loaded"] and "openvino._pyopenvino" in seen["loaded"]  # it scored on OpenVINO
    assert not [name for name in seen["loaded"] if name.startswith((OPENVINO_TOOLS, "openvino_telemetry"))]
    assert seen["forks"] == 0


def test_openvino_is_imported_with_its_tools_where_a_release_cannot_do_without_them(tmp_path):
    import os
    import subprocess
    import sys

    fake = {
        "needs": "from openvino.tools.ovc import convert_model\n",
        "skips": "try:\n    from openvino.tools.ovc import convert_model\nexcept ImportError:\n    pass\n",
    }
    found = {}
    for release, init in fake.items():
        package = tmp_path / release / "openvino"
        (package / "tools" / "ovc").mkdir(parents=True)
        (package / "__init__.py").write_text(init)
        (package / "tools" / "__init__.py").write_text("")
        (package / "tools" / "ovc" / "__init__.py").write_text("convert_model = 'converts'\n")
        script = (
            "from sentscore.scoring.openvino_backend import import_openvino, openvino_runtime_only\n"
            "openvino_runtime_only()\n"
            "print(getattr(import_openvino(), 'convert_model', 'left out'))\n"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / release), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        found[release] = done.stdout.strip()
    assert found == {"needs": "converts", "skips": "left out"}
