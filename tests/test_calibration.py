"""Calibration error, conformal score sets and bootstrap intervals on synthetic data where the truth is known."""

import numpy as np
import pytest

from sentscore.data import ScoreScale
from sentscore.errors import SentscoreError
from sentscore.metrics import bootstrap_intervals, compute_metrics, decode, expected_calibration_error
from sentscore.model.conformal import METHODS, describe, nested_masses, nonconformity, score_sets, threshold

SCALE = ScoreScale(("1", "2", "3", "4", "5"))


def sample(n: int, seed: int, levels: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Distributions and a true level drawn from each: the distributions are exactly calibrated."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, levels - 1, size=n)
    logits = -((np.arange(levels)[None, :] - centres[:, None]) ** 2) / rng.uniform(0.3, 2.0, size=(n, 1))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(levels, p=p) for p in probs])
    return probs, labels


def test_calibrated_probabilities_have_a_small_calibration_error_and_overconfident_ones_a_large_one():
    probs, labels = sample(20000, seed=1)
    assert expected_calibration_error(probs, labels) < 0.02
    sharpened = probs**4 / (probs**4).sum(axis=1, keepdims=True)  # same ranking, far too sure
    assert expected_calibration_error(sharpened, labels) > 0.1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("coverage", [0.8, 0.9, 0.95])
def test_conformal_sets_cover_as_asked_on_new_data(coverage, method):
    calibration_probs, calibration_labels = sample(2000, seed=2)
    test_probs, test_labels = sample(20000, seed=3)
    mass = threshold(nonconformity(calibration_probs, calibration_labels, method), coverage)
    sets = score_sets(test_probs, mass, method)
    covered = np.mean(sets[np.arange(len(test_labels)), test_labels])
    assert coverage - 0.015 <= covered <= coverage + 0.025  # as asked, up to sampling noise
    assert np.all(sets[np.arange(len(test_probs)), test_probs.argmax(1)])  # the likeliest level is always in


def test_contiguous_sets_are_ranges_grown_from_the_most_likely_level():
    probs = np.array([[0.1, 0.5, 0.3, 0.05, 0.05]])
    order, masses = nested_masses(probs, "contiguous")
    assert order[0].tolist() == [1, 2, 0, 3, 4]
    np.testing.assert_allclose(masses[0], [0.5, 0.8, 0.9, 0.95, 1.0])
    sets = [np.flatnonzero(score_sets(probs, m, "contiguous")[0]).tolist() for m in (0.4, 0.85, 0.9)]
    assert sets == [[1], [1, 2], [0, 1, 2]]


def test_sets_of_the_likeliest_levels_never_leave_out_a_more_likely_level_and_show_a_torn_model_as_a_gap():
    torn = np.array([[0.45, 0.02, 0.02, 0.02, 0.49]])  # "The worst service I have ever had." read as 1 or 5
    assert np.flatnonzero(score_sets(torn, 0.95, "likeliest")[0]).tolist() == [0, 4]
    assert np.flatnonzero(score_sets(torn, 0.95, "contiguous")[0]).tolist() == [1, 2, 3, 4]  # leaves out 1
    probs, labels = sample(3000, seed=5)
    sets = score_sets(probs, threshold(nonconformity(probs[:1000], labels[:1000]), 0.9))
    least_in = np.where(sets, probs, np.inf).min(1)
    most_out = np.where(sets, -np.inf, probs).max(1)
    assert np.all(most_out <= least_in)
    assert describe(score_sets(torn, 0.95)[0], SCALE.labels) == "1 or 5"
    assert describe(np.array([True, True, False, False, True]), SCALE.labels) == "1-2 or 5"
    assert describe(np.array([False, True, True, True, False]), SCALE.labels) == "2-4"
    assert describe(np.array([False, False, True, False, False]), SCALE.labels) == "3"


def test_too_few_held_out_sentences_for_a_coverage_give_every_level():
    assert threshold([0.5, 0.6, 0.7], 0.9) == float("inf")
    assert score_sets(np.array([[0.1, 0.5, 0.3, 0.05, 0.05]]), float("inf")).all()
    with pytest.raises(SentscoreError, match="between 0 and 1"):
        threshold([0.5], 1.5)


def test_bootstrap_intervals_hold_the_figure_and_narrow_with_more_sentences():
    rng = np.random.default_rng(4)
    true = rng.integers(0, 5, size=4000)
    pred = np.where(rng.random(4000) < 0.6, true, rng.integers(0, 5, size=4000))
    small, large = bootstrap_intervals(true[:200], pred[:200], SCALE), bootstrap_intervals(true, pred, SCALE)
    exact = compute_metrics(true, pred, SCALE)
    for key in ("accuracy", "macro_f1", "qwk", "mae"):
        assert large[key][0] <= exact[key] <= large[key][1]
        assert large[key][1] - large[key][0] < small[key][1] - small[key][0]


def test_decodings():
    probs = np.array([[0.4, 0.0, 0.0, 0.0, 0.6], [0.3, 0.3, 0.0, 0.0, 0.4]])
    assert list(decode(probs, SCALE, "argmax")) == [4, 4]
    assert list(decode(probs, SCALE, "expected")) == [2, 2]  # expected scores 3.4 and 2.9: both nearest 3
    assert list(decode(probs, SCALE, "median")) == [4, 1]


def test_too_few_validation_sentences_keep_the_probabilities_as_trained_and_say_so():
    from sentscore.model.card import _calibration_note
    from sentscore.model.objectives import OBJECTIVES
    from sentscore.training.steps.calibration import MIN_CALIBRATION_SENTENCES, calibrate_temperature
    from sentscore.training.steps.run import HeldOut

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 60)
    outputs = np.eye(5)[labels] * 6.0 + rng.normal(0, 1, (60, 5))  # overconfident: a temperature above 1 fits
    few = MIN_CALIBRATION_SENTENCES - 1
    objective = OBJECTIVES["ordinal_log_loss"](5)
    skipped = calibrate_temperature(HeldOut(outputs[:few], labels[:few], 0.0), objective)["calibration"]
    assert skipped["method"] == "none" and objective.temperature == 1.0
    assert skipped["ece_after"] == skipped["ece_before"] and skipped["sentences"] == few

    class Facts:
        calibration = skipped

    assert f"{few} validation sentences are too few" in _calibration_note(Facts())
    fitted = calibrate_temperature(HeldOut(outputs, labels, 0.0), objective)["calibration"]
    assert fitted["method"] == "temperature" and objective.temperature == fitted["temperature"] != 1.0
