"""Scoring input checks: what a user feeding `predict` the wrong file sees."""
import pandas as pd
import pytest

from pipeline.ml.errors import DataError
from pipeline.ml.models import fit_model
from pipeline.scoring import score_frame

CARD = {"features": {"size": "numeric", "colour": "categorical"}, "kind": "classification"}


@pytest.fixture(scope="module")
def model():
    X = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "colour": ["r", "g", "r", "g", "r", "g"]})
    return fit_model({"estimator": "sklearn.linear_model.LogisticRegression", "params": {}}, X,
                     pd.Series([0, 0, 0, 1, 1, 1]), "classification")


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
