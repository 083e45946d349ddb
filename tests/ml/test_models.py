"""Model specs -> preprocessing + estimator pipelines."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.models import (
    InductiveClusterer,
    build_model,
    can_score_new_rows,
    check_spec,
    fit_model,
    fitted_labels,
    learner,
    make_estimator,
    problem_kind,
)

LOGREG = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}}
FOREST = {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 5, "random_state": 0}}
HGB = {"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 10}}
DBSCAN = {"estimator": "sklearn.cluster.DBSCAN", "params": {"eps": 1.0, "min_samples": 3}}
AGGLOMERATIVE = {"estimator": "sklearn.cluster.AgglomerativeClustering", "params": {"n_clusters": 2}}
KNN = {"estimator": "sklearn.neighbors.KNeighborsClassifier", "params": {"n_neighbors": 3}}
LOG_RIDGE = {"estimator": "sklearn.compose.TransformedTargetRegressor", "params": {
    "regressor": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}},
    "func": {"function": "numpy.log1p"}, "inverse_func": {"function": "numpy.expm1"}}}


@pytest.fixture(autouse=True)
def one_thread():
    """HistGradientBoosting's OpenMP threads spin against the other test process on a small machine: these
    fits are tiny, one thread is faster."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def mixed_frame() -> tuple[pd.DataFrame, pd.Series]:
    """Numeric and text features, each with a missing value; the label follows `num`."""
    X = pd.DataFrame({
        "num": [1.0, 2.0, np.nan, 3.0, 10.0, 11.0, 12.0, np.nan, 13.0, 2.5],
        "plan": ["basic", "basic", "pro", None, "pro", "pro", "basic", "pro", "pro", "basic"],
    })
    y = pd.Series([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
    return X, y


def blobs() -> pd.DataFrame:
    """Two tight, far-apart groups of 15 rows, with a text column that follows them."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": np.r_[rng.normal(0, 0.2, 15), rng.normal(5, 0.2, 15)],
                         "b": np.r_[rng.normal(0, 0.2, 15), rng.normal(5, 0.2, 15)],
                         "c": ["x"] * 15 + ["y"] * 15})


def block_steps(model, block: str = "numeric") -> list[str]:
    """The step names of one block (numeric, date, onehot, ordinal, ...) of a pipeline's preprocessor."""
    return list(dict((name, steps) for name, steps, _ in model.named_steps["preprocess"].transformers)[block]
                .named_steps)


# ---------------------------------------------------------------- fit and predict

def test_fit_model_trains_on_numeric_text_and_missing_values_and_predicts():
    X, y = mixed_frame()
    model, plan = fit_model(LOGREG, X, y, "classification")
    assert plan["num"]["encoding"] == "scaled" and plan["plan"]["encoding"] == "onehot"
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


def test_build_model_returns_an_unfitted_pipeline_and_its_plan():
    X, _ = mixed_frame()
    model, plan = build_model(LOGREG, X, "classification")
    assert [name for name, _ in model.steps] == ["preprocess", "model"]
    assert not hasattr(model.named_steps["model"], "coef_")
    assert list(plan) == ["num", "plan"]


def test_text_columns_are_one_hot_encoded():
    X, y = mixed_frame()
    model, _ = fit_model(LOGREG, X, y, "classification")
    names = list(model.named_steps["preprocess"].get_feature_names_out())
    assert names == ["num", "plan_basic", "plan_pro"]


def test_preprocessing_is_fitted_on_training_rows_only():
    X = pd.DataFrame({"num": [1.0, 2.0, np.nan, 5.0, 100.0, 200.0],
                      "plan": ["a", "b", "a", "b", "z", "z"]})
    y = pd.Series([0, 1, 0, 1, 0, 1])
    train_X, train_y = X.iloc[:4], y.iloc[:4]
    model, plan = fit_model(LOGREG, train_X, train_y, "classification")
    steps = model.named_steps["preprocess"].named_transformers_["numeric"].named_steps
    # the median of the training rows fills the gap, and the scaler saw the training rows only
    assert steps["impute"].statistics_[0] == 2.0
    imputed_train = np.array([1.0, 2.0, 2.0, 5.0])
    assert steps["scale"].mean_[0] == pytest.approx(imputed_train.mean())
    assert steps["scale"].mean_[0] != pytest.approx(X["num"].mean())
    # a category seen only outside the training rows is not a feature, nor counted in the plan
    assert "plan_z" not in model.named_steps["preprocess"].get_feature_names_out()
    assert plan["plan"]["categories"] == 2


def test_linear_models_are_scaled_and_trees_are_not():
    X, _ = mixed_frame()
    assert "scale" in block_steps(build_model(LOGREG, X, "classification")[0])
    for path in ("sklearn.ensemble.RandomForestClassifier", "sklearn.tree.DecisionTreeRegressor",
                 "sklearn.ensemble.HistGradientBoostingClassifier"):
        model, plan = build_model({"estimator": path}, X, "classification")
        steps = block_steps(model)
        assert "scale" not in steps, path
        assert ("impute" in steps) == (path != "sklearn.ensemble.HistGradientBoostingClassifier"), path
        assert plan["num"]["encoding"] == "as is", path


def test_histgradientboosting_is_given_missing_values_as_they_are_and_splits_them_off():
    X = pd.DataFrame({"num": [1.0, np.nan, 3.0, np.nan, 11.0, np.nan, 12.0, 2.0] * 10,
                      "day": ["2024-01-01", None, "2024-02-01", "2024-03-01"] * 20})
    y = pd.Series([0, 1, 0, 1, 0, 1, 0, 0] * 10)  # missing num means class 1: imputing the median would hide it
    model, _ = fit_model({"estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                          "params": {"max_iter": 20, "min_samples_leaf": 2}}, X, y, "classification")
    assert np.isnan(model[0].transform(X)).any()  # NaN reaches the model
    assert (model.predict(X) == y).all()


def test_histgradientboosting_drops_a_column_missing_in_every_training_row_as_the_imputer_did():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 4.0] * 5, "new_field": [np.nan] * 20, "day": [None] * 20})
    y = pd.Series([0, 0, 1, 1] * 5)
    model, _ = fit_model({"estimator": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 5}},
                         X, y, "classification", roles={"day": "date"})
    assert "new_field" not in model[0].get_feature_names_out()  # dropped; the empty date's parts are kept as 0
    later = X.assign(new_field=7.0)  # filled in the rows scored later
    assert list(model.predict(later)) == list(model.predict(X))


def test_scale_in_the_spec_overrides_the_default():
    X, _ = mixed_frame()
    tree, plan = build_model({"estimator": "sklearn.tree.DecisionTreeClassifier", "scale": True}, X, "classification")
    assert "scale" in block_steps(tree) and plan["num"]["encoding"] == "scaled"
    linear, plan = build_model({**LOGREG, "scale": False}, X, "classification")
    assert "scale" not in block_steps(linear) and plan["num"]["encoding"] == "as is"


def test_tree_model_trains_on_raw_values():
    X = pd.DataFrame({"num": [1.0, 2.0, 3.0, 10.0, 11.0, 12.0], "plan": ["a", "b", "a", "b", "a", "b"]})
    y = pd.Series([0, 0, 0, 1, 1, 1])
    spec = {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}}
    model, _ = fit_model(spec, X, y, "classification")
    assert (model.predict(X) == y.to_numpy()).all()
    # the split is on num (after the ordinal plan column) between 3 and 10 in raw units, not between z-scores
    tree = model.named_steps["model"].tree_
    assert model[:-1].get_feature_names_out()[tree.feature[0]] == "num"
    assert tree.threshold[0] == pytest.approx(6.5)


def test_kmeans_fits_without_a_target():
    X, _ = mixed_frame()
    spec = {"estimator": "sklearn.cluster.KMeans",
            "params": {"n_clusters": 2, "n_init": 2, "random_state": 0}}
    model, _ = fit_model(spec, X, None, "clustering")
    assert set(model.predict(X)) == {0, 1}
    assert can_score_new_rows(model)


def test_missing_booleans_are_imputed_like_text():
    X = pd.DataFrame({"flag": pd.array([True, None, False, True, True, None], dtype=object),
                      "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    y = pd.Series([1, 0, 0, 1, 1, 0])
    model, _ = fit_model({"estimator": "sklearn.linear_model.LogisticRegression", "params": {}}, X, y,
                         "classification")
    encoded = model[:-1].get_feature_names_out().tolist()
    assert sorted(encoded) == ["flag_False", "flag_True", "x"]
    # the two gaps take the most frequent value, True
    flags = pd.DataFrame(model[:-1].transform(X), columns=encoded)["flag_True"]
    assert flags.tolist() == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]


def test_roles_and_encoding_reach_the_plan():
    X = pd.DataFrame({"zip": [1, 2, 1, 2, 3, 3], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    y = pd.Series([0, 1, 0, 1, 1, 0])
    model, plan = fit_model(LOGREG, X, y, "classification", roles={"zip": "categorical"},
                            encoding={"zip": "onehot"})
    assert plan["zip"] == {"kind": "categorical", "encoding": "onehot", "categories": 3, "chosen_by": "config"}
    assert model[:-1].get_feature_names_out().tolist() == ["x", "zip_1", "zip_2", "zip_3"]


def test_an_ordinal_override_on_a_linear_model_fits_with_missing_and_unseen_categories():
    X, y = mixed_frame()
    model, plan = fit_model(LOGREG, X, y, "classification", encoding={"plan": "ordinal"})
    assert plan["plan"]["encoding"] == "ordinal"
    assert len(model.predict(pd.DataFrame({"num": [1.0], "plan": ["gold"]}))) == 1


# ---------------------------------------------------------------- tree and native learners

def test_learner_of_each_kind_of_estimator():
    assert learner(make_estimator(LOGREG)) == "linear"
    assert learner(make_estimator(FOREST)) == "tree"
    assert learner(make_estimator({"estimator": "sklearn.ensemble.GradientBoostingRegressor"})) == "tree"
    assert learner(make_estimator({"estimator": "sklearn.tree.DecisionTreeClassifier"})) == "tree"
    assert learner(make_estimator(HGB)) == "native"
    assert learner(make_estimator(LOG_RIDGE)) == "linear"
    hgb_ttr = {"estimator": "sklearn.compose.TransformedTargetRegressor",
               "params": {"regressor": {"estimator": "sklearn.ensemble.HistGradientBoostingRegressor"}}}
    assert learner(make_estimator(hgb_ttr)) == "native"


def test_random_forest_gets_ordinal_codes_not_one_hot_columns_nor_scaling():
    X, y = mixed_frame()
    model, plan = fit_model(FOREST, X, y, "classification")
    assert plan["plan"] == {"kind": "categorical", "encoding": "ordinal", "categories": 2, "chosen_by": "rule"}
    preprocess = model.named_steps["preprocess"]
    assert list(preprocess.get_feature_names_out()) == ["plan", "num"]
    assert "scale" not in block_steps(model) and "scale" not in block_steps(model, "ordinal")
    out = preprocess.transform(X)
    assert out[:, 0].tolist() == [0.0, 0.0, 1.0, -1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]  # basic 0, pro 1, gap -1
    assert out[:, 1].tolist() == [1.0, 2.0, 6.5, 3.0, 10.0, 11.0, 12.0, 6.5, 13.0, 2.5]  # raw; gaps the median
    assert model.predict(pd.DataFrame({"num": [12.0], "plan": ["gold"]})).tolist() == [1]


def test_hist_gradient_boosting_gets_the_ordinal_columns_as_native_categories():
    X, y = mixed_frame()
    X = X.assign(size=["s", "m", "l", "s", "m", "l", "s", "m", "l", "s"])
    model, plan = fit_model(HGB, X, y, "classification")
    assert plan["plan"]["native"] is True and plan["size"]["native"] is True
    assert list(model[:-1].get_feature_names_out()) == ["plan", "size", "num"]
    assert model[-1].categorical_features == [0, 1]
    assert model[-1].is_categorical_.tolist() == [True, True, False]


def test_hist_gradient_boosting_reads_an_unseen_category_as_missing():
    X, y = mixed_frame()
    model, _ = fit_model(HGB, X, y, "classification")
    unseen = pd.DataFrame({"num": [1.0, 12.0], "plan": ["gold", "gold"]})
    missing = pd.DataFrame({"num": [1.0, 12.0], "plan": [None, None]})
    assert np.isnan(model[:-1].transform(unseen)[:, 0]).all()
    assert np.array_equal(model.predict_proba(unseen), model.predict_proba(missing))


def test_hist_gradient_boosting_target_encodes_more_than_255_categories():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"big": [f"k{i % 300}" for i in range(600)], "small": rng.choice(["a", "b", "c"], 600),
                      "num": rng.normal(size=600)})
    y = pd.Series((X["small"] == "a").astype(int))
    model, plan = fit_model(HGB, X, y, "classification")
    assert plan["big"] == {"kind": "categorical", "encoding": "target", "categories": 300, "chosen_by": "rule"}
    assert plan["small"]["native"] is True
    assert list(model[:-1].get_feature_names_out()) == ["small", "num", "big"]
    assert model[-1].categorical_features == [0]
    assert (model.predict(X) == y).mean() > 0.95


def test_a_transformed_target_regressor_around_hist_gradient_boosting_is_native_too():
    X = pd.DataFrame({"plan": ["a", "b", "c"] * 10, "num": np.arange(30.0)})
    y = pd.Series(np.where(X["plan"] == "a", 100.0, 1.0) + X["num"])
    spec = {"estimator": "sklearn.compose.TransformedTargetRegressor", "params": {
        "regressor": {"estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
                      "params": {"max_iter": 20, "min_samples_leaf": 2}},
        "func": {"function": "numpy.log1p"}, "inverse_func": {"function": "numpy.expm1"}}}
    model, plan = fit_model(spec, X, y, "regression")
    assert plan["plan"]["native"] is True
    assert model[-1].regressor.categorical_features == [0]
    assert model[-1].regressor_.is_categorical_.tolist() == [True, False]
    predictions = model.predict(pd.DataFrame({"plan": ["a", "b"], "num": [10.0, 10.0]}))
    assert predictions[0] > 50 > predictions[1]


# ---------------------------------------------------------------- nested estimators

def test_a_transformed_target_regressor_with_numpy_functions_predicts_like_one_built_by_hand():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    y = pd.Series(np.exp(1 + X["a"] + 0.3 * rng.normal(size=30)))
    check_spec(LOG_RIDGE)
    model, _ = fit_model(LOG_RIDGE, X, y, "regression")
    estimator = model[-1]
    assert estimator.func is np.log1p and estimator.inverse_func is np.expm1
    assert isinstance(estimator.regressor, Ridge) and estimator.regressor.alpha == 0.5
    features = model[:-1].transform(X)
    by_hand = TransformedTargetRegressor(regressor=Ridge(alpha=0.5), func=np.log1p, inverse_func=np.expm1)
    assert np.allclose(model.predict(X), by_hand.fit(features, y).predict(features))
    assert np.allclose(model.predict(X), np.expm1(Ridge(alpha=0.5).fit(features, np.log1p(y)).predict(features)))


def test_a_stacking_classifier_takes_a_list_of_estimator_tables_and_a_final_estimator():
    spec = {"estimator": "sklearn.ensemble.StackingClassifier", "params": {
        "estimators": [{"name": "lr", "estimator": "sklearn.linear_model.LogisticRegression"},
                       {"name": "tree", "estimator": "sklearn.tree.DecisionTreeClassifier",
                        "params": {"max_depth": 2}}],
        "final_estimator": {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 2.0}},
        "cv": 2}}
    check_spec(spec)
    X, y = mixed_frame()
    model, _ = fit_model(spec, X, y, "classification")
    stack = model[-1]
    assert [(name, type(est).__name__) for name, est in stack.estimators] == [
        ("lr", "LogisticRegression"), ("tree", "DecisionTreeClassifier")]
    assert stack.estimators[1][1].max_depth == 2
    assert stack.final_estimator.C == 2.0
    assert stack.final_estimator_.coef_.shape == (1, 2)  # fitted on the two base models' outputs
    assert (model.predict(X) == y.to_numpy()).mean() >= 0.8


def test_a_soft_voting_classifier_averages_its_estimators():
    spec = {"estimator": "sklearn.ensemble.VotingClassifier", "params": {
        "estimators": [{"name": "lr", "estimator": "sklearn.linear_model.LogisticRegression"},
                       {"name": "nb", "estimator": "sklearn.naive_bayes.GaussianNB"}],
        "voting": "soft"}}
    X, y = mixed_frame()
    model, _ = fit_model(spec, X, y, "classification")
    features = model[:-1].transform(X)
    by_hand = np.mean([est.predict_proba(features) for est in model[-1].estimators_], axis=0)
    assert np.allclose(model.predict_proba(X), by_hand)
    assert [name for name, _ in model[-1].estimators] == ["lr", "nb"]


def test_an_unnamed_list_entry_gets_its_class_name_and_position():
    estimator = make_estimator({"estimator": "sklearn.ensemble.VotingClassifier", "params": {"estimators": [
        {"name": "lr", "estimator": "sklearn.linear_model.LogisticRegression"},
        {"estimator": "sklearn.tree.DecisionTreeClassifier"},
        {"estimator": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 1}}]}})
    assert [name for name, _ in estimator.estimators] == ["lr", "decisiontreeclassifier1", "decisiontreeclassifier2"]


@pytest.mark.parametrize("path", ["os.system", "numpy.loadtxt", "builtins.eval", "numpy.ndarray", "log1p"])
def test_a_function_that_is_not_a_numpy_ufunc_is_refused(path):
    spec = {"estimator": "sklearn.compose.TransformedTargetRegressor", "params": {
        "regressor": {"estimator": "sklearn.linear_model.Ridge"},
        "func": {"function": path}, "inverse_func": {"function": "numpy.expm1"}}}
    with pytest.raises(ModelSpecError, match=f"function '{path}' is not allowed: name a numpy ufunc") as error:
        check_spec(spec)
    assert error.value.key == "params.func.function"


def test_a_function_table_with_other_keys_is_refused():
    spec = {"estimator": "sklearn.compose.TransformedTargetRegressor",
            "params": {"func": {"function": "numpy.log1p", "kw_args": {}}}}
    with pytest.raises(ModelSpecError, match=r"only the key 'function', not \['kw_args'\]") as error:
        make_estimator(spec)
    assert error.value.key == "params.func"


def test_an_unknown_key_in_a_nested_table_is_refused_by_name():
    spec = {"estimator": "sklearn.compose.TransformedTargetRegressor",
            "params": {"regressor": {"estimator": "sklearn.linear_model.Ridge", "parms": {"alpha": 1}}}}
    with pytest.raises(ModelSpecError, match=r"unknown key\(s\) \['parms'\] in a nested estimator") as error:
        check_spec(spec)
    assert error.value.key == "params.regressor"


@pytest.mark.parametrize("params, key, message", [
    ({"regressor": {"estimator": "sklearn.linear_model.NoSuchModel"}}, "params.regressor.estimator",
     "has no 'NoSuchModel'"),
    ({"regressor": {"estimator": "os.system"}}, "params.regressor.estimator", "not a scikit-learn estimator class"),
    ({"regressor": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpah": 1}}}, "params.regressor.params",
     r"rejects params \{'alpah': 1\}"),
    ({"regressor": {"estimator": "sklearn.linear_model.Ridge", "params": 3}}, "params.regressor.params",
     "expected a table"),
])
def test_a_bad_nested_estimator_names_its_key(params, key, message):
    with pytest.raises(ModelSpecError, match=message) as error:
        check_spec({"estimator": "sklearn.compose.TransformedTargetRegressor", "params": params})
    assert error.value.key == key


def test_a_bad_estimator_in_a_list_names_its_position():
    spec = {"estimator": "sklearn.ensemble.StackingClassifier", "params": {"estimators": [
        {"estimator": "sklearn.linear_model.LogisticRegression"}, {"estimator": "sklearn.nope.Model"}]}}
    with pytest.raises(ModelSpecError, match="cannot be imported") as error:
        check_spec(spec)
    assert error.value.key == "params.estimators[1].estimator"


# ---------------------------------------------------------------- estimator paths and params

@pytest.mark.parametrize("path, message", [
    ("sklearn.linear_model.NoSuchModel", "has no 'NoSuchModel'"),
    ("no_such_package.models.Thing", "cannot be imported"),
    ("LogisticRegression", "not an import path"),
    ("os.system", "not a scikit-learn estimator class"),
])
def test_unknown_estimator_path_is_a_model_spec_error(path, message):
    with pytest.raises(ModelSpecError, match=message) as error:
        make_estimator({"estimator": path})
    assert error.value.key == "estimator"
    X, y = mixed_frame()
    with pytest.raises(ModelSpecError, match=path):
        fit_model({"estimator": path}, X, y, "classification")


def test_unknown_param_name_is_a_model_spec_error():
    with pytest.raises(ModelSpecError, match=r"rejects params \{'alpah': 1\}") as error:
        make_estimator({"estimator": "sklearn.linear_model.Ridge", "params": {"alpah": 1}})
    assert error.value.key == "params"


def test_bad_param_value_is_a_model_spec_error_at_fit():
    X, y = mixed_frame()
    spec = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": "abc"}}
    with pytest.raises(ModelSpecError, match="LogisticRegression' failed to fit: .*'C' parameter"):
        fit_model(spec, X, y, "classification")


def test_problem_kind():
    kmeans = {"estimator": "sklearn.cluster.KMeans", "params": {"n_clusters": 3}}
    assert problem_kind(kmeans, "classification") == "clustering"
    assert problem_kind(kmeans, "regression") == "clustering"
    assert problem_kind(DBSCAN, "classification") == "clustering"
    assert problem_kind(LOGREG, "classification") == "classification"
    assert problem_kind({"estimator": "sklearn.linear_model.Ridge"}, "regression") == "regression"
    assert problem_kind(LOG_RIDGE, "regression") == "regression"


def test_problem_kind_refuses_a_regressor_for_classification_and_vice_versa():
    with pytest.raises(ModelSpecError, match="'sklearn.linear_model.Ridge' is not a classifier"):
        problem_kind({"estimator": "sklearn.linear_model.Ridge"}, "classification")
    with pytest.raises(ModelSpecError, match="is not a regressor"):
        problem_kind(LOGREG, "regression")


# ---------------------------------------------------------------- clusterers without predict

@pytest.mark.parametrize("spec", [DBSCAN, AGGLOMERATIVE])
def test_check_spec_refuses_a_clusterer_without_predict_fitted_on_the_training_rows_only(spec):
    with pytest.raises(ModelSpecError, match="has no predict: it labels only the rows it is fitted on") as error:
        check_spec(spec)
    assert error.value.key == "fit_on"
    with pytest.raises(ModelSpecError):
        check_spec({**spec, "fit_on": "train"})
    check_spec({**spec, "fit_on": "all"})
    check_spec({**spec, "inductive": KNN})


def test_check_spec_refuses_inductive_for_a_clusterer_with_predict_or_a_non_clusterer():
    kmeans = {"estimator": "sklearn.cluster.KMeans", "params": {"n_clusters": 2}}
    check_spec(kmeans)
    for spec in (kmeans, LOGREG):
        with pytest.raises(ModelSpecError, match="is not a clusterer without predict") as error:
            check_spec({**spec, "inductive": KNN})
        assert error.value.key == "inductive"


def test_check_spec_refuses_an_inductive_estimator_that_is_not_a_classifier():
    with pytest.raises(ModelSpecError, match="'sklearn.linear_model.Ridge' is not a classifier") as error:
        check_spec({**DBSCAN, "inductive": {"estimator": "sklearn.linear_model.Ridge"}})
    assert error.value.key == "inductive.estimator"
    with pytest.raises(ModelSpecError, match="has no 'Nope'") as error:
        check_spec({**DBSCAN, "inductive": {"estimator": "sklearn.neighbors.Nope"}})
    assert error.value.key == "inductive.estimator"


@pytest.mark.parametrize("spec", [DBSCAN, AGGLOMERATIVE])
def test_a_clusterer_without_predict_gives_the_labels_of_the_rows_it_was_fitted_on(spec):
    X = blobs()
    model, plan = fit_model({**spec, "fit_on": "all"}, X, None, "clustering")
    assert plan["c"]["encoding"] == "onehot"  # no target: never target-encoded
    assert not can_score_new_rows(model)
    labels = fitted_labels(model, X)
    assert np.array_equal(labels, model[-1].labels_)
    assert len(set(labels[:15])) == 1 and len(set(labels[15:])) == 1 and labels[0] != labels[15]
    with pytest.raises(ModelSpecError, match="labels only the 30 rows it was fitted on, not 5 other rows"):
        fitted_labels(model, X.iloc[:5])


@pytest.mark.parametrize("spec", [DBSCAN, AGGLOMERATIVE])
def test_an_inductive_clusterer_scores_new_rows_with_a_classifier_fitted_on_its_clusters(spec):
    X = blobs()
    model, _ = fit_model({**spec, "inductive": KNN}, X, None, "clustering")
    inductive = model[-1]
    assert isinstance(inductive, InductiveClusterer)
    assert type(inductive.clusterer_).__name__ == spec["estimator"].rpartition(".")[2]
    assert type(inductive.classifier_).__name__ == "KNeighborsClassifier"
    assert can_score_new_rows(model)
    assert (model.predict(X) == inductive.labels_).mean() >= 0.9
    new = pd.DataFrame({"a": [0.1, 5.1], "b": [-0.1, 4.9], "c": ["x", "y"]})
    assert model.predict(new).tolist() == [inductive.labels_[0], inductive.labels_[15]]


def _clusterers():
    from sklearn.utils import all_estimators

    # biclusters, and FeatureAgglomeration (which clusters columns), do not label rows
    return [(name, cls) for name, cls in all_estimators(type_filter="cluster")
            if name not in ("SpectralBiclustering", "SpectralCoclustering", "FeatureAgglomeration")]


@pytest.mark.parametrize(("name", "cls"), _clusterers(), ids=[name for name, _ in _clusterers()])
def test_every_scikit_learn_clusterer_fits_and_is_scored_with_or_without_predict(name, cls):
    from pipeline.ml.metrics import evaluate

    X = blobs()
    params = {"n_clusters": 2} if "n_clusters" in cls().get_params() else {}
    if name == "DBSCAN":
        params = {"eps": 1.0, "min_samples": 3}
    if name == "HDBSCAN":
        params = {"copy": True}  # its default changes in scikit-learn 1.10 (FutureWarning)
    if name == "AffinityPropagation":  # its default damping may not converge on 30 rows (then: no cluster at all)
        params = {"damping": 0.9, "max_iter": 1000, "random_state": 0}
    spec = {"estimator": f"{cls.__module__.split('._')[0]}.{name}", "params": params, "fit_on": "all"}
    check_spec(spec)
    model, _ = fit_model(spec, X, None, "clustering")
    metrics, predictions = evaluate(model, X, None, "clustering")
    assert len(predictions) == len(X) and metrics["n_clusters"] >= 1
    assert can_score_new_rows(model) == hasattr(cls(), "predict")


def test_a_function_where_an_estimator_belongs_is_refused_naming_the_param():
    spec = {"estimator": "sklearn.compose.TransformedTargetRegressor",
            "params": {"regressor": {"function": "numpy.log1p"}}}
    with pytest.raises(ModelSpecError, match=r'^expected an estimator table \(\{ estimator = "..." \}\), got a '
                                             "function$") as refused:
        check_spec(spec)
    assert refused.value.key == "params.regressor"


def test_an_ordinal_override_beyond_255_categories_is_plain_codes_for_hist_gradient_boosting():
    X = pd.DataFrame({"shop": [f"s{i}" for i in range(300)] * 2, "x": np.arange(600.0)})
    y = pd.Series(np.arange(600) % 2)
    model, plan = fit_model(HGB, X, y, "classification", encoding={"shop": "ordinal"})
    assert plan["shop"]["encoding"] == "ordinal" and "native" not in plan["shop"]
    assert model[-1].get_params()["categorical_features"] == "from_dtype"  # nothing declared native
    assert len(model.predict(X)) == 600
