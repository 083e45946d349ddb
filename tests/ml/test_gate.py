"""The deploy gate: floors, ceilings and no regression against production."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ml.data import row_hashes
from pipeline.ml.gate import (
    comparison_rows,
    decide,
    decide_deployment,
    primary_metric,
    shown_metrics,
    smoke_check,
    watched_metrics,
)

CLASSIFIER = {"kind": "classification", "accuracy": 0.91, "balanced_accuracy": 0.89, "f1_macro": 0.88}
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
    verdict = decide({"kind": "classification", "balanced_accuracy": 0.90}, {"tolerance": 0.02},
                     production={"balanced_accuracy": 0.91}, production_version="v0003")
    assert verdict["passed"]
    assert verdict["compared_metric"] == "balanced_accuracy"
    assert verdict["production_version"] == "v0003"
    assert "within tolerance 0.02" in verdict["reasons"][0]
    assert "v0003" in verdict["reasons"][0]


def test_higher_is_better_beyond_tolerance_fails():
    verdict = decide({"kind": "classification", "balanced_accuracy": 0.85}, {"tolerance": 0.02},
                     production={"balanced_accuracy": 0.91}, production_version="v0003")
    assert not verdict["passed"]
    reason = verdict["reasons"][0]
    assert reason.startswith("balanced_accuracy 0.8500 vs production v0003 0.9100: beyond tolerance 0.02")
    assert "worse by 0.0600" in reason


def test_no_tolerance_means_any_regression_fails_and_improvement_passes():
    worse = decide({"kind": "classification", "balanced_accuracy": 0.90}, {}, production={"balanced_accuracy": 0.91})
    assert not worse["passed"]
    better = decide({"kind": "classification", "balanced_accuracy": 0.95}, {},
                    production={"balanced_accuracy": 0.91})
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
    verdict = decide({"kind": "classification", "accuracy": 0.80, "balanced_accuracy": 0.80},
                     {"accuracy": {"min": 0.9}},
                     production={"accuracy": 0.95, "balanced_accuracy": 0.95}, production_version="v0001")
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



# ---------------------------------------------------------------- the baseline rule

PRIOR = "DummyClassifier(strategy='prior')"
MEAN = "DummyRegressor(strategy='mean')"


def with_baseline(metrics: dict, model: str, **baseline) -> dict:
    return {**metrics, "baseline": {"model": model, **baseline}}


def test_a_candidate_equal_to_its_baseline_fails_even_with_an_empty_gate():
    candidate = with_baseline({"kind": "classification", "accuracy": 0.9, "balanced_accuracy": 0.5}, PRIOR,
                              accuracy=0.9, balanced_accuracy=0.5)
    verdict = decide(candidate, {})
    assert verdict["passed"] is False
    assert verdict["compared_metric"] == "balanced_accuracy"
    assert verdict["reasons"] == [
        "balanced_accuracy 0.5000 vs baseline 0.5000 (DummyClassifier(strategy='prior')): "
        "not better than a model that ignores the features"]
    [check] = verdict["checks"]
    assert check["rule"] == "balanced_accuracy better than the baseline"
    assert (check["value"], check["baseline"]) == (0.5, 0.5)


def test_a_candidate_worse_than_its_baseline_fails_and_a_better_one_passes():
    worse = with_baseline({"kind": "classification", "balanced_accuracy": 0.45}, PRIOR, balanced_accuracy=0.5)
    verdict = decide(worse, {})
    assert not verdict["passed"]
    assert verdict["reasons"] == [
        "balanced_accuracy 0.4500 vs baseline 0.5000 (DummyClassifier(strategy='prior')): "
        "not better than a model that ignores the features"]
    better = with_baseline({"kind": "classification", "balanced_accuracy": 0.51}, PRIOR, balanced_accuracy=0.5)
    verdict = decide(better, {})
    assert verdict["passed"]
    assert verdict["reasons"] == [
        "balanced_accuracy 0.5100 vs baseline 0.5000 (DummyClassifier(strategy='prior')): better"]


def test_the_baseline_rule_for_rmse_is_lower_is_better():
    lower = with_baseline({**REGRESSOR, "rmse": 9.0}, MEAN, rmse=10.0)
    verdict = decide(lower, {})
    assert verdict["passed"]
    assert verdict["reasons"] == ["rmse 9.0000 vs baseline 10.0000 (DummyRegressor(strategy='mean')): better"]
    for rmse in (10.0, 11.0):  # equal or higher rmse is no better than predicting the mean
        verdict = decide(with_baseline({**REGRESSOR, "rmse": rmse}, MEAN, rmse=10.0), {})
        assert not verdict["passed"], rmse
        assert verdict["reasons"] == [
            f"rmse {rmse:.4f} vs baseline 10.0000 (DummyRegressor(strategy='mean')): "
            "not better than a model that ignores the features"]


def test_the_baseline_rule_uses_the_compare_metric_and_is_reported_with_the_floors():
    candidate = with_baseline({"kind": "classification", "accuracy": 0.96, "balanced_accuracy": 0.7}, PRIOR,
                              accuracy=0.96, balanced_accuracy=0.5)
    verdict = decide(candidate, {"compare": "accuracy", "accuracy": {"min": 0.95}})
    assert not verdict["passed"]
    assert verdict["compared_metric"] == "accuracy"
    assert verdict["reasons"] == [
        "accuracy 0.9600 vs baseline 0.9600 (DummyClassifier(strategy='prior')): "
        "not better than a model that ignores the features"]
    assert [c["passed"] for c in verdict["checks"]] == [True, False]


def test_the_baseline_rule_holds_next_to_a_production_comparison():
    candidate = with_baseline({"kind": "classification", "balanced_accuracy": 0.5}, PRIOR, balanced_accuracy=0.5)
    verdict = decide(candidate, {"tolerance": 0.5}, production={"balanced_accuracy": 0.6}, production_version="v0001")
    assert not verdict["passed"]
    assert [c["passed"] for c in verdict["checks"]] == [False, True]  # within tolerance, but not above the baseline
    assert "(DummyClassifier(strategy='prior'))" in verdict["reasons"][0]


def test_no_baseline_or_a_baseline_without_the_metric_means_no_baseline_check():
    verdict = decide({"kind": "regression", "rmse": 3.0}, {})
    assert [c["rule"] for c in verdict["checks"]] == ["gate configured"]
    verdict = decide({"kind": "regression", "rmse": 3.0, "baseline": None}, {})
    assert [c["rule"] for c in verdict["checks"]] == ["gate configured"]
    no_auc = with_baseline({"kind": "classification", "roc_auc": 0.8, "balanced_accuracy": 0.7}, PRIOR,
                           balanced_accuracy=0.5)
    verdict = decide(no_auc, {"compare": "roc_auc"})
    assert verdict["passed"]
    assert [c["rule"] for c in verdict["checks"]] == ["gate configured"]


def test_a_majority_class_candidate_is_rejected_against_a_logistic_regression_production():
    # DummyClassifier(most_frequent) on 3.3 % positives against a logistic regression: on accuracy it
    # is within tolerance (0.967 >= 0.972 - 0.01); on the default balanced_accuracy it is far worse
    dummy = {"kind": "classification", "accuracy": 0.967, "balanced_accuracy": 0.5, "f1_macro": 0.49}
    production = {"kind": "classification", "accuracy": 0.972, "balanced_accuracy": 0.66, "f1_macro": 0.7}
    verdict = decide(dummy, {"tolerance": 0.01}, production=production, production_version="v0001")
    assert verdict["passed"] is False
    assert verdict["compared_metric"] == "balanced_accuracy"
    assert verdict["reasons"] == ["balanced_accuracy 0.5000 vs production v0001 0.6600: beyond tolerance 0.01 "
                                  "(worse by 0.1600)"]
    assert decide(dummy, {"tolerance": 0.01, "compare": "accuracy"}, production, "v0001")["passed"]


def test_a_tolerance_without_production_passes_and_says_when_it_applies():
    verdict = decide({"kind": "classification", "balanced_accuracy": 0.8}, {"tolerance": 0.01})
    assert verdict["passed"]
    assert verdict["reasons"] == [
        "no production model yet: tolerance 0.01 on balanced_accuracy applies from the next candidate on"]
    assert not any("no gate configured" in reason for reason in verdict["reasons"])
    [check] = verdict["checks"]
    assert check["rule"] == "balanced_accuracy no worse than production by more than 0.01"


def test_the_default_compare_metric_per_kind():
    assert primary_metric({"kind": "classification", "accuracy": 0.9}) == "balanced_accuracy"
    assert primary_metric({"kind": "regression"}) == "rmse"
    assert primary_metric({"kind": "clustering", "v_measure": 0.5, "silhouette": 0.2}) == "v_measure"
    assert primary_metric({"kind": "clustering", "silhouette": 0.2}) == "silhouette"


def test_shown_metrics_are_the_scalar_metrics_without_counts_or_the_baseline():
    metrics = {"kind": "clustering", "n_samples": 50, "silhouette": 0.4, "n_clusters": 3, "noise_fraction": 0.1,
               "baseline": None, "confusion_matrix": {"labels": [], "matrix": []}}
    assert shown_metrics(metrics) == {"silhouette": 0.4, "n_clusters": 3, "noise_fraction": 0.1}
    classifier = {"kind": "classification", "accuracy": 0.9, "balanced_accuracy": 0.8, "n_samples": 10,
                  "baseline": {"model": PRIOR, "accuracy": 0.5, "balanced_accuracy": 0.5}}
    assert shown_metrics(classifier) == {"accuracy": 0.9, "balanced_accuracy": 0.8}

# ---------------------------------------------------------------- decide_deployment

PASSED = {"passed": True, "reasons": ["accuracy 0.9100 >= 0.9"]}
FAILED = {"passed": False, "reasons": ["accuracy 0.8000 < 0.9"]}
LIVE = {"version": "v0002", "date": "2024-01-02"}
NEWER = {"version": "v0003", "date": "2024-01-03"}
OLDER = {"version": "v0004", "date": "2024-01-01"}  # registered later, trained on older data


def test_a_passing_candidate_with_no_production_is_promoted_with_the_verdicts_reasons():
    assert decide_deployment(PASSED, NEWER, None) == {"action": "promote", "reasons": ["accuracy 0.9100 >= 0.9"]}


def test_a_passing_candidate_on_newer_or_the_same_date_replaces_production():
    assert decide_deployment(PASSED, NEWER, LIVE) == {"action": "promote", "reasons": ["accuracy 0.9100 >= 0.9"]}
    same_day = {"version": "v0003", "date": "2024-01-02"}
    assert decide_deployment(PASSED, same_day, LIVE)["action"] == "promote"


def test_an_earlier_smoke_test_failure_refuses_whatever_the_verdict():
    for verdict in (PASSED, FAILED):
        decision = decide_deployment(verdict, NEWER, LIVE, smoke_failure="3 of 10 held-out predictions differ")
        assert decision == {"action": "refuse",
                            "reasons": ["v0003 failed its smoke test before (3 of 10 held-out predictions differ)"]}


def test_a_failed_verdict_rejects_with_its_reasons():
    assert decide_deployment(FAILED, NEWER, LIVE) == {"action": "reject", "reasons": ["accuracy 0.8000 < 0.9"]}
    assert decide_deployment(FAILED, NEWER, None)["action"] == "reject"


def test_rejecting_the_live_version_says_it_stays_in_production():
    decision = decide_deployment(FAILED, LIVE, LIVE)
    assert decision == {"action": "reject", "reasons": [
        "accuracy 0.8000 < 0.9",
        "v0002 is the live version and stays in production; roll back by hand if it should not"]}


def test_promoting_the_live_version_again_says_it_is_already_in_production():
    decision = decide_deployment(PASSED, LIVE, LIVE)
    assert decision == {"action": "promote", "reasons": [
        "accuracy 0.9100 >= 0.9", "v0002 (the same model) is already in production"]}


def test_a_backfill_is_rejected_even_when_it_passes_the_gate():
    decision = decide_deployment(PASSED, OLDER, LIVE)
    assert decision == {"action": "reject", "reasons": [
        "trained on 2024-01-01 data, older than production v0002 (2024-01-02): not promoted automatically"]}


def test_the_verdicts_reasons_are_copied_not_shared():
    verdict = {"passed": True, "reasons": ["accuracy 0.9100 >= 0.9"]}
    decide_deployment(verdict, LIVE, LIVE)
    assert verdict["reasons"] == ["accuracy 0.9100 >= 0.9"]


# ---------------------------------------------------------------- comparison_rows

FEATURES = {"x": "numeric", "plan": "categorical"}


def held_out_rows() -> pd.DataFrame:
    """Five test rows (features and target), indexed by their position in the snapshot."""
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "plan": ["a", "b", "a", "b", "a"], "y": [0, 1, 0, 1, 0]},
                        index=[10, 11, 12, 13, 14])


def production_train(rows: pd.DataFrame) -> np.ndarray:
    """Hashes of what production was fitted on: these rows plus ones the test split never held."""
    other = pd.DataFrame({"x": [99.0], "plan": ["c"], "y": [1]})
    return row_hashes(pd.concat([other, rows]))


def test_rows_production_was_fitted_on_are_left_out():
    rows = held_out_rows()
    seen = production_train(rows.loc[[10, 12]])
    kept, note = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                                 production_train_rows=seen, fit_on="train")
    assert list(kept.index) == [11, 13, 14]
    assert kept.equals(rows.loc[[11, 13, 14]])
    assert note == "compared with production v0001 on 3 test rows it was not fitted on"


def test_a_row_whose_target_changed_counts_as_unseen():
    rows = held_out_rows()
    relabelled = rows.loc[[10]].assign(y=1)
    kept, _ = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                              production_train_rows=row_hashes(relabelled), fit_on="train")
    assert len(kept) == 5


def test_production_fitted_on_every_test_row_is_not_compared():
    rows = held_out_rows()
    kept, note = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                                 production_train_rows=production_train(rows), fit_on="train")
    assert kept is None
    assert note == "production v0001 was fitted on every test row: not compared"


def test_fit_on_all_compares_on_every_row():
    rows = held_out_rows()
    kept, note = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                                 production_train_rows=production_train(rows), fit_on="all")
    assert kept.equals(rows)
    assert note == 'compared with production v0001 on 5 rows both models were fitted on (fit_on = "all")'


def test_a_production_version_without_train_rows_is_compared_on_every_row():
    rows = held_out_rows()
    kept, note = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                                 production_train_rows=None, fit_on="train")
    assert kept.equals(rows)
    assert note == "compared with production v0001 on 5 test rows it was not fitted on"


def test_a_column_production_needs_but_the_rows_lack_means_floors_only():
    rows = held_out_rows()
    kept, note = comparison_rows(rows, production_version="v0001",
                                 production_features={**FEATURES, "region": "categorical", "age": "numeric"},
                                 production_train_rows=None, fit_on="train")
    assert kept is None
    assert note == "production v0001 needs column(s) today's data lacks (region, age): floors and baseline only"


def test_a_new_column_production_does_not_know_is_no_obstacle():
    rows = held_out_rows().assign(extra=[1, 2, 3, 4, 5])
    kept, _ = comparison_rows(rows, production_version="v0001", production_features=FEATURES,
                              production_train_rows=None, fit_on="train")
    assert len(kept) == 5


# ---------------------------------------------------------------- smoke_check

def test_smoke_check_passes_when_every_prediction_agrees():
    assert smoke_check(pd.Series([0, 1, 1, 0]), pd.Series([0, 1, 1, 0])) is None
    assert smoke_check(pd.Series(["yes", "no"]), pd.Series(["yes", "no"])) is None


def test_smoke_check_compares_by_position_not_index():
    expected = pd.Series([0, 1, 2], index=[7, 3, 9])
    assert smoke_check(expected, pd.Series([0, 1, 2])) is None


def test_smoke_check_allows_float_noise_within_1e_9_relative():
    expected = pd.Series([100.0, -2.5, 1e6])
    assert smoke_check(expected, expected * (1 + 1e-11)) is None
    drifted = pd.Series([100.0 * (1 + 1e-6), -2.5, 1e6])
    assert smoke_check(expected, drifted) == "1 of 3 held-out predictions differ from the candidate's evaluation"


def test_smoke_check_counts_the_predictions_that_differ():
    message = smoke_check(pd.Series([0, 1, 1, 0, 1]), pd.Series([0, 0, 1, 1, 1]))
    assert message == "2 of 5 held-out predictions differ from the candidate's evaluation"


def test_smoke_check_with_a_missing_prediction_counts_them_all_as_differing():
    message = smoke_check(pd.Series([0, 1, 1]), pd.Series([0, 1]))
    assert message == "3 of 3 held-out predictions differ from the candidate's evaluation"


def test_a_candidate_that_is_the_baseline_up_to_rounding_does_not_beat_it():
    baseline = {"model": "DummyRegressor(strategy='mean')", "rmse": 74.881225489}
    verdict = decide({**REGRESSOR, "rmse": 74.881225450, "baseline": baseline}, {})
    assert not verdict["passed"]
    assert verdict["reasons"] == ["rmse 74.8812 vs baseline 74.8812 (DummyRegressor(strategy='mean')): not better "
                                  "than a model that ignores the features"]
    assert decide({**REGRESSOR, "rmse": 74.8, "baseline": baseline}, {})["passed"]


def test_a_clustering_with_fewer_than_two_clusters_is_never_promoted():
    all_noise = {"kind": "clustering", "v_measure": 0.0, "n_clusters": 0, "noise_fraction": 1.0}
    verdict = decide(all_noise, {"tolerance": 0.05})
    assert not verdict["passed"]
    assert verdict["reasons"] == ["found 0 cluster(s) (100% of rows are noise): a clustering needs at least 2"]
    assert decide({"kind": "clustering", "v_measure": 0.6, "n_clusters": 4}, {})["passed"]


def test_the_report_watches_the_compared_metric_first_then_each_bounded_one():
    gate = {"accuracy": {"min": 0.95}, "tolerance": 0.01, "f1_macro": {"min": 0.9, "max": 1.0}}
    assert watched_metrics(gate, "balanced_accuracy") == [
        {"metric": "balanced_accuracy", "bounds": {}}, {"metric": "accuracy", "bounds": {"min": 0.95}},
        {"metric": "f1_macro", "bounds": {"min": 0.9, "max": 1.0}}]
    assert watched_metrics({"rmse": {"max": 60}, "compare": "rmse"}, "rmse") == [{"metric": "rmse",
                                                                                  "bounds": {"max": 60}}]
