"""The deploy gate: floors, ceilings and no regression against production."""
from __future__ import annotations

from pipeline.ml.gate import decide

CLASSIFIER = {"kind": "classification", "accuracy": 0.91, "f1_macro": 0.88}
REGRESSOR = {"kind": "regression", "rmse": 10.0, "mae": 8.0, "r2": 0.6}


def test_floor_met_passes_and_names_the_check():
    verdict = decide(CLASSIFIER, {"accuracy": {"min": 0.9}})
    assert verdict["passed"] is True
    assert verdict["reasons"] == ["accuracy 0.9100 >= 0.9"]
    assert verdict["production_version"] is None


def test_floor_missed_fails_with_the_reason():
    verdict = decide(CLASSIFIER, {"accuracy": {"min": 0.95}, "f1_macro": {"min": 0.8}})
    assert verdict["passed"] is False
    assert verdict["reasons"] == ["accuracy 0.9100 < 0.95"]  # only what failed
    assert len(verdict["checks"]) == 2


def test_ceiling_on_a_lower_is_better_metric():
    assert decide(REGRESSOR, {"rmse": {"max": 12}})["passed"]
    verdict = decide(REGRESSOR, {"rmse": {"max": 9.5}})
    assert not verdict["passed"]
    assert verdict["reasons"] == ["rmse 10.0000 > 9.5"]


def test_min_and_max_on_one_metric():
    assert decide(REGRESSOR, {"r2": {"min": 0.5, "max": 0.99}})["passed"]
    verdict = decide(REGRESSOR, {"r2": {"min": 0.7, "max": 0.99}})
    assert verdict["reasons"] == ["r2 0.6000 < 0.7"]
    verdict = decide({**REGRESSOR, "r2": 1.0}, {"r2": {"min": 0.5, "max": 0.99}})
    assert verdict["reasons"] == ["r2 1.0000 > 0.99"]


def test_missing_metric_fails_with_a_reason():
    verdict = decide(REGRESSOR, {"accuracy": {"min": 0.5}})
    assert verdict["passed"] is False
    assert verdict["reasons"] == ["accuracy is not computed for regression models"]


def test_higher_is_better_within_tolerance_of_production_passes():
    verdict = decide({"kind": "classification", "accuracy": 0.90}, {"tolerance": 0.02},
                     production={"accuracy": 0.91}, production_version="v0003")
    assert verdict["passed"]
    assert verdict["compared_metric"] == "accuracy"
    assert verdict["production_version"] == "v0003"
    assert "within tolerance 0.02" in verdict["reasons"][0]
    assert "v0003" in verdict["reasons"][0]


def test_higher_is_better_beyond_tolerance_fails():
    verdict = decide({"kind": "classification", "accuracy": 0.85}, {"tolerance": 0.02},
                     production={"accuracy": 0.91}, production_version="v0003")
    assert not verdict["passed"]
    reason = verdict["reasons"][0]
    assert "accuracy 0.8500 vs production v0003 0.9100: beyond tolerance 0.02" in reason
    assert "worse by 0.0600" in reason


def test_no_tolerance_means_any_regression_fails_and_improvement_passes():
    worse = decide({"kind": "classification", "accuracy": 0.90}, {}, production={"accuracy": 0.91})
    assert not worse["passed"]
    better = decide({"kind": "classification", "accuracy": 0.95}, {}, production={"accuracy": 0.91})
    assert better["passed"]


def test_rmse_lower_is_better_against_production():
    production = {"rmse": 10.0}
    # higher rmse is worse: 11 is within 2.0 of 10, 13 is not
    assert decide({**REGRESSOR, "rmse": 11.0}, {"tolerance": 2.0}, production, "v0001")["passed"]
    verdict = decide({**REGRESSOR, "rmse": 13.0}, {"tolerance": 2.0}, production, "v0001")
    assert not verdict["passed"]
    assert verdict["compared_metric"] == "rmse"
    assert "beyond tolerance 2.0 (worse by 3.0000)" in verdict["reasons"][0]
    # a much lower rmse is an improvement, not a regression
    assert decide({**REGRESSOR, "rmse": 2.0}, {"tolerance": 0.0}, production, "v0001")["passed"]


def test_compare_names_the_metric_checked_against_production():
    gate = {"compare": "f1_macro", "tolerance": 0.01}
    production = {"accuracy": 0.50, "f1_macro": 0.95}
    verdict = decide(CLASSIFIER, gate, production, "v0002")
    assert verdict["compared_metric"] == "f1_macro"
    assert not verdict["passed"]  # accuracy improved, but f1_macro fell 0.07


def test_floor_failure_and_regression_are_both_reported():
    verdict = decide({"kind": "classification", "accuracy": 0.80}, {"accuracy": {"min": 0.9}},
                     production={"accuracy": 0.95}, production_version="v0001")
    assert not verdict["passed"]
    assert len(verdict["reasons"]) == 2
    assert verdict["reasons"][0] == "accuracy 0.8000 < 0.9"
    assert "beyond tolerance" in verdict["reasons"][1]


def test_misspelt_compare_metric_fails_instead_of_skipping_the_comparison():
    candidate = {"kind": "classification", "accuracy": 0.97}
    verdict = decide(candidate, {"compare": "acuracy"}, production={"kind": "classification", "accuracy": 0.99},
                     production_version="v0001")
    assert not verdict["passed"]
    assert verdict["reasons"] == ["compare metric acuracy is not computed for classification models"]


def test_no_gate_and_no_production_says_nothing_was_checked():
    verdict = decide({"kind": "regression", "rmse": 3.0}, {})
    assert verdict["passed"]
    assert verdict["reasons"] == ["no gate configured and no production model to compare with: nothing checked"]
