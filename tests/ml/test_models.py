"""Model specs -> preprocessing + estimator pipelines."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.models import build_model, fit_model, make_estimator, problem_kind

LOGREG = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}}


def mixed_frame() -> tuple[pd.DataFrame, pd.Series]:
    """Numeric and text features, each with a missing value; the label follows `num`."""
    X = pd.DataFrame({
        "num": [1.0, 2.0, np.nan, 3.0, 10.0, 11.0, 12.0, np.nan, 13.0, 2.5],
        "plan": ["basic", "basic", "pro", None, "pro", "pro", "basic", "pro", "pro", "basic"],
    })
    y = pd.Series([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    return X, y


def numeric_steps(model) -> dict:
    return dict(model.named_steps["preprocess"].named_transformers_["numeric"].named_steps)


def test_fit_model_trains_on_numeric_text_and_missing_values_and_predicts():
    X, y = mixed_frame()
    model = fit_model(LOGREG, X, y, "classification")
    predictions = model.predict(X)
    assert len(predictions) == len(X)
    assert set(predictions) <= {0, 1}
    assert (predictions == y.to_numpy()).mean() >= 0.8
    # unseen category and missing values at predict time do not break scoring
    new = pd.DataFrame({"num": [np.nan, 12.0], "plan": ["enterprise", None]})
    assert len(model.predict(new)) == 2
    proba = model.predict_proba(new)
    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_text_columns_are_one_hot_encoded():
    X, y = mixed_frame()
    model = fit_model(LOGREG, X, y, "classification")
    names = list(model.named_steps["preprocess"].get_feature_names_out())
    assert names == ["num", "plan_basic", "plan_pro"]


def test_preprocessing_is_fitted_on_training_rows_only():
    X = pd.DataFrame({"num": [1.0, 2.0, np.nan, 5.0, 100.0, 200.0],
                      "plan": ["a", "b", "a", "b", "z", "z"]})
    y = pd.Series([0, 1, 0, 1, 0, 1])
    train_X, train_y = X.iloc[:4], y.iloc[:4]
    model = fit_model(LOGREG, train_X, train_y, "classification")
    steps = numeric_steps(model)
    # the median of the training rows fills the gap, and the scaler saw the training rows only
    assert steps["impute"].statistics_[0] == 2.0
    imputed_train = np.array([1.0, 2.0, 2.0, 5.0])
    assert steps["scale"].mean_[0] == pytest.approx(imputed_train.mean())
    assert steps["scale"].mean_[0] != pytest.approx(X["num"].mean())
    # a category seen only outside the training rows is not a feature
    assert "plan_z" not in model.named_steps["preprocess"].get_feature_names_out()


def test_linear_models_are_scaled_and_trees_are_not():
    X, _ = mixed_frame()
    assert "scale" in dict(build_model(LOGREG, X)[0].transformers[0][1].steps)
    for path in ("sklearn.ensemble.RandomForestClassifier", "sklearn.tree.DecisionTreeRegressor",
                 "sklearn.ensemble.HistGradientBoostingClassifier"):
        steps = dict(build_model({"estimator": path}, X)[0].transformers[0][1].steps)
        assert "scale" not in steps, path
        assert "impute" in steps, path


def test_scale_in_the_spec_overrides_the_default():
    X, _ = mixed_frame()
    tree = build_model({"estimator": "sklearn.tree.DecisionTreeClassifier", "scale": True}, X)
    assert "scale" in dict(tree[0].transformers[0][1].steps)
    linear = build_model({**LOGREG, "scale": False}, X)
    assert "scale" not in dict(linear[0].transformers[0][1].steps)


def test_tree_model_trains_on_raw_values():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 10.0, 11.0, 12.0], "plan": ["a", "b", "a", "b", "a", "b"]})
    y = pd.Series([0, 0, 0, 1, 1, 1])
    spec = {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}}
    model = fit_model(spec, X, y, "classification")
    assert (model.predict(X) == y.to_numpy()).all()
    # the split sits between 3 and 10 in raw units, not between z-scores
    assert model.named_steps["model"].tree_.threshold[0] == pytest.approx(6.5)


def test_kmeans_fits_without_a_target():
    X, _ = mixed_frame()
    spec = {"estimator": "sklearn.cluster.KMeans",
            "params": {"n_clusters": 2, "n_init": 2, "random_state": 0}}
    model = fit_model(spec, X, None, "clustering")
    assert set(model.predict(X)) == {0, 1}


@pytest.mark.parametrize("path, message", [
    ("sklearn.linear_model.NoSuchModel", "has no 'NoSuchModel'"),
    ("no_such_package.models.Thing", "cannot be imported"),
    ("LogisticRegression", "not an import path"),
])
def test_unknown_estimator_path_is_a_model_spec_error(path, message):
    with pytest.raises(ModelSpecError, match=message):
        make_estimator({"estimator": path})
    X, y = mixed_frame()
    with pytest.raises(ModelSpecError, match=path):
        fit_model({"estimator": path}, X, y, "classification")


def test_unknown_param_name_is_a_model_spec_error():
    with pytest.raises(ModelSpecError, match=r"rejects params \{'alpah': 1\}"):
        make_estimator({"estimator": "sklearn.linear_model.Ridge", "params": {"alpah": 1}})


def test_bad_param_value_is_a_model_spec_error_at_fit():
    X, y = mixed_frame()
    spec = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": "abc"}}
    with pytest.raises(ModelSpecError, match="LogisticRegression' failed to fit: .*'C' parameter"):
        fit_model(spec, X, y, "classification")


def test_problem_kind():
    kmeans = {"estimator": "sklearn.cluster.KMeans", "params": {"n_clusters": 3}}
    assert problem_kind(kmeans, "classification") == "clustering"
    assert problem_kind(kmeans, "regression") == "clustering"
    assert problem_kind(LOGREG, "classification") == "classification"
    assert problem_kind({"estimator": "sklearn.linear_model.Ridge"}, "regression") == "regression"


def test_problem_kind_refuses_a_regressor_for_classification_and_vice_versa():
    with pytest.raises(ModelSpecError, match="'sklearn.linear_model.Ridge' is not a classifier"):
        problem_kind({"estimator": "sklearn.linear_model.Ridge"}, "classification")
    with pytest.raises(ModelSpecError, match="is not a regressor"):
        problem_kind(LOGREG, "regression")


def test_missing_booleans_are_imputed_like_text():
    X = pd.DataFrame({"flag": pd.array([True, None, False, True, True, None], dtype=object),
                      "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    y = pd.Series([1, 0, 0, 1, 1, 0])
    model = fit_model({"estimator": "sklearn.linear_model.LogisticRegression", "params": {}}, X, y,
                      "classification")
    encoded = model[:-1].get_feature_names_out().tolist()
    assert sorted(encoded) == ["flag_False", "flag_True", "x"]
