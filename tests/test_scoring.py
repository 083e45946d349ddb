"""Scoring input checks: what a user feeding `predict` the wrong file sees."""
import pandas as pd
import pytest

from pipeline.ml.errors import DataError, ModelSpecError
from pipeline.ml.models import fit_model
from pipeline.scoring import score_frame

LOGREG = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {}, "fit_on": "train"}
CARD = {"features": {"size": "numeric", "colour": "categorical"}, "kind": "classification", "model": "logreg",
        "model_spec": LOGREG}


@pytest.fixture(scope="module")
def model():
    X = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "colour": ["r", "g", "r", "g", "r", "g"]})
    fitted, _ = fit_model(LOGREG, X, pd.Series([0, 0, 0, 1, 1, 1]), "classification")
    return fitted


def test_extra_columns_and_any_order_are_fine(model):
    frame = pd.DataFrame({"id": [7, 8], "colour": ["g", "r"], "size": [6.0, 1.0]})
    scored = score_frame(frame, model, CARD, "in.csv")
    assert scored["id"].tolist() == [7, 8] and scored["prediction"].tolist() == [1, 0]


def test_text_in_a_numeric_feature_is_named(model):
    frame = pd.DataFrame({"size": ["1.0", "big"], "colour": ["g", "r"]})
    with pytest.raises(DataError, match=r"^in\.csv: column 'size' must be numeric, found str \(e\.g\. \['big'\]\)"):
        score_frame(frame, model, CARD, "in.csv")


def test_input_columns_that_scoring_would_overwrite_are_refused(model):
    frame = pd.DataFrame({"size": [1.0], "colour": ["g"], "prediction": ["mine"]})
    with pytest.raises(DataError, match="already has column.s. prediction that scoring adds; rename them"):
        score_frame(frame, model, CARD, "in.csv")


# ---------------------------------------------------------------- date features

DATED = {"features": {"size": "numeric", "signup": "date"}, "kind": "classification", "model": "logreg",
         "model_spec": LOGREG}


@pytest.fixture(scope="module")
def dated_model():
    X = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "signup": [f"2024-01-0{i}" for i in range(1, 7)]})
    fitted, plan = fit_model(LOGREG, X, pd.Series([0, 0, 0, 1, 1, 1]), "classification")
    assert plan["signup"]["kind"] == "date"
    return fitted


def test_dates_and_missing_dates_in_a_date_feature_are_scored(dated_model):
    frame = pd.DataFrame({"size": [1.0, 6.0, 6.0], "signup": ["2024-01-02", None, "2024-01-06T10:00:00"]})
    scored = score_frame(frame, dated_model, DATED, "in.csv")
    assert scored["prediction"].tolist() == [0, 1, 1]


@pytest.mark.parametrize("values, found", [
    (["2024-01-02", "nope"], "1 value(s) that are not (e.g. ['nope'])"),
    (["2024-02-30", "soon", "2024-01-01"], "2 value(s) that are not (e.g. ['2024-02-30', 'soon'])"),
])
def test_values_of_a_date_feature_that_are_not_dates_are_refused(dated_model, values, found):
    frame = pd.DataFrame({"size": [1.0] * len(values), "signup": values})
    with pytest.raises(DataError) as refused:
        score_frame(frame, dated_model, DATED, "in.csv")
    assert str(refused.value) == f"in.csv: column 'signup' must hold dates, found {found}"


# ---------------------------------------------------------------- clusterers without predict

BLOBS = pd.DataFrame({"a": [0.0, 0.1, 0.2, 5.0, 5.1, 5.2], "b": [1.0, 1.1, 0.9, 7.0, 7.1, 6.9]})
DBSCAN = {"estimator": "sklearn.cluster.DBSCAN", "params": {"eps": 0.5, "min_samples": 2}, "fit_on": "all",
          "scale": False}


def test_a_clusterer_without_predict_is_refused_naming_inductive():
    model, _ = fit_model(DBSCAN, BLOBS, None, "clustering")
    assert model[-1].labels_.tolist() == [0, 0, 0, 1, 1, 1]  # it fitted, but labels only these rows
    card = {"features": {"a": "numeric", "b": "numeric"}, "kind": "clustering", "model": "dbscan",
            "model_spec": DBSCAN}
    with pytest.raises(ModelSpecError) as refused:
        score_frame(BLOBS.head(2), model, card, "in.csv")
    assert str(refused.value) == (
        "in.csv: sklearn.cluster.DBSCAN cannot score new rows: it labels only the rows it was fitted on; add "
        "inductive = { estimator = \"sklearn.ensemble.RandomForestClassifier\" } to models.dbscan to deploy a model "
        "that assigns new rows to its clusters")


def test_an_inductive_clusterer_scores_new_rows_by_its_clusters():
    spec = {**DBSCAN, "fit_on": "train",
            "inductive": {"estimator": "sklearn.neighbors.KNeighborsClassifier", "params": {"n_neighbors": 1}}}
    model, _ = fit_model(spec, BLOBS, None, "clustering")
    card = {"features": {"a": "numeric", "b": "numeric"}, "kind": "clustering", "model": "dbscan", "model_spec": spec}
    scored = score_frame(pd.DataFrame({"a": [5.05, 0.05], "b": [7.05, 1.0]}), model, card, "in.csv")
    assert scored["prediction"].tolist() == [1, 0]


def test_numbers_stored_as_text_in_a_numeric_feature_are_scored_as_numbers(model):
    as_text = pd.DataFrame({"size": pd.Series(["6", "1.0"], dtype="string"), "colour": ["g", "r"]})
    as_numbers = pd.DataFrame({"size": [6.0, 1.0], "colour": ["g", "r"]})
    assert score_frame(as_text, model, CARD, "in.parquet")["prediction"].tolist() == \
        score_frame(as_numbers, model, CARD, "in.parquet")["prediction"].tolist() == [1, 0]


def test_the_first_bad_feature_in_the_models_column_order_is_the_one_named():
    from pipeline.scoring import check_input

    card = {"features": {"spend": "numeric", "size": "numeric", "weight": "numeric"}}
    frame = pd.DataFrame({"weight": [float("-inf"), 2.0], "size": ["1.0", "big"],
                          "spend": pd.array([None, float("inf")], dtype="Float64")})
    with pytest.raises(DataError, match=r"^in\.csv: column 'spend': 1 infinite value\(s\) \(e\.g\. row 1\)"):
        check_input(frame, card, "in.csv")
    with pytest.raises(DataError, match=r"^in\.csv: column 'size' must be numeric"):
        check_input(frame.assign(spend=1.0), card, "in.csv")
    with pytest.raises(DataError, match=r"^in\.csv: column 'weight': 1 infinite value\(s\) \(e\.g\. row 0\)"):
        check_input(frame.assign(spend=1.0, size=1.0), card, "in.csv")
