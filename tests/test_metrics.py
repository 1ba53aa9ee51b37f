import math

import pytest
from sklearn.metrics import cohen_kappa_score

from sentscore.data import ScoreScale
from sentscore.metrics import compute_metrics, majority_baseline

FIVE = ScoreScale(("1", "2", "3", "4", "5"))


def test_perfect_predictions():
    truth = [0, 1, 2, 3, 4, 2]
    metrics = compute_metrics(truth, truth, FIVE)
    assert metrics["accuracy"] == metrics["macro_f1"] == metrics["within_one"] == 1.0
    assert metrics["mae"] == metrics["rmse"] == 0.0
    assert metrics["qwk"] == pytest.approx(1.0)
    assert metrics["spearman"] == pytest.approx(1.0)
    assert metrics["confusion_matrix"][2][2] == 2


def test_values_in_score_units():
    truth, pred = [0, 0, 4, 2], [1, 3, 4, 2]  # errors of 1, 3, 0, 0 score points
    metrics = compute_metrics(truth, pred, FIVE)
    assert metrics["accuracy"] == 0.5
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["rmse"] == pytest.approx(math.sqrt(10 / 4))
    assert metrics["within_one"] == 0.75
    assert metrics["qwk"] == pytest.approx(cohen_kappa_score(truth, pred, weights="quadratic", labels=range(5)))
    assert metrics["confusion_matrix"][0] == [0, 1, 0, 1, 0]


def test_score_units_follow_the_scale():
    zero_to_ten = ScoreScale(tuple(str(i) for i in range(0, 11, 2)))  # levels 0, 2, 4, ... 10
    assert compute_metrics([0, 1], [1, 1], zero_to_ten)["mae"] == pytest.approx(1.0)


def test_text_labels_get_no_ordinal_metrics():
    metrics = compute_metrics([0, 1, 2], [0, 2, 2], ScoreScale(("bad", "good", "ok")))
    assert "mae" not in metrics and "qwk" not in metrics
    assert metrics["accuracy"] == pytest.approx(2 / 3)


def test_constant_prediction_has_no_spearman_and_majority_baseline():
    baseline = majority_baseline([0, 0, 1, 2], [0, 1, 2, 2], ScoreScale(("1", "2", "3")))
    assert baseline["accuracy"] == 0.25
    assert baseline["spearman"] is None
    assert baseline["qwk"] == 0.0


def test_the_baseline_predicts_the_majority_for_accuracy_and_the_median_for_distances():
    scale = ScoreScale(("1", "2", "3", "4", "5"))
    balanced = [level for level in range(5) for _ in range(12)]
    baseline = majority_baseline(balanced, balanced, scale)
    # A tie between all five levels goes to the middle one, not to level 1 (which would give MAE 2.0).
    assert baseline["predicts"] == {"accuracy": "3", "distance": "3"}
    assert baseline["accuracy"] == pytest.approx(0.2)
    assert baseline["mae"] == pytest.approx(1.2) and baseline["within_one"] == pytest.approx(0.6)
    skewed = majority_baseline([0, 0, 0, 2, 3, 4, 4], [0, 2, 4], scale)
    assert skewed["predicts"] == {"accuracy": "1", "distance": "3"}
    assert skewed["accuracy"] == pytest.approx(1 / 3) and skewed["mae"] == pytest.approx(4 / 3)


def test_an_interval_that_cannot_be_computed_is_said_in_words():
    from sentscore.model.card import format_interval

    assert format_interval({"qwk": [0.41, 0.5]}, "qwk") == "0.410-0.500"
    assert format_interval({"qwk": [float("nan"), float("nan")]}, "qwk") == "none: too few sentences"
    assert format_interval({"qwk": [None, None]}, "qwk") == "none: too few sentences"
    assert format_interval(None, "qwk") == ""
