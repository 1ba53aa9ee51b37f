import json

import numpy as np
import pytest

from sentscore import Scorer
from sentscore.scoring.explain import expected_score_change, occlusion_weights, top_label_change

LEVELS = np.arange(1, 6, dtype=float)


def fake_probabilities(texts):
    """A model whose expected score is 3, +1.5 with "great", -2 with "awful": the truth is known."""
    rows = []
    for text in texts:
        target = 3 + 1.5 * ("great" in text.split()) - 2 * ("awful" in text.split())
        low = int(np.floor(target))
        row = np.zeros(5)
        row[low - 1] += 1 - (target - low)
        if target > low:
            row[low] += target - low
        rows.append(row)
    return np.array(rows)


def weigh(base, variants):
    return expected_score_change(base, variants, LEVELS)


def test_occlusion_finds_the_words_that_move_the_score():
    explained = occlusion_weights(["the food was great", "an awful  room", "great"], fake_probabilities, weigh)
    assert [(w.word, w.weight) for w in explained[0]] == [("the", 0), ("food", 0), ("was", 0), ("great", 1.5)]
    assert [(w.word, w.start, w.end, w.weight) for w in explained[1]] == [
        ("an", 0, 2, 0),
        ("awful", 3, 8, -2),
        ("room", 10, 14, 0),
    ]
    assert [(w.word, w.weight) for w in explained[2]] == [("great", 1.5)]  # weighed against "."


def test_a_scale_without_numbers_weighs_the_predicted_labels_probability():
    base, variants = np.array([0.1, 0.7, 0.2]), np.array([[0.3, 0.4, 0.3], [0.05, 0.9, 0.05]])
    np.testing.assert_allclose(top_label_change(base, variants), [0.3, -0.2])


def test_scorer_explain_matches_scoring_each_variant(trained_tiny_dir):
    scorer = Scorer.load(trained_tiny_dir, backend="torch")
    sentence = "the food was great but the room awful"
    weights = scorer.explain(sentence)[0]
    words = sentence.split()
    assert [w.word for w in weights] == words
    full = scorer.predict(sentence)[0].expected_score
    for i, weight in enumerate(weights):
        left_out = " ".join(words[:i] + words[i + 1 :])
        assert weight.weight == pytest.approx(full - scorer.predict(left_out)[0].expected_score, abs=1e-5)


def test_cli_explain_prints_words_and_json_weights(trained_tiny_dir, capsys):
    from sentscore.cli.main import main

    assert main(["predict", str(trained_tiny_dir), "--explain", "the food was great"]) == 0
    out = capsys.readouterr().out
    assert "Score:" in out and "  up " in out and "  down " in out and "food" in out
    assert main(["predict", str(trained_tiny_dir), "--explain", "--json", "the food was great"]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert [w["word"] for w in record["explanation"]] == ["the", "food", "was", "great"]


def test_cli_explain_refuses_a_file(trained_tiny_dir, tmp_path, capsys):
    from sentscore.cli.main import main

    source = tmp_path / "in.csv"
    source.write_text("sentence\nfine\n")
    assert main(["predict", str(trained_tiny_dir), "--explain", "--input", str(source), "--output", "o.csv"]) == 2
    assert "--explain works on sentences" in capsys.readouterr().err
