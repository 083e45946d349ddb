"""Held-out metrics per problem kind."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.gate import higher_is_better
from pipeline.ml.metrics import (
    baseline_metrics,
    classification_metrics,
    clustering_metrics,
    evaluate,
    regression_metrics,
)
from pipeline.ml.models import fit_model


def test_classification_metrics_keys_and_values():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    values = classification_metrics(y_true, y_pred, proba, [0, 1])
    assert set(values) == {"accuracy", "balanced_accuracy", "f1_macro", "confusion_matrix", "roc_auc"}
    assert values["accuracy"] == 0.75
    assert values["balanced_accuracy"] == 0.75
    assert 0 < values["f1_macro"] < 1
    assert values["confusion_matrix"] == {"labels": [0, 1], "matrix": [[1, 1], [0, 2]]}
    assert values["roc_auc"] == 1.0  # every positive scored above every negative


def test_roc_auc_for_multiclass_with_string_labels():
    y_true = np.array(["a", "b", "c", "a", "c"])
    y_pred = np.array(["a", "b", "b", "a", "c"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    values = classification_metrics(y_true, y_pred, proba, ["a", "b", "c"])
    assert 0.5 < values["roc_auc"] <= 1.0
    assert values["accuracy"] == pytest.approx(0.8)
    assert values["confusion_matrix"]["labels"] == ["a", "b", "c"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_roc_auc_left_out_when_undefined():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.8, 0.2]])
    # one class missing from y_true
    values = classification_metrics(np.array([0, 0, 0]), np.array([0, 1, 0]), proba, [0, 1])
    assert "roc_auc" not in values
    assert values["accuracy"] == pytest.approx(2 / 3)
    # no probabilities
    assert "roc_auc" not in classification_metrics(np.array([0, 1]), np.array([0, 1]))


def test_regression_metrics():
    values = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert set(values) == {"rmse", "mae", "r2"}
    assert values["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert values["mae"] == pytest.approx(0.5)
    assert values["r2"] == pytest.approx(1 - 4 / 5)
    perfect = regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert perfect == {"rmse": 0.0, "mae": 0.0, "r2": 1.0}


def test_clustering_metrics_with_and_without_labels():
    features = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    labels_pred = np.array([1, 1, 1, 0, 0, 0])
    labels_true = np.array(["a", "a", "a", "b", "b", "b"])
    values = clustering_metrics(labels_true, labels_pred, features)
    assert set(values) == {"homogeneity", "completeness", "v_measure", "ari", "ami", "silhouette", "n_clusters"}
    assert values["n_clusters"] == 2
    for key in ("homogeneity", "completeness", "v_measure", "ari", "ami"):
        assert values[key] == pytest.approx(1.0), key  # same partition, other names
    assert values["silhouette"] > 0.9
    unlabelled = clustering_metrics(None, labels_pred, features)
    assert set(unlabelled) == {"silhouette", "n_clusters"}


def test_silhouette_left_out_for_a_single_cluster():
    values = clustering_metrics(None, np.array([0, 0, 0]), np.array([[0.0], [1.0], [2.0]]))
    assert "silhouette" not in values


def test_clustering_metrics_count_clusters_without_the_noise_label():
    features = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.9]])
    values = clustering_metrics(None, np.array([0, 0, 0, 1, 1, -1]), features)
    assert values["n_clusters"] == 2  # -1 is noise, not a cluster
    assert values["noise_fraction"] == pytest.approx(1 / 6)
    only_noise = clustering_metrics(None, np.array([-1, -1, -1]), features[:3])
    assert only_noise == {"n_clusters": 0, "noise_fraction": 1.0}


def test_noise_fraction_is_zero_for_a_noise_finding_clusterer_that_found_none_and_absent_for_kmeans():
    from sklearn.cluster import DBSCAN, KMeans

    features = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert clustering_metrics(None, labels, features, DBSCAN())["noise_fraction"] == 0.0
    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(features)
    values = clustering_metrics(None, kmeans.labels_, features, kmeans)
    assert "noise_fraction" not in values
    assert values["n_clusters"] == 2


def test_evaluate_dbscan_uses_the_labels_it_fitted_and_refuses_other_rows():
    X = pd.DataFrame({"a": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2, 50.0]})
    spec = {"estimator": "sklearn.cluster.DBSCAN", "params": {"eps": 0.5, "min_samples": 2}, "fit_on": "all",
            "scale": False}
    model, _ = fit_model(spec, X, None, "clustering")
    values, predictions = evaluate(model, X, None, "clustering")
    assert predictions["prediction"].tolist() == [0, 0, 0, 1, 1, 1, -1]
    assert values["n_clusters"] == 2
    assert values["noise_fraction"] == pytest.approx(1 / 7)
    with pytest.raises(ModelSpecError, match="DBSCAN has no predict: it labels only the 7 rows it was fitted on, "
                                             "not 3 other rows"):
        evaluate(model, X.head(3), None, "clustering")


# ---------------------------------------------------------------- baseline_metrics

def test_classification_baseline_always_predicts_the_training_majority():
    # training: 70 % class 0; test: 60 % class 0
    values = baseline_metrics(pd.Series([0] * 7 + [1] * 3), pd.Series([0] * 6 + [1] * 4), "classification")
    assert values["model"] == "DummyClassifier(strategy='prior')"
    assert values["accuracy"] == pytest.approx(0.6)  # the share of the majority class among the test rows
    assert values["balanced_accuracy"] == pytest.approx(0.5)  # 1 / 2 classes
    assert values["f1_macro"] == pytest.approx((2 * 0.6 / 1.6 + 0) / 2)
    assert values["roc_auc"] == pytest.approx(0.5)  # the same probability for every row
    assert "confusion_matrix" not in values


def test_multiclass_baseline_scores_one_over_the_number_of_classes():
    values = baseline_metrics(pd.Series(list("aaaabbc")), pd.Series(list("aabbcc")), "classification")
    assert values["accuracy"] == pytest.approx(2 / 6)  # 'a', the training majority, is 2 of 6 test rows
    assert values["balanced_accuracy"] == pytest.approx(1 / 3)
    assert values["roc_auc"] == pytest.approx(0.5)


def test_regression_baseline_predicts_the_training_mean():
    values = baseline_metrics(pd.Series([1.0, 2.0, 3.0, 6.0]), pd.Series([2.0, 4.0, 7.0]), "regression")
    # the training mean is 3: errors -1, 1, 4 on the test rows
    assert values["model"] == "DummyRegressor(strategy='mean')"
    assert values["rmse"] == pytest.approx(np.sqrt(18 / 3))
    assert values["mae"] == pytest.approx(2.0)
    # the test rows' own mean is 13 / 3: their total sum of squares is 4 + 16 + 49 - 3 * (13 / 3) ** 2 = 38 / 3
    assert values["r2"] == pytest.approx(1 - 18 / (38 / 3))  # -0.421: the training mean is not the test mean


def test_clustering_and_unlabelled_rows_have_no_baseline():
    assert baseline_metrics(pd.Series([0, 1]), pd.Series([0, 1]), "clustering") is None
    assert baseline_metrics(None, None, "clustering") is None
    assert baseline_metrics(None, pd.Series([1.0]), "regression") is None


def test_lower_is_better_metrics():
    assert not higher_is_better("rmse")
    assert not higher_is_better("mae")
    assert not higher_is_better("inertia")
    assert not higher_is_better("noise_fraction")
    assert higher_is_better("n_clusters")
    assert higher_is_better("balanced_accuracy")
    assert higher_is_better("accuracy")
    assert higher_is_better("r2")


def small_classification():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0, 10.0, 11.0, 12.0, 13.0],
                      "plan": ["a", "a", "b", "a", "b", "b", "a", "b"]})
    y = pd.Series(["no", "no", "no", "no", "yes", "yes", "yes", "yes"])
    return X, y


def test_evaluate_classification_model_returns_metrics_and_predictions():
    X, y = small_classification()
    model, _ = fit_model({"estimator": "sklearn.linear_model.LogisticRegression"}, X, y, "classification")
    values, predictions = evaluate(model, X, y, "classification")
    assert values["kind"] == "classification"
    assert values["n_samples"] == 8
    assert values["accuracy"] == 1.0
    assert values["roc_auc"] == 1.0
    assert list(predictions.columns) == ["actual", "prediction", "proba_no", "proba_yes"]
    assert list(predictions["actual"]) == list(y)
    assert np.allclose(predictions[["proba_no", "proba_yes"]].sum(axis=1), 1.0)


def test_evaluate_regression_model():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0, 5.0]})
    y = pd.Series([2.0, 4.0, 6.0, 8.0, 10.0])
    model, _ = fit_model({"estimator": "sklearn.linear_model.LinearRegression"}, X, y, "regression")
    values, predictions = evaluate(model, X, y, "regression")
    assert values["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert values["r2"] == pytest.approx(1.0)
    assert values["kind"] == "regression"
    assert list(predictions.columns) == ["actual", "prediction"]


def test_evaluate_kmeans_reports_inertia_and_label_agreement():
    X = pd.DataFrame({"a": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2], "b": [1.0, 1.1, 0.9, 7.0, 7.1, 6.9]})
    y = pd.Series([3, 3, 3, 8, 8, 8])
    spec = {"estimator": "sklearn.cluster.KMeans",
            "params": {"n_clusters": 2, "n_init": 2, "random_state": 0}}
    model, _ = fit_model(spec, X, None, "clustering")
    values, _ = evaluate(model, X, y, "clustering")
    assert values["v_measure"] == pytest.approx(1.0)
    assert values["inertia"] > 0
    assert values["n_samples"] == 6
    assert values["n_clusters"] == 2
    assert "noise_fraction" not in values  # KMeans calls no row noise
    unlabelled, predictions = evaluate(model, X, None, "clustering")
    assert "v_measure" not in unlabelled
    assert "inertia" in unlabelled and "silhouette" in unlabelled
    assert "actual" not in predictions.columns


@pytest.mark.parametrize("estimator, kind", [
    ("sklearn.ensemble.HistGradientBoostingClassifier", "classification"),
    ("sklearn.linear_model.Ridge", "regression"),
    ("sklearn.cluster.KMeans", "clustering"),
])
def test_rows_are_scored_in_chunks_exactly_as_the_pipeline_scores_them_at_once(monkeypatch, estimator, kind):
    import pipeline.ml.metrics
    from pipeline.ml.metrics import predict_frame

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=250), "plan": rng.choice(["x", "y", "z"], 250)}, index=range(1000, 1250))
    y = pd.Series((X["a"] > 0).astype(int) if kind == "classification" else X["a"] * 3, index=X.index)
    params = {"n_clusters": 3, "n_init": 2, "random_state": 0} if kind == "clustering" else {}
    model, _ = fit_model({"estimator": estimator, "params": params}, X, None if kind == "clustering" else y, kind)
    monkeypatch.setattr(pipeline.ml.metrics, "SCORING_CHUNK", 60)  # 5 chunks, the last of 10 rows
    scored = predict_frame(model, X, kind)
    assert scored.index.equals(X.index)
    assert (scored["prediction"].to_numpy() == model.predict(X)).all()
    if kind == "classification":
        assert (scored[["proba_0", "proba_1"]].to_numpy() == model.predict_proba(X)).all()


@pytest.mark.parametrize("truth, predicted", [
    ([1, 0, 1, 0], [True, False, False, False]), ([True, False, True, False], [1, 0, 0, 0]),
    (["no", "yes", "yes", "no"], ["no", "yes", "no", "no"]), ([3, 1, 3, 1], [3, 1, 1, 1]),
])
def test_metrics_on_codes_equal_scikit_learns_on_the_labels_whatever_their_kind(truth, predicted):
    from sklearn import metrics as skm

    from pipeline.ml.metrics import classification_metrics

    truth, predicted = np.array(truth), np.array(predicted)
    classes = sorted(set(truth.tolist()), key=str)
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.7, 0.3]])
    found = classification_metrics(truth, predicted, proba, classes)
    assert found["accuracy"] == skm.accuracy_score(truth, predicted) == 0.75
    assert found["balanced_accuracy"] == skm.balanced_accuracy_score(truth, predicted)
    assert found["f1_macro"] == skm.f1_score(truth, predicted, average="macro", zero_division=0)
    assert found["confusion_matrix"]["matrix"] == [[2, 0], [1, 1]]
    assert found["roc_auc"] == skm.roc_auc_score(truth, proba[:, 1], labels=classes)


def test_text_labels_mixed_with_numbers_are_refused_as_scikit_learn_refuses_them():
    from pipeline.ml.metrics import classification_metrics

    with pytest.raises(ValueError, match="Mix of label input types"):
        classification_metrics(np.array([0, 1]), np.array(["0", "1"], dtype=object))
