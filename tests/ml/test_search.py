"""Hyperparameter search: grid points, their k-fold scores, and the winner."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.models import build_model
from pipeline.ml.search import best_point, cross_validate, grid_points, search_summary, with_point

LOGREG = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200}}
RIDGE = {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}


def noisy_rows(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """A numeric and a text feature; a noisy label and a noisy numeric target that follow `x`."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "plan": rng.choice(["a", "b", "c"], size=n)})
    X.loc[3, "x"] = np.nan  # preprocessing runs inside each fold
    noise = rng.normal(size=n)
    label = pd.Series((X["x"].fillna(0) + noise > 0).astype(int))
    target = pd.Series(2.0 * X["x"].fillna(0) + noise)
    return X, label, target


def result(point: dict, mean: float, model: str | None = None, folds: int = 3) -> dict:
    """A CrossValidate output (cv.json): the point, its scores, and the model it belongs to."""
    found = {"point": point, "cv": {"scoring": "accuracy", "folds": folds, "mean": mean, "std": 0.0,
                                    "scores": [mean] * folds}}
    return {**found, "model": model} if model else found


# ---------------------------------------------------------------- grid_points

def test_grid_points_are_every_combination_in_sorted_name_order():
    points = grid_points({"max_depth": [2, 4], "criterion": ["gini", "entropy", "log_loss"]})
    assert points == [
        {"criterion": "gini", "max_depth": 2}, {"criterion": "gini", "max_depth": 4},
        {"criterion": "entropy", "max_depth": 2}, {"criterion": "entropy", "max_depth": 4},
        {"criterion": "log_loss", "max_depth": 2}, {"criterion": "log_loss", "max_depth": 4},
    ]
    assert all(list(point) == ["criterion", "max_depth"] for point in points)


def test_grid_points_do_not_depend_on_the_order_names_are_written_in():
    a = grid_points({"b": [1, 2], "a": [True, False], "c": [0.1]})
    b = grid_points({"c": [0.1], "a": [True, False], "b": [1, 2]})
    assert a == b
    assert [list(p.items()) for p in a] == [list(p.items()) for p in b]
    assert len(a) == 4


def test_grid_points_keep_the_value_order_of_each_list():
    assert grid_points({"C": [10.0, 0.1, 1.0]}) == [{"C": 10.0}, {"C": 0.1}, {"C": 1.0}]


# ---------------------------------------------------------------- with_point

def test_with_point_drops_the_grid_and_merges_the_point_into_params():
    spec = {**LOGREG, "params": {"max_iter": 200, "C": 1.0}, "grid": {"C": [0.1, 1.0]}, "cv_folds": 3}
    before = copy.deepcopy(spec)
    assert with_point(spec, {"C": 0.1}) == {
        "estimator": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 200, "C": 0.1},  # the point's value wins
        "cv_folds": 3,
    }
    assert spec == before  # the spec in config is not touched


def test_with_point_on_a_spec_without_params():
    spec = {"estimator": "sklearn.tree.DecisionTreeClassifier", "grid": {"max_depth": [2]}}
    assert with_point(spec, {"max_depth": 2}) == {"estimator": "sklearn.tree.DecisionTreeClassifier",
                                                  "params": {"max_depth": 2}}
    assert "params" not in spec


# ---------------------------------------------------------------- cross_validate

@pytest.mark.parametrize("kind, spec, splitter, compare, metric, scorer, sign, folds, seed", [
    # by default, what the gate compares by default: balanced accuracy, rmse (positive: lower is better)
    ("classification", LOGREG, StratifiedKFold, None, "balanced_accuracy", "balanced_accuracy", 1, 3, 7),
    ("regression", RIDGE, KFold, None, "rmse", "neg_root_mean_squared_error", -1, 2, 11),
    # or the gate's compare metric
    ("classification", LOGREG, StratifiedKFold, "accuracy", "accuracy", "accuracy", 1, 3, 7),
    ("classification", LOGREG, StratifiedKFold, "roc_auc", "roc_auc", "roc_auc_ovr", 1, 3, 7),
    ("regression", RIDGE, KFold, "r2", "r2", "r2", 1, 2, 11),
    ("regression", RIDGE, KFold, "mae", "mae", "neg_mean_absolute_error", -1, 2, 11),
])
def test_the_score_equals_sklearns_shuffled_cross_val_score(kind, spec, splitter, compare, metric, scorer, sign, folds,
                                                            seed):
    X, y_class, y_value = noisy_rows()
    y = y_class if kind == "classification" else y_value
    got = cross_validate(spec, X, y, kind, folds=folds, seed=seed, compare=compare)
    model, _ = build_model(spec, X, kind, seed=seed)
    expected = sign * cross_val_score(model, X, y, cv=splitter(folds, shuffle=True, random_state=seed),
                                      scoring=scorer)
    assert (got["scoring"], got["folds"]) == (metric, folds)
    assert got["scores"] == pytest.approx(expected.tolist(), abs=1e-12)
    assert got["mean"] == pytest.approx(expected.mean(), abs=1e-12)
    assert got["std"] == pytest.approx(expected.std(), abs=1e-12)
    assert all(isinstance(s, float) for s in [got["mean"], got["std"], *got["scores"]])


def test_cross_validation_encodes_columns_as_the_dataset_says():
    X, y, _ = noisy_rows()
    encoding = {"plan": "ordinal"}
    got = cross_validate(LOGREG, X, y, "classification", folds=3, seed=5, roles={"x": "numeric"}, encoding=encoding)
    model, plan = build_model(LOGREG, X, "classification", roles={"x": "numeric"}, encoding=encoding, seed=5)
    assert plan["plan"]["encoding"] == "ordinal"
    expected = cross_val_score(model, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=5),
                               scoring="balanced_accuracy")
    assert got["scores"] == pytest.approx(expected.tolist(), abs=1e-12)
    onehot = cross_validate(LOGREG, X, y, "classification", folds=3, seed=5)
    assert onehot["scores"] != got["scores"]  # the encoding reached the folds


def test_clustering_cannot_be_cross_validated():
    X, _, _ = noisy_rows()
    spec = {"estimator": "sklearn.cluster.KMeans", "params": {"n_clusters": 2, "n_init": 1}}
    with pytest.raises(ModelSpecError, match="a search grid or several models need a classification or regression "
                                             "problem, "
                                             "not clustering"):
        cross_validate(spec, X, None, "clustering", folds=3, seed=0)


def test_a_bad_param_value_is_a_model_spec_error_naming_the_estimator():
    X, y, _ = noisy_rows()
    spec = {**LOGREG, "params": {"C": -1.0}}
    message = r"estimator 'sklearn\.linear_model\.LogisticRegression' with \{'C': -1\.0\} failed to fit"
    with pytest.raises(ModelSpecError, match=message):
        cross_validate(spec, X, y, "classification", folds=3, seed=0)


def test_an_unknown_param_name_is_a_model_spec_error_naming_the_estimator():
    X, y, _ = noisy_rows()
    spec = {**LOGREG, "params": {"bogus": 1}}
    with pytest.raises(ModelSpecError, match=r"estimator 'sklearn\.linear_model\.LogisticRegression'.*bogus"):
        cross_validate(spec, X, y, "classification", folds=3, seed=0)


# ---------------------------------------------------------------- best_point / search_summary

def test_best_point_is_the_highest_mean():
    results = [result({"C": 0.1}, 0.70), result({"C": 1.0}, 0.85), result({"C": 10.0}, 0.80)]
    assert best_point(results)["point"] == {"C": 1.0}


def test_best_point_on_a_tie_is_the_first_in_grid_order():
    results = [result({"C": 0.1}, 0.70), result({"C": 1.0}, 0.85), result({"C": 10.0}, 0.85)]
    assert best_point(results)["point"] == {"C": 1.0}
    assert best_point(list(reversed(results)))["point"] == {"C": 10.0}


def test_best_point_for_r2_prefers_the_least_negative():
    results = [result({"alpha": 1}, -0.5), result({"alpha": 10}, -0.1)]
    assert best_point(results)["point"] == {"alpha": 10}


def test_search_summary_lists_every_point_and_names_the_winner():
    results = [result({"C": 0.1}, 0.70), result({"C": 1.0}, 0.85)]
    summary = search_summary(results)
    assert summary == {"scoring": "accuracy", "folds": 3, "points": results, "best": {"C": 1.0}, "best_model": None}


def test_search_summary_takes_the_folds_from_the_results():
    results = [result({"C": 0.1}, 0.70, "logreg", folds=7), result({"C": 1.0}, 0.85, "logreg", folds=7)]
    summary = search_summary(results)
    assert summary["folds"] == 7
    assert (summary["best"], summary["best_model"]) == ({"C": 1.0}, "logreg")


def test_search_summary_across_candidate_models_names_the_best_model_and_point():
    results = [result({"C": 0.1}, 0.70, "logreg"), result({"C": 1.0}, 0.80, "logreg"),
               result({"max_depth": 2}, 0.90, "tree"), result({"max_depth": 8}, 0.75, "tree"),
               result({}, 0.85, "forest")]
    summary = search_summary(results)
    assert summary == {"scoring": "accuracy", "folds": 3, "points": results, "best": {"max_depth": 2},
                       "best_model": "tree"}


def test_search_summary_on_a_tie_between_models_keeps_the_first_candidate():
    results = [result({}, 0.80, "logreg"), result({"max_depth": 2}, 0.80, "tree")]
    assert (search_summary(results)["best_model"], search_summary(results)["best"]) == ("logreg", {})
    assert search_summary(results[::-1])["best_model"] == "tree"


def test_search_summary_of_two_real_candidates_picks_the_better_cross_validated_one():
    X, y, _ = noisy_rows(60)
    tree = {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1, "random_state": 0}}
    candidates = {"constant": {"estimator": "sklearn.dummy.DummyClassifier"}, "tree": tree}
    results = [{"point": {}, "cv": cross_validate(spec, X, y, "classification", folds=3, seed=0), "model": name}
               for name, spec in candidates.items()]
    summary = search_summary(results)
    assert results[1]["cv"]["mean"] > results[0]["cv"]["mean"]  # one split on x beats the majority class
    assert (summary["best_model"], summary["best"], summary["folds"]) == ("tree", {}, 3)


def test_search_summary_of_real_cross_validation_results_feeds_with_point():
    X, _, y = noisy_rows()
    spec = {**RIDGE, "grid": {"alpha": [1e4, 0.1]}}  # a huge penalty flattens the fit: 0.1 wins
    results = [{"point": point, "cv": cross_validate(with_point(spec, point), X, y, "regression", folds=2, seed=0)}
               for point in grid_points(spec["grid"])]
    summary = search_summary(results)
    assert (summary["scoring"], summary["folds"]) == ("rmse", 2)  # the regression gate's default
    assert results[1]["cv"]["mean"] < results[0]["cv"]["mean"]  # a lower error wins
    assert summary["best"] == {"alpha": 0.1}
    assert with_point(spec, summary["best"]) == {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 0.1}}


def test_a_failed_fit_of_a_spec_without_params_names_the_estimator():
    X = pd.DataFrame({"x": [float(i) for i in range(12)]})
    y = pd.Series([i / 7 for i in range(12)])  # continuous labels: a classifier cannot fit them
    with pytest.raises(ModelSpecError, match=r"^estimator 'sklearn.linear_model.LogisticRegression' with \{\} "
                                             "failed to fit: .*'continuous'"):
        cross_validate({"estimator": "sklearn.linear_model.LogisticRegression"}, X, y, "classification",
                       folds=3, seed=1)


def test_params_the_estimator_rejects_are_reported_once():
    X = pd.DataFrame({"x": [float(i) for i in range(12)]})
    y = pd.Series([0, 1] * 6)
    with pytest.raises(ModelSpecError) as refused:
        cross_validate({"estimator": "sklearn.linear_model.LogisticRegression", "params": {"bogus": 1}}, X, y,
                       "classification", folds=3, seed=1)
    assert str(refused.value).count("sklearn.linear_model.LogisticRegression") == 1
    assert str(refused.value).startswith("estimator 'sklearn.linear_model.LogisticRegression' rejects params")


def test_the_lowest_error_wins_when_the_search_metric_is_an_error():
    results = [{"model": "a", "point": {}, "cv": {"scoring": "rmse", "folds": 2, "mean": 3.0}},
               {"model": "b", "point": {}, "cv": {"scoring": "rmse", "folds": 2, "mean": 2.0}},
               {"model": "c", "point": {}, "cv": {"scoring": "rmse", "folds": 2, "mean": 2.0}}]
    assert (search_summary(results)["best_model"]) == "b"  # a tie goes to the first
    results = [{**r, "cv": {**r["cv"], "scoring": "r2"}} for r in results]
    assert search_summary(results)["best_model"] == "a"


def test_a_compare_metric_that_cannot_score_folds_is_refused_naming_the_key():
    X, y, _ = noisy_rows()
    with pytest.raises(ModelSpecError, match="compare = 'v_measure' cannot score cross-validation folds") as refused:
        cross_validate(LOGREG, X, y, "classification", folds=3, seed=0, compare="v_measure")
    assert refused.value.key == "compare"


def test_each_fold_done_is_reported_as_it_finishes():
    X, y, _ = noisy_rows()
    done = []
    cross_validate(LOGREG, X, y, "classification", folds=3, seed=0, on_fold=done.append)
    assert done == [1, 2, 3]
