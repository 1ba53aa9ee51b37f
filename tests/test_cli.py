"""The command line, through a real subprocess: messages and exit codes, never a traceback."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from .conftest import synthetic_rows, write_csv
from .test_config import RECIPE


def run(*args, cwd=None, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sentscore", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in " ".join(result.stderr.split()), result.stderr


def test_help_lists_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("train", "evaluate", "predict"):
        assert command in result.stdout
    train_help = run("train", "--help").stdout
    assert "--learning-rate" in train_help and "--model-name" in train_help and "--overwrite" in train_help


def test_every_flag_of_every_command_says_what_it_does_and_its_default_once(tmp_path):
    """Help text on every flag, choices listed, no "(default: None)" after prose that gives the real default,
    and ``train --config FILE --help`` shows the file's values, not the built-in defaults."""
    import argparse

    from sentscore.cli.main import build_parser, config_for_help

    (tmp_path / "c.json").write_text(json.dumps({"eval_batch_size": 64, "device": "cpu"}))
    parser = build_parser(config_for_help(["train", "--config", str(tmp_path / "c.json"), "--help"]))
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == {"train", "tune", "evaluate", "audit", "predict", "export", "serve"}
    for name, command in commands.items():
        for action in command._actions:
            assert action.help and "(default: None)" not in action.help, (name, action.option_strings)
    flags = {a.dest: a for a in commands["train"]._actions}
    assert flags["eval_batch_size"].help.endswith("(c.json: 64)") and flags["device"].help.endswith("(c.json: cpu)")
    assert flags["train_batch_size"].help.endswith("(default: 16)")
    assert "--long-texts {windows,truncate}" in commands["serve"].format_help()
    assert "--objective {classification,ordinal,regression,ordinal_log_loss}" in commands["train"].format_help()


def test_predict_prints_scores_like_the_recipe(trained_tiny_dir):
    result = run("predict", trained_tiny_dir, "the food was great")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Score: ") and result.stdout.split()[1] in {"1", "2", "3", "4", "5"}
    several = run("predict", trained_tiny_dir, "--probs", "great", "--json", "awful")
    lines = [json.loads(line) for line in several.stdout.splitlines()]
    assert [line["sentence"] for line in lines] == ["great", "awful"]
    assert set(lines[0]["probs"]) == {"1", "2", "3", "4", "5"}


def test_predict_prints_one_shape_for_one_sentence_or_many_from_arguments_stdin_or_a_file(
    trained_tiny_dir, tmp_path, capsys, monkeypatch
):
    import io

    import pandas as pd

    from sentscore.cli.main import main

    sentences = ["the food was great", "an awful, dirty room", "fine"]

    def printed(*args: str, code: int = 0) -> list[str]:
        assert main(["predict", str(trained_tiny_dir), "--backend", "torch", *args]) == code
        return capsys.readouterr().out.splitlines()

    many = printed(*sentences)
    scores = [line.split("\t")[0].removeprefix("Score: ") for line in many]
    assert many == [f"Score: {score}\t{sentence}" for score, sentence in zip(scores, sentences, strict=True)]
    assert printed(sentences[0]) == many[:1]
    assert printed("-q", *sentences) == scores
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("\n".join(sentences) + "\n").encode())))
    assert printed("-") == many
    # a blank line keeps its place, answered empty, and the exit code says so
    lines = "\n".join(sentences[:2]) + "\n\n" + sentences[2] + "\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert printed("-", code=3) == [*many[:2], "Score: -\t", many[2]]
    (tmp_path / "in.txt").write_text("\n".join(sentences) + "\n")
    table = pd.read_csv(io.StringIO("\n".join(printed("--input", str(tmp_path / "in.txt")))))
    assert table["sentence"].tolist() == sentences and table["score"].astype(str).tolist() == scores


def test_predict_file_and_evaluate_json(trained_tiny_dir, labelled_csv, tmp_path):
    out = tmp_path / "scored.jsonl"
    result = run("predict", trained_tiny_dir, "--input", labelled_csv, "--output", out, "-q")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 60 and {"sentence", "score", "confidence", "expected_score"} <= set(rows[0])
    report_path = tmp_path / "report.json"
    result = run("evaluate", trained_tiny_dir, labelled_csv, "--output", report_path, "--worst", 2)
    assert result.returncode == 0, result.stderr
    assert "Quadratic weighted kappa" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["metrics"]["n"] == 60 and len(report["worst_mistakes"]) <= 2


def test_train_via_cli_with_flags_overriding_the_config(tiny_model_dir, tmp_path):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "dataset.csv", synthetic_rows(6))
    recipe = {**RECIPE, "model_name": str(tiny_model_dir), "max_length": 16}  # the recipe's file, tiny model
    (tmp_path / "config.json").write_text(json.dumps(recipe))
    result = run("train", "--config", "config.json", "--num-train-epochs", "1", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "models" / "sentscore.json").read_text())
    assert saved["config"]["num_train_epochs"] == 1 and saved["config"]["learning_rate"] == 2e-5
    again = run("train", "--config", "config.json", cwd=tmp_path)
    assert_user_error(again, "already holds a trained model", "--overwrite")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("text,rating\nhello,1\n", ["column", "'sentence', 'score' not found", "'text', 'rating'"]),
        ("", ["is empty"]),
        ("sentence,score\na,1\nb,good\nc,2\n", ["mixes numbers and text", "row 3"]),
        ("sentence,score\na,1\nb,2.5\n", ["fractional scores", "row 3"]),
        ("sentence,score\na,1\nb,9\n", ["num_labels is 5", "row 3"]),
        ("sentence,score\na,1\n ,2\n", ["blank 'sentence' in row 3"]),
    ],
)
def test_bad_training_data_gives_a_clear_message(tmp_path, content, fragments):
    (tmp_path / "data.csv").write_text(content)
    result = run("train", "--train-file", tmp_path / "data.csv", "--num-labels", "5", "--output-dir", tmp_path / "out")
    assert_user_error(result, "data.csv", *fragments)


def run_in_one_process(commands: list[list[str]], cwd) -> tuple[list[int], list[str], str]:
    """``main(command)`` for each command in one fresh process: the exit codes, which of torch and transformers
    the process imported, and what it wrote to standard error."""
    probe = (
        "import json, sys; from sentscore.cli.main import main;"
        "codes = [main(command) for command in json.loads(sys.argv[1])];"
        "print(json.dumps([codes, sorted(m for m in ('torch', 'transformers') if m in sys.modules)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(commands)], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert result.returncode == 0, result.stderr
    codes, heavy = json.loads(result.stdout.splitlines()[-1])
    return codes, heavy, result.stderr


def test_a_bad_file_is_refused_before_torch_is_imported(tmp_path):
    """A typo in a training, validation or test file is answered at once, not after seconds of imports."""
    good = write_csv(tmp_path / "good.csv", synthetic_rows(4))
    (tmp_path / "bad.csv").write_text("text,rating\nhello,1\n")
    out = str(tmp_path / "out")
    commands = [
        ["train", "--train-file", "bad.csv", "--output-dir", out],
        ["train", "--train-file", "bad.csv", "--output-dir", out, "--dry-run"],
        ["train", "--train-file", str(good), "--validation-file", "bad.csv", "--output-dir", out],
        ["train", "--train-file", str(good), "--test-file", "bad.csv", "--output-dir", out],
    ]
    codes, heavy, stderr = run_in_one_process(commands, tmp_path)
    assert (codes, heavy) == ([2, 2, 2, 2], [])
    assert stderr.count("columns 'sentence', 'score' not found") == 4


def test_a_file_to_score_is_checked_before_the_model_loads(trained_tiny_dir, tmp_path):
    """The model's PyTorch weights take seconds to load; a file without the text column is refused first."""
    (tmp_path / "bad.csv").write_text("text,rating\nhello,1\n")
    commands = [
        ["predict", str(trained_tiny_dir), "--input", "bad.csv", "--backend", "torch"],
        ["evaluate", str(trained_tiny_dir), "bad.csv", "--backend", "torch"],
    ]
    codes, heavy, stderr = run_in_one_process(commands, tmp_path)
    assert (codes, heavy) == ([2, 2], [])
    assert "bad.csv: column 'sentence' not found" in stderr
    assert "bad.csv: columns 'sentence', 'score' not found" in stderr


def test_bad_config_and_missing_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"num_epochs": 3}))
    assert_user_error(
        run("train", "--config", tmp_path / "config.json"),
        "unknown key 'num_epochs'",
        "did you mean 'num_train_epochs'",
    )
    assert_user_error(run("predict", tmp_path / "nothing", "hi"), "Model directory not found")
    assert_user_error(run("train", "--learning-rate", "fast"), "command line: --learning-rate must be a number")


def test_predict_argument_mistakes(trained_tiny_dir, tmp_path):
    missing = run("predict", trained_tiny_dir, env={"COLUMNS": "40"})
    assert_user_error(missing, "Give sentences to score, --input FILE, or '-' to read them from standard input")
    assert "sentscore predict MODEL_DIR --input in.csv" in missing.stderr  # not wrapped inside the command
    assert "cat reviews.txt | sentscore predict MODEL_DIR -" in missing.stderr
    assert_user_error(run("predict", trained_tiny_dir, "--input", tmp_path / "x.csv"), "Data file not found")
    old_form = ("--input", tmp_path / "a.csv", tmp_path / "b.csv", "--output", tmp_path / "o.csv")
    assert_user_error(run("predict", trained_tiny_dir, *old_form), "not both", "repeat --input for another")
    assert_user_error(
        run("predict", trained_tiny_dir, "--input", tmp_path / "a.csv", "--output", tmp_path / "o.xlsx"),
        "cannot write '.xlsx' files; it writes .csv, .tsv",
        "o.csv",
    )
    assert not (tmp_path / "o.xlsx").exists()
    assert_user_error(
        run("predict", trained_tiny_dir, "--input", tmp_path / "x.csv", "--output", tmp_path / "o.csv"),
        "Data file not found",
    )
    assert_user_error(run("predict", trained_tiny_dir, "fine", "  ", "--blank-rows", "fail"), "sentence 2 is blank")
    two = ("--input", tmp_path / "a.csv", "--input", tmp_path / "b.csv", "--output", tmp_path / "o.csv")
    assert_user_error(run("predict", trained_tiny_dir, *two), "--input takes one file with the local engine, got 2")
    one = ("--input", tmp_path / "a.csv", "--output", tmp_path / "o.csv")
    assert_user_error(run("predict", trained_tiny_dir, *one, "--workers", 0), "--workers must be at least 1, got 0")


def test_evaluate_and_serve_option_mistakes(trained_tiny_dir, labelled_csv, tmp_path):
    result = run("evaluate", trained_tiny_dir, labelled_csv, "--worst", -1, "--output", tmp_path / "report.csv")
    assert_user_error(result, "--worst must be 0 or more, got -1", "its name must end in .json")
    assert not (tmp_path / "report.csv").exists()
    before = (trained_tiny_dir / "config.json").read_bytes()  # the report would have replaced the model's config
    result = run("evaluate", trained_tiny_dir, labelled_csv, "--output", trained_tiny_dir / "config.json")
    assert_user_error(result, "is in the model folder")
    assert (trained_tiny_dir / "config.json").read_bytes() == before
    assert_user_error(run("serve", trained_tiny_dir, "--port", 99999), "--port must be between 0 and 65535")


def test_one_sentence_on_an_exported_model_never_imports_torch(trained_tiny_dir, tmp_path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(trained_tiny_dir, model_dir)
    result = run("export", model_dir, "-q")
    assert result.returncode == 0, result.stderr
    assert (model_dir / "model.onnx").is_file()
    probe = (
        "import sys; from sentscore.cli.main import main; code = main(['predict', sys.argv[1], 'the food was great']);"
        "print('heavy:', sorted(m for m in ('torch', 'transformers') if m in sys.modules)); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(model_dir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("Score: ")
    assert "heavy: []" in result.stdout


def test_the_ray_engine_without_ray_says_how_to_install_it(trained_tiny_dir, tmp_path, monkeypatch, capsys):
    from sentscore.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
    source = write_csv(tmp_path / "in.csv", synthetic_rows(1))
    code = main(["predict", str(trained_tiny_dir), "--engine", "ray", "--input", str(source), "--output", "out"])
    assert code == 2
    assert 'pip install "sentscore[ray]"' in capsys.readouterr().err


def test_dry_run_prints_the_config_training_then_records_and_trains_nothing(tiny_model_dir, tmp_path):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "dataset.csv", synthetic_rows(6))
    recipe = {**RECIPE, "model_name": str(tiny_model_dir), "max_length": 16, "run_name": "r"}
    (tmp_path / "config.json").write_text(json.dumps(recipe))
    dry = run("train", "--config", "config.json", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert not (tmp_path / "models").exists()  # nothing written
    printed = json.loads(dry.stdout[dry.stdout.index("{") : dry.stdout.index("}\n") + 1])
    assert None not in (printed[k] for k in ("num_train_epochs", "learning_rate", "objective", "freeze_layers"))
    out = " ".join(dry.stdout.split())
    assert "24 training sentences, 6 validation" in out and "20% of" in out
    assert "3 steps and about" in out and "3 epochs" in out  # 24 sentences in the recipe's batches of 8
    trained = run("train", "--config", "config.json", "-q", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    recorded = json.loads((tmp_path / "models" / "sentscore.json").read_text())["config"]
    assert printed == recorded  # the dry run resolves every default as training does


def test_dry_run_times_the_steps_an_epoch_takes(tiny_model_dir, tmp_path):
    from sentscore import TrainConfig
    from sentscore.training.plan import dry_run

    data = write_csv(tmp_path / "d.csv", synthetic_rows(10))
    config = TrainConfig(
        model_name=str(tiny_model_dir), train_file=str(data), output_dir=str(tmp_path / "m"), contrastive_pairs=0
    )
    plan = dry_run(config)
    assert plan.train_samples == 40 and plan.validation_samples == 10
    assert {level: sum(rows) for level, rows in plan.level_counts.items()} == {str(k): 10 for k in range(1, 6)}
    assert plan.steps_per_epoch == 3 and plan.config.num_train_epochs == 30  # a small set gets more epochs
    assert plan.seconds_per_epoch > plan.validation_seconds > 0
    assert plan.seconds == pytest.approx(30 * plan.seconds_per_epoch + plan.validation_seconds)
    assert not (tmp_path / "m").exists()
    few = dry_run(dataclasses.replace(config, contrastive_pairs=None))  # the few-label path, refit included
    assert few.config.num_train_epochs == 0 and few.config.refit
    step = (few.seconds_per_epoch - few.validation_seconds) / few.steps_per_epoch  # a timed training step
    pair_batches = -(-40 * (40 + 50) // 16)  # 40 pairs for each of 40 sentences, then of all 50 (refit)
    assert few.contrastive_seconds == pytest.approx(2 * pair_batches * step)  # two sentence batches a pair batch
    assert few.seconds == pytest.approx(few.contrastive_seconds + few.validation_seconds)


def test_help_says_what_each_flag_does_in_the_words_of_its_command():
    import argparse

    from sentscore.cli.main import build_parser
    from sentscore.config import TrainConfig

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    def help_of(command, dest):
        return " ".join(next(a for a in commands[command]._actions if a.dest == dest).help.split())

    for command in ("train", "tune", "export", "serve", "evaluate"):
        assert "predict" not in help_of(command, "quiet"), command
    assert "bare score" in help_of("predict", "quiet")
    assert help_of("train", "report_to").endswith("(default: none)")  # not ['none']
    assert "windows" in help_of("train", "max_length") and "truncated." not in help_of("train", "max_length")
    assert "set of likeliest scores" in help_of("predict", "set") and "range" not in help_of("predict", "set")
    for dest, default in (("study_dir", "(default: tuning)"), ("sampler_seed", "(default 0)"), ("timeout", "no limit")):
        assert default in help_of("tune", dest), dest
    # the form the help shows for --labels is read as that list, not as three strange labels
    assert TrainConfig.from_dict({"labels": '["bad", "ok", "good"]'}).labels == ["bad", "ok", "good"]
    assert TrainConfig.from_dict({"labels": "bad,ok,good"}).labels == ["bad", "ok", "good"]


def test_no_command_is_a_usage_error():
    result = run()
    assert result.returncode == 2 and "give a command" in result.stderr


#: main() replaced by one that prints without flushing and registers an exit handler, as a command might.
QUICK_EXIT_PROBE = """
import atexit, importlib, logging, logging.handlers, sys
cli = importlib.import_module("sentscore.cli.main")

def command():
    atexit.register(lambda: print("an exit handler ran", file=sys.stderr))
    held = logging.handlers.MemoryHandler(100, target=logging.FileHandler(sys.argv[1]))  # writes when closed
    logging.getLogger("probe").addHandler(held)
    logging.getLogger("probe").warning("logged")
    print("printed, not flushed", end="")
    return 3

cli.main = command
cli.run()
"""


def test_the_programs_quick_exit_keeps_the_exit_code_exit_handlers_output_and_logs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe stays buffered
    log = tmp_path / "log.txt"
    done = subprocess.run(
        [sys.executable, "-c", QUICK_EXIT_PROBE, str(log)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == "printed, not flushed"
    assert done.stderr == "an exit handler ran\n"
    assert log.read_text() == "logged\n"


def test_output_cut_short_by_its_reader_ends_quietly_with_sigpipes_code(trained_tiny_dir, tmp_path):
    # `sentscore predict ... | head -1`: the reader closes the pipe after a line; no "unexpected error".
    source = write_csv(tmp_path / "many.csv", [(f"sentence number {i} was fine", 3) for i in range(4000)])
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "sentscore", "predict", str(trained_tiny_dir), "--input", str(source), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout.readline().startswith(b"sentence,input_score,score")  # the file is labelled
        process.stdout.close()
        errors = process.stderr.read().decode()
        assert process.wait(timeout=300) == 141, errors
    assert "error" not in errors.lower() and "Traceback" not in errors
