"""The preprocessing step: which columns are numbers, and what the fitted transformer outputs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipeline.ml.features import MAX_CATEGORIES, build_preprocessor, feature_schema, missing_as_nan, split_columns


def small_frame() -> pd.DataFrame:
    """Two numeric columns, a boolean with a gap and a text column with a gap."""
    return pd.DataFrame({
        "age": [1.0, np.nan, 3.0, 10.0],
        "visits": [1, 2, 3, 4],
        "flag": [True, None, False, False],
        "plan": ["a", "b", None, "b"],
    })


def fitted(X: pd.DataFrame, **kwargs) -> tuple[pd.DataFrame, object]:
    """The transformed frame (named columns) and the fitted preprocessor."""
    preprocessor = build_preprocessor(X, **kwargs).fit(X)
    return pd.DataFrame(preprocessor.transform(X), columns=preprocessor.get_feature_names_out()), preprocessor


# ---------------------------------------------------------------- split_columns

def test_split_columns_counts_numbers_as_numeric_and_booleans_and_text_as_categorical():
    X = pd.DataFrame({
        "price": [1.5, 2.0],
        "count": [1, 2],
        "nullable_int": pd.Series([1, None], dtype="Int64"),
        "active": [True, False],
        "nullable_bool": pd.Series([True, None], dtype="boolean"),
        "bool_with_gap": [True, None],
        "plan": ["basic", "pro"],
        "colour": pd.Categorical(["red", "blue"]),
    })
    numeric, categorical = split_columns(X)
    assert numeric == ["price", "count", "nullable_int"]
    assert categorical == ["active", "nullable_bool", "bool_with_gap", "plan", "colour"]


def test_split_columns_keeps_the_frame_order_within_each_group():
    X = pd.DataFrame({"z": ["x"], "b": [2.0], "a": [True], "c": [1]})
    assert split_columns(X) == (["b", "c"], ["z", "a"])


# ---------------------------------------------------------------- build_preprocessor

def test_output_columns_are_numeric_then_one_hot_categories():
    _, preprocessor = fitted(small_frame())
    assert list(preprocessor.get_feature_names_out()) == [
        "age", "visits", "flag_False", "flag_True", "plan_a", "plan_b"]


def test_missing_number_becomes_the_training_median():
    out, _ = fitted(small_frame(), scale=False)
    # median of 1, 3, 10
    assert out.loc[1, "age"] == 3.0
    assert out["age"].tolist() == [1.0, 3.0, 3.0, 10.0]


def test_missing_category_and_missing_boolean_become_the_most_frequent_value():
    out, _ = fitted(small_frame(), scale=False)
    # plan: "b" twice, "a" once; the gap in row 2 is filled with "b"
    assert out.loc[2, ["plan_a", "plan_b"]].tolist() == [0.0, 1.0]
    # flag: False twice, True once; the None in row 1 is filled with False
    assert out.loc[1, ["flag_False", "flag_True"]].tolist() == [1.0, 0.0]
    assert out["flag_True"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_text_is_one_hot_encoded_with_one_column_per_category():
    out, _ = fitted(small_frame())
    assert out["plan_a"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["plan_b"].tolist() == [0.0, 1.0, 1.0, 1.0]
    # each row has exactly one category of each categorical column
    assert (out[["plan_a", "plan_b"]].sum(axis=1) == 1).all()
    assert (out[["flag_False", "flag_True"]].sum(axis=1) == 1).all()


def test_scale_true_standardises_numeric_columns_only():
    out, _ = fitted(small_frame(), scale=True)
    for column in ("age", "visits"):
        assert out[column].mean() == pytest.approx(0.0, abs=1e-12)
        assert out[column].std(ddof=0) == pytest.approx(1.0)
    # the imputed median is scaled like any other value: 3 sits where 3 scales to
    age = np.array([1.0, 3.0, 3.0, 10.0])
    assert out.loc[1, "age"] == pytest.approx((3.0 - age.mean()) / age.std())
    # one-hot columns stay 0/1
    assert set(np.unique(out[["flag_False", "flag_True", "plan_a", "plan_b"]])) == {0.0, 1.0}


def test_scale_false_leaves_numbers_as_they_are():
    out, preprocessor = fitted(small_frame(), scale=False)
    assert out["visits"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert list(preprocessor.named_transformers_["numeric"].named_steps) == ["impute"]


def test_statistics_come_from_the_rows_it_was_fitted_on():
    train = small_frame()
    preprocessor = build_preprocessor(train, scale=False).fit(train)
    new = pd.DataFrame({"age": [np.nan, 100.0, 200.0], "visits": [5, 6, 7], "flag": [None, True, True],
                        "plan": [None, "a", "a"]})
    out = pd.DataFrame(preprocessor.transform(new), columns=preprocessor.get_feature_names_out())
    # the gaps take the training median and modes, not those of the new rows
    assert out.loc[0, "age"] == 3.0
    assert out.loc[0, ["flag_False", "flag_True"]].tolist() == [1.0, 0.0]
    assert out.loc[0, ["plan_a", "plan_b"]].tolist() == [0.0, 1.0]


def test_unseen_category_at_transform_time_is_all_zeros_not_an_error():
    train = small_frame()
    preprocessor = build_preprocessor(train).fit(train)
    new = pd.DataFrame({"age": [2.0], "visits": [3], "flag": [True], "plan": ["enterprise"]})
    out = pd.DataFrame(preprocessor.transform(new), columns=preprocessor.get_feature_names_out())
    assert out.shape == (1, 6)
    assert out.loc[0, ["plan_a", "plan_b"]].tolist() == [0.0, 0.0]
    assert out.loc[0, "flag_True"] == 1.0


def test_id_like_text_is_capped_at_max_categories_and_unseen_values_go_to_infrequent():
    # 40 distinct ids: u00 and u01 appear twice, the rest once
    ids = [f"u{i:02d}" for i in range(40)] + ["u00", "u01"]
    X = pd.DataFrame({"id": ids})
    out, preprocessor = fitted(X)
    names = list(preprocessor.get_feature_names_out())
    assert len(names) == MAX_CATEGORIES
    assert names[:2] == ["id_u00", "id_u01"]  # the most frequent keep their own column
    assert names[-1] == "id_infrequent_sklearn"
    new = pd.DataFrame(preprocessor.transform(pd.DataFrame({"id": ["never-seen"]})), columns=names)
    assert new.loc[0, "id_infrequent_sklearn"] == 1.0
    assert new.to_numpy().sum() == 1.0


def test_a_model_on_numbers_only_or_text_only_still_builds():
    numbers = pd.DataFrame({"x": [1.0, np.nan, 5.0]})
    out, _ = fitted(numbers, scale=False)
    assert out["x"].tolist() == [1.0, 3.0, 5.0]
    text = pd.DataFrame({"plan": ["a", "a", None]})
    out, _ = fitted(text)
    assert out["plan_a"].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- missing_as_nan

def test_missing_as_nan_turns_none_in_a_boolean_column_into_nan():
    X = pd.DataFrame({"flag": [True, None, False]})
    out = missing_as_nan(X)
    assert out.loc[0, "flag"] is True
    assert out.loc[2, "flag"] is False
    assert isinstance(out.loc[1, "flag"], float) and math.isnan(out.loc[1, "flag"])
    assert X.loc[1, "flag"] is None  # the input is left alone


def test_missing_as_nan_turns_none_and_pd_na_in_text_and_nullable_columns_into_nan():
    X = pd.DataFrame({"plan": ["a", None], "nullable": pd.Series([True, pd.NA], dtype="boolean")})
    out = missing_as_nan(X)
    assert out.loc[0, "plan"] == "a"
    assert math.isnan(out.loc[1, "plan"])
    assert math.isnan(out.loc[1, "nullable"])
    assert out.loc[0, "nullable"] is True


def test_missing_as_nan_accepts_a_plain_array():
    out = missing_as_nan(np.array([[True, None], ["x", False]], dtype=object))
    assert out.shape == (2, 2)
    assert math.isnan(out.iloc[0, 1])
    assert out.iloc[1, 0] == "x"


# ---------------------------------------------------------------- feature_schema

def test_feature_schema_names_each_column_and_its_kind_in_frame_order():
    assert feature_schema(small_frame()) == {
        "age": "numeric", "visits": "numeric", "flag": "categorical", "plan": "categorical"}
    assert list(feature_schema(small_frame())) == ["age", "visits", "flag", "plan"]


def test_feature_schema_names_are_text_even_for_integer_column_names():
    X = pd.DataFrame({0: [1.0, 2.0], 1: ["a", "b"]})
    assert feature_schema(X) == {"0": "numeric", "1": "categorical"}
