"""The ray engine on a local Ray instance of 2 CPUs started in the test: a Ray Dataset scored exactly as the
local scorer scores it, files scored into a folder from the CLI, and Ray Train writing a valid model folder."""

import json
import os

import pandas as pd
import pytest

from sentscore import Scorer, TrainConfig
from sentscore.cli.main import main
from sentscore.model.folder import TRAIN_OUTPUT_FILES

from .conftest import synthetic_rows, write_csv

ray = pytest.importorskip("ray", reason="the ray extra (pip install 'sentscore[ray]')")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=str(tmp_path_factory.mktemp("ray")),
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}},
    )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    yield ray
    ray.shutdown()


def sentences(n: int) -> list[str]:
    return [text for text, _ in synthetic_rows(n // 5 + 1)][:n]


def test_a_ray_dataset_is_scored_as_the_local_scorer_scores_it(local_ray, trained_tiny_dir):
    from sentscore.integrations.ray import score_dataset

    texts = sentences(60) + [" ", "a much longer sentence " * 12]
    frame = pd.DataFrame({"id": range(len(texts)), "sentence": texts})
    scored = score_dataset(ray.data.from_pandas(frame), trained_tiny_dir, with_probs=True, rows_per_batch=16)
    got = scored.to_pandas().sort_values("id").reset_index(drop=True)
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    positions = [i for i, t in enumerate(texts) if t.strip()]
    expected = scorer.add_scores(frame, scorer.predict_proba([texts[i] for i in positions]), True, None, positions)
    assert list(got.columns) == list(expected.columns)

    def cells(column):  # Ray hands back an empty cell as pandas' NA, the local scorer as None
        return [None if pd.isna(value) else value for value in column]

    assert cells(got["score"]) == cells(expected["score"])  # the blank row keeps an empty cell in both
    for column in [c for c in expected.columns if c.startswith("prob_")] + ["confidence", "expected_score"]:
        pd.testing.assert_series_equal(got[column].astype(float), expected[column].astype(float), atol=1e-5)


def test_a_missing_text_column_is_named_before_any_actor_starts(local_ray, trained_tiny_dir):
    from sentscore.errors import SentscoreError
    from sentscore.integrations.ray import score_dataset

    dataset = ray.data.from_pandas(pd.DataFrame({"text": ["good"], "id": [1]}))
    with pytest.raises(SentscoreError, match=r"no column 'sentence' \(it has: text, id\)"):
        score_dataset(dataset, trained_tiny_dir)


def test_predict_with_the_ray_engine_writes_a_folder_of_scored_files_in_order(
    local_ray, trained_tiny_dir, tmp_path, capsys
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    texts = sentences(40)
    for part in range(2):
        write_csv(inputs / f"part{part}.csv", [(t, 3) for t in texts[part * 20 : (part + 1) * 20]])
    out = tmp_path / "scored"
    code = main(["predict", str(trained_tiny_dir), "--engine", "ray", "--input", str(inputs), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "Scored 40 rows" in capsys.readouterr().err
    written = pd.concat(pd.read_csv(p) for p in sorted(out.glob("*.csv")))
    assert written["sentence"].tolist() == texts  # the input order, kept
    local = Scorer.load(trained_tiny_dir, backend="torch").predict(texts)
    assert written["score"].tolist() == [p.score for p in local]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "scored"]  # nothing left beside it


def test_the_ray_engine_says_which_rows_it_left_unscored_as_the_local_engine_does(
    local_ray, trained_tiny_dir, tmp_path, capsys
):
    """Blank texts keep empty score cells on both engines, and both say so with exit code 3."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.csv").write_text("sentence,id\nGreat food.,1\n,2\n")
    (inputs / "b.csv").write_text("sentence,id\n  ,3\n")
    code = main(
        ["predict", str(trained_tiny_dir), "--engine", "ray", "--input", str(inputs), "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 3 and "Scored 1 row into" in err
    assert "2 rows with a blank text were left with empty score cells (exit code 3)" in err
    written = pd.concat(
        pd.read_csv(p, keep_default_na=False, dtype=str) for p in sorted((tmp_path / "o").glob("*.csv"))
    )
    assert written["score"].tolist()[1:] == ["", ""] and written["score"].tolist()[0] != ""


def test_predict_with_the_ray_engine_refuses_mixed_formats_clearly(trained_tiny_dir, tmp_path, capsys):
    (tmp_path / "a.csv").write_text("sentence\ngood\n")
    (tmp_path / "b.txt").write_text("good\n")
    args = [
        "predict",
        str(trained_tiny_dir),
        "--engine",
        "ray",
        "--input",
        str(tmp_path / "a.csv"),
        "--input",
        str(tmp_path / "b.txt"),
    ]
    assert main([*args, "--output", str(tmp_path / "out")]) == 2
    assert "one format" in capsys.readouterr().err


def test_ray_train_writes_a_valid_model_folder(local_ray, tiny_model_dir, tmp_path):
    from sentscore.integrations.ray import train_on_ray

    data = write_csv(tmp_path / "d.csv", synthetic_rows(8))
    out = tmp_path / "model"
    config = TrainConfig(
        model_name=str(tiny_model_dir),
        train_file=str(data),
        output_dir=str(out),
        num_train_epochs=2,
        max_length=16,
        train_batch_size=4,
        num_threads=1,
    )
    metrics = train_on_ray(config, workers=2, storage_path=tmp_path / "ray_results")
    assert {p.name for p in out.iterdir()} == TRAIN_OUTPUT_FILES
    info = json.loads((out / "sentscore.json").read_text())
    assert (info["processes"], info["global_batch_size"]) == (2, 8)
    assert metrics["epoch"] == 2
    assert len(Scorer.load(out, backend="torch").predict(["good", "bad"])) == 2
