"""The preprocessing step: what each column is, how the plan encodes it, and what the fitted transformer outputs."""
from __future__ import annotations

import datetime as dt
import math
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sklearn

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.features import (
    ONEHOT_MAX,
    DateParts,
    as_timestamps,
    build_preprocessor,
    categories_of,
    column_kind,
    column_kinds,
    date_parts,
    describe_plan,
    encoding_plan,
    feature_columns,
    feature_schema,
    is_date,
    native_categorical,
)

SKLEARN = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
ALL_PARTS = ["year", "month", "day", "dayofweek", "dayofyear", "hour"]
DAY_PARTS = ALL_PARTS[:-1]
# 2024-02-29 14:00 is a Thursday (dayofweek 3), the 60th day of the year
LEAP_DAY = [2024.0, 2.0, 29.0, 3.0, 60.0, 14.0]


def small_frame() -> pd.DataFrame:
    """Two numeric columns, a boolean with a gap and a text column with a gap."""
    return pd.DataFrame({
        "age": [1.0, np.nan, 3.0, 10.0],
        "visits": [1, 2, 3, 4],
        "flag": [True, None, False, False],
        "plan": ["a", "b", None, "b"],
    })


def fitted(X: pd.DataFrame, y=None, *, learner: str = "linear", scale: bool = True, **plan_args):
    """(transformed frame with named columns, fitted preprocessor, plan)."""
    plan = encoding_plan(X, learner=learner, scale=scale, **plan_args)
    preprocessor = build_preprocessor(plan, learner=learner, scale=scale).fit(X, y)
    out = pd.DataFrame(preprocessor.transform(X), columns=preprocessor.get_feature_names_out())
    return out, preprocessor, plan


def many_categories(n: int = 40, rows_each: int = 6) -> tuple[pd.DataFrame, pd.Series]:
    """A text column with n categories; c00..c(n/2-1) are mostly 1, the others mostly 0 (5 of 6)."""
    names = [f"c{i:02d}" for i in range(n)]
    city = [name for name in names for _ in range(rows_each)]
    y = [int((i < n // 2) == (j < rows_each - 1)) for i in range(n) for j in range(rows_each)]
    return pd.DataFrame({"city": city}), pd.Series(y)


# ---------------------------------------------------------------- column kinds

def test_numbers_are_numeric_and_booleans_and_text_are_categorical():
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
    assert column_kinds(X) == {
        "price": "numeric", "count": "numeric", "nullable_int": "numeric", "active": "categorical",
        "nullable_bool": "categorical", "bool_with_gap": "categorical", "plan": "categorical",
        "colour": "categorical"}


def test_column_kinds_keep_the_frame_order_and_name_columns_as_text():
    X = pd.DataFrame({"z": ["x"], "b": [2.0], "a": [True], "c": [1]})
    assert list(column_kinds(X).items()) == [("z", "categorical"), ("b", "numeric"), ("a", "categorical"),
                                             ("c", "numeric")]
    assert column_kinds(pd.DataFrame({0: [1.0], 1: ["a"]})) == {"0": "numeric", "1": "categorical"}


def test_a_declared_role_wins_over_the_values():
    assert column_kind(pd.Series([1, 2, 3]), "categorical") == "categorical"
    assert column_kind(pd.Series([True, False]), "numeric") == "numeric"
    assert column_kind(pd.Series(["31/05/2024"]), "date") == "date"
    assert column_kind(pd.Series(["31/05/2024"])) == "categorical"  # not ISO: a date only when declared


# ---------------------------------------------------------------- build_preprocessor (numbers, one-hot)

def test_output_columns_are_numeric_then_one_hot_categories():
    _, preprocessor, plan = fitted(small_frame())
    assert list(preprocessor.get_feature_names_out()) == [
        "age", "visits", "flag_False", "flag_True", "plan_a", "plan_b"]
    assert plan == {
        "age": {"kind": "numeric", "encoding": "scaled"},
        "visits": {"kind": "numeric", "encoding": "scaled"},
        "flag": {"kind": "categorical", "encoding": "onehot", "categories": 2, "chosen_by": "rule"},
        "plan": {"kind": "categorical", "encoding": "onehot", "categories": 2, "chosen_by": "rule"},
    }


def test_missing_number_becomes_the_training_median():
    out, _, _ = fitted(small_frame(), scale=False)
    # median of 1, 3, 10
    assert out.loc[1, "age"] == 3.0
    assert out["age"].tolist() == [1.0, 3.0, 3.0, 10.0]


def test_missing_category_and_missing_boolean_become_the_most_frequent_value():
    out, _, _ = fitted(small_frame(), scale=False)
    # plan: "b" twice, "a" once; the gap in row 2 is filled with "b"
    assert out.loc[2, ["plan_a", "plan_b"]].tolist() == [0.0, 1.0]
    # flag: False twice, True once; the None in row 1 is filled with False
    assert out.loc[1, ["flag_False", "flag_True"]].tolist() == [1.0, 0.0]
    assert out["flag_True"].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_text_is_one_hot_encoded_with_one_column_per_category():
    out, _, _ = fitted(small_frame())
    assert out["plan_a"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["plan_b"].tolist() == [0.0, 1.0, 1.0, 1.0]
    # each row has exactly one category of each categorical column
    assert (out[["plan_a", "plan_b"]].sum(axis=1) == 1).all()
    assert (out[["flag_False", "flag_True"]].sum(axis=1) == 1).all()


def test_scale_true_standardises_numeric_columns_only():
    out, _, plan = fitted(small_frame(), scale=True)
    assert plan["age"]["encoding"] == "scaled"
    for column in ("age", "visits"):
        assert out[column].mean() == pytest.approx(0.0, abs=1e-12)
        assert out[column].std(ddof=0) == pytest.approx(1.0)
    # the imputed median is scaled like any other value: 3 sits where 3 scales to
    age = np.array([1.0, 3.0, 3.0, 10.0])
    assert out.loc[1, "age"] == pytest.approx((3.0 - age.mean()) / age.std())
    # one-hot columns stay 0/1
    assert set(np.unique(out[["flag_False", "flag_True", "plan_a", "plan_b"]])) == {0.0, 1.0}


def test_scale_false_leaves_numbers_as_they_are():
    out, preprocessor, plan = fitted(small_frame(), scale=False)
    assert plan["visits"]["encoding"] == "as is"
    assert out["visits"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert "scale" not in preprocessor.named_transformers_["numeric"].named_steps
    assert "impute" in preprocessor.named_transformers_["numeric"].named_steps


def test_statistics_come_from_the_rows_it_was_fitted_on():
    _, preprocessor, _ = fitted(small_frame(), scale=False)
    new = pd.DataFrame({"age": [np.nan, 100.0, 200.0], "visits": [5, 6, 7], "flag": [None, True, True],
                        "plan": [None, "a", "a"]})
    out = pd.DataFrame(preprocessor.transform(new), columns=preprocessor.get_feature_names_out())
    # the gaps take the training median and modes, not those of the new rows
    assert out.loc[0, "age"] == 3.0
    assert out.loc[0, ["flag_False", "flag_True"]].tolist() == [1.0, 0.0]
    assert out.loc[0, ["plan_a", "plan_b"]].tolist() == [0.0, 1.0]


def test_unseen_category_at_transform_time_is_all_zeros_not_an_error():
    _, preprocessor, _ = fitted(small_frame())
    new = pd.DataFrame({"age": [2.0], "visits": [3], "flag": [True], "plan": ["enterprise"]})
    out = pd.DataFrame(preprocessor.transform(new), columns=preprocessor.get_feature_names_out())
    assert out.shape == (1, 6)
    assert out.loc[0, ["plan_a", "plan_b"]].tolist() == [0.0, 0.0]
    assert out.loc[0, "flag_True"] == 1.0


def test_a_model_on_numbers_only_or_text_only_still_builds():
    out, _, _ = fitted(pd.DataFrame({"x": [1.0, np.nan, 5.0]}), scale=False)
    assert out["x"].tolist() == [1.0, 3.0, 5.0]
    out, _, _ = fitted(pd.DataFrame({"plan": ["a", "a", None]}))
    assert out["plan_a"].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- categories_of (was missing_as_nan)

def test_categories_of_makes_text_and_keeps_none_and_pd_na_missing():
    flag = categories_of(pd.Series([True, None, False]))
    assert flag[0] == "True" and flag[2] == "False"
    assert isinstance(flag[1], float) and math.isnan(flag[1])
    nullable = categories_of(pd.Series([True, pd.NA], dtype="boolean"))
    assert nullable[0] == "True" and math.isnan(nullable[1])
    text = categories_of(pd.Series(["a", None], dtype="string"))
    assert text[0] == "a" and math.isnan(text[1])


def test_categories_of_counts_3_and_3_point_0_and_the_text_3_as_one_category():
    assert categories_of(pd.Series([3, 4])).tolist() == ["3", "4"]
    assert categories_of(pd.Series([3.0, 4.5])).tolist() == ["3", "4.5"]
    assert categories_of(pd.Series([3, 3.0, "3", "4"], dtype=object)).tolist() == ["3", "3", "3", "4"]
    assert categories_of(pd.Series([3, 3.0, "3", "4"], dtype=object)).nunique() == 2


# ---------------------------------------------------------------- the categorical rule

@pytest.mark.parametrize("n", [
    2,
    ONEHOT_MAX - 1,
    ONEHOT_MAX,
])
def test_up_to_onehot_max_categories_is_one_hot_with_every_category(n):
    X = pd.DataFrame({"c": [f"v{i:02d}" for i in range(n)]})
    out, preprocessor, plan = fitted(X, pd.Series(np.arange(n) % 2))
    assert ONEHOT_MAX == 30
    assert plan["c"] == {"kind": "categorical", "encoding": "onehot", "categories": n, "chosen_by": "rule"}
    assert list(out.columns) == [f"c_v{i:02d}" for i in range(n)]
    assert np.array_equal(out.to_numpy(), np.eye(n))
    assert preprocessor.transform(pd.DataFrame({"c": ["never-seen"]})).sum() == 0.0


def test_more_categories_with_a_target_are_target_encoded_by_category_mean():
    X, y = many_categories()
    out, preprocessor, plan = fitted(X, y, scale=False)
    assert plan["city"] == {"kind": "categorical", "encoding": "target", "categories": 40, "chosen_by": "rule"}
    assert list(preprocessor.get_feature_names_out()) == ["city"]  # one number per row, not 40 columns
    assert type(preprocessor.named_transformers_["target"].named_steps["encode"]).__name__ == "TargetEncoder"
    codes = out["city"].groupby(X["city"]).agg(["min", "max"])
    assert (codes["min"] == codes["max"]).all()  # one code per category
    high, low = codes["min"][:"c19"], codes["min"]["c20":]
    # mostly-1 categories (mean 5/6) encode well above the mostly-0 ones (1/6), shrunk to the overall 1/2
    assert high.nunique() == 1 and low.nunique() == 1
    assert 0.5 < high.iloc[0] < 5 / 6 and 1 / 6 < low.iloc[0] < 0.5
    assert high.iloc[0] - low.iloc[0] > 0.5


def test_target_encoding_of_the_training_rows_is_cross_fitted():
    X, y = many_categories()
    plan = encoding_plan(X, scale=False)
    preprocessor = build_preprocessor(plan, scale=False)
    training = preprocessor.fit_transform(X, y)[:, 0]
    later = preprocessor.transform(X)[:, 0]
    # fit_transform encodes each row with folds that leave it out: its own target does not leak in
    assert not np.allclose(training, later)
    assert pd.Series(training).groupby(X["city"]).nunique().max() > 1
    assert pd.Series(later).groupby(X["city"]).nunique().max() == 1


def test_more_categories_without_a_target_are_one_hot_with_the_rest_folded_into_infrequent():
    # 40 distinct ids: u00 and u01 appear twice, the rest once
    ids = [f"u{i:02d}" for i in range(40)] + ["u00", "u01"]
    X = pd.DataFrame({"id": ids})
    out, preprocessor, plan = fitted(X, supervised=False)
    assert plan["id"] == {"kind": "categorical", "encoding": "onehot", "categories": 40, "chosen_by": "rule",
                          "folded": 11}  # 40 - 29: 29 keep a column, 11 share the "infrequent" one
    names = list(preprocessor.get_feature_names_out())
    assert len(names) == ONEHOT_MAX
    assert names[:2] == ["id_u00", "id_u01"]  # the most frequent keep their own column
    assert names[-1] == "id_infrequent_sklearn"
    assert out["id_infrequent_sklearn"].sum() == 11
    new = pd.DataFrame(preprocessor.transform(pd.DataFrame({"id": ["never-seen"]})), columns=names)
    assert new.loc[0, "id_infrequent_sklearn"] == 1.0
    assert new.to_numpy().sum() == 1.0


def test_a_onehot_override_keeps_every_category():
    X, y = many_categories()
    out, preprocessor, plan = fitted(X, y, overrides={"city": "onehot"})
    assert plan["city"] == {"kind": "categorical", "encoding": "onehot", "categories": 40, "chosen_by": "config"}
    assert "folded" not in plan["city"]
    assert out.shape == (240, 40)
    assert "city_infrequent_sklearn" not in preprocessor.get_feature_names_out()
    unseen = preprocessor.transform(pd.DataFrame({"city": ["elsewhere"]}))
    assert unseen.sum() == 0.0


def test_an_ordinal_or_target_override_is_taken_from_config():
    X = pd.DataFrame({"plan": ["a", "b", "a", "c"]})
    plan = encoding_plan(X, overrides={"plan": "target"})
    assert plan["plan"]["encoding"] == "target" and plan["plan"]["chosen_by"] == "config"
    plan = encoding_plan(X, overrides={"plan": "ordinal"}, learner="tree")
    assert plan["plan"]["encoding"] == "ordinal" and plan["plan"]["chosen_by"] == "config"


def test_a_target_override_without_a_target_is_a_model_spec_error():
    X, _ = many_categories()
    with pytest.raises(ModelSpecError, match='encoding.city = "target" needs a target'):
        encoding_plan(X, overrides={"city": "target"}, supervised=False)


# ---------------------------------------------------------------- roles

def test_feature_columns_leave_out_the_target_and_the_drop_and_id_roles():
    columns = ["customer", "age", "churn", "notes", "zip"]
    roles = {"customer": "id", "notes": "drop", "zip": "categorical"}
    assert feature_columns(columns, "churn", roles) == ["age", "zip"]
    assert feature_columns(columns, None) == columns
    assert feature_columns(columns, "churn") == ["customer", "age", "notes", "zip"]


def test_an_integer_column_with_the_categorical_role_is_one_hot_encoded():
    X = pd.DataFrame({"zip": [3, 4, 3, 5], "n": [1.0, 2.0, 3.0, 4.0]})
    out, preprocessor, plan = fitted(X, roles={"zip": "categorical"})
    assert plan["zip"] == {"kind": "categorical", "encoding": "onehot", "categories": 3, "chosen_by": "rule"}
    assert list(preprocessor.get_feature_names_out()) == ["n", "zip_3", "zip_4", "zip_5"]
    assert out["zip_3"].tolist() == [1.0, 0.0, 1.0, 0.0]
    # 3.0 (a float column after a gap) and "3" (text) are the category 3 too
    for value in (3.0, "3"):
        new = pd.DataFrame({"zip": pd.Series([value], dtype=object), "n": [1.0]})
        encoded = pd.DataFrame(preprocessor.transform(new), columns=preprocessor.get_feature_names_out())
        assert encoded.loc[0, ["zip_3", "zip_4", "zip_5"]].tolist() == [1.0, 0.0, 0.0], value


def test_a_boolean_column_with_the_numeric_role_is_0_or_1():
    X = pd.DataFrame({"b": [True, False, True, False], "g": pd.Series([True, False, None, True], dtype="boolean")})
    out, _, plan = fitted(X, roles={"b": "numeric", "g": "numeric"}, scale=False)
    assert plan["b"] == {"kind": "numeric", "encoding": "as is"}
    assert out["b"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out["g"].tolist() == [1.0, 0.0, 1.0, 1.0]  # the gap takes the median of 1, 0, 1


def test_numeric_text_with_the_numeric_role_becomes_its_numbers():
    X = pd.DataFrame({"n": ["1.5", "2", None, "x"]})
    out, _, _ = fitted(X, roles={"n": "numeric"}, scale=False)
    assert out["n"].tolist() == [1.5, 2.0, 1.75, 1.75]  # None and "x" take the median of 1.5 and 2


@pytest.mark.parametrize("text, expected, how", [
    (["31/05/2024", "15/01/2023", "28/12/2022"], [(2024, 5, 31), (2023, 1, 15), (2022, 12, 28)], "%d/%m/%Y"),
    (["May 31, 2024", "January 15, 2023", "December 1, 2022"], [(2024, 5, 31), (2023, 1, 15), (2022, 12, 1)],
     "%B %d, %Y"),
])
def test_text_dates_in_another_format_are_parsed_when_declared(text, expected, how):
    X = pd.DataFrame({"d": text})
    out, _, plan = fitted(X, roles={"d": "date"}, learner="tree", scale=False)
    assert plan["d"] == {"kind": "date", "encoding": "date parts", "parts": DAY_PARTS, "format": how}
    assert list(zip(out["d_year"], out["d_month"], out["d_day"])) == expected


def test_day_first_dates_are_read_day_first_throughout_the_column():
    stamps = as_timestamps(pd.Series(["31/05/2024", "01/12/2022"]))
    assert stamps.tolist() == [pd.Timestamp("2024-05-31"), pd.Timestamp("2022-12-01")]


# ---------------------------------------------------------------- dates

def leap_day_columns() -> dict[str, pd.Series]:
    """The same two instants (2024-02-29 14:00, 2023-01-01 00:00) and a gap, as each type a source gives."""
    return {
        "datetime64": pd.Series(pd.to_datetime(["2024-02-29 14:00", "2023-01-01 00:00", None])),
        "tz_aware": pd.Series(pd.to_datetime(["2024-02-29 14:00", "2023-01-01 00:00", None]).tz_localize("UTC")),
        "iso_text": pd.Series(["2024-02-29T14:00:00", "2023-01-01T00:00:00", None]),
        "iso_text_offset": pd.Series(["2024-02-29T15:00:00+01:00", "2023-01-01T00:00:00Z", None]),
        "datetime_objects": pd.Series([dt.datetime(2024, 2, 29, 14), dt.datetime(2023, 1, 1), None], dtype=object),
    }


def leap_date_columns() -> dict[str, pd.Series]:
    """2024-02-29 and 2023-01-01 without a time of day, and a gap."""
    date32 = pa.table({"d": pa.array([dt.date(2024, 2, 29), dt.date(2023, 1, 1), None], pa.date32())})
    return {
        "date_objects": pd.Series([dt.date(2024, 2, 29), dt.date(2023, 1, 1), None], dtype=object),
        "parquet_date32": date32.to_pandas()["d"],  # what a Parquet date column becomes
        "iso_text": pd.Series(["2024-02-29", "2023-01-01", None]),
        "string_dtype": pd.Series(["2024-02-29", "2023-01-01", None], dtype="string"),
        "midnight_datetime64": pd.Series(pd.to_datetime(["2024-02-29", "2023-01-01", None])),
    }


@pytest.mark.parametrize("name", list(leap_day_columns()))
def test_timestamps_are_dates_with_an_hour(name):
    series = leap_day_columns()[name]
    assert is_date(series) and column_kind(series) == "date"
    assert date_parts(series) == ALL_PARTS
    out, _, _ = fitted(pd.DataFrame({"t": series}), learner="tree", scale=False)
    assert list(out.columns) == [f"t_{part}" for part in ALL_PARTS]
    assert out.loc[0].tolist() == LEAP_DAY
    assert out.loc[1].tolist() == [2023.0, 1.0, 1.0, 6.0, 1.0, 0.0]  # a Sunday


@pytest.mark.parametrize("name", list(leap_date_columns()))
def test_dates_without_a_time_of_day_have_no_hour(name):
    series = leap_date_columns()[name]
    assert is_date(series) and column_kind(series) == "date"
    assert date_parts(series) == DAY_PARTS
    out, _, _ = fitted(pd.DataFrame({"d": series}), learner="tree", scale=False)
    assert list(out.columns) == [f"d_{part}" for part in DAY_PARTS]
    assert out.loc[0].tolist() == LEAP_DAY[:-1]


def test_tz_aware_timestamps_are_taken_in_utc():
    stamps = pd.Series(pd.to_datetime(["2024-02-29 15:00"]).tz_localize("Europe/Paris"))
    assert column_kind(stamps) == "date"
    assert as_timestamps(stamps).tolist() == [pd.Timestamp("2024-02-29 14:00")]


def test_a_missing_date_becomes_the_training_median_of_each_part():
    train = pd.DataFrame({"d": ["2024-02-29 14:00", "2023-01-01 00:00", "2022-06-15 08:30", None]})
    out, preprocessor, _ = fitted(train, learner="tree", scale=False)
    # per part: median of 2024, 2023, 2022; of months 2, 1, 6; days 29, 1, 15; weekdays 3, 6, 2;
    # days of the year 60, 1, 166; hours 14, 0, 8
    medians = [2023.0, 2.0, 15.0, 3.0, 60.0, 8.0]
    assert out.loc[3].tolist() == medians
    new = preprocessor.transform(pd.DataFrame({"d": [None, "not a date", "2020-01-01 00:00"]}))
    assert new[0].tolist() == medians and new[1].tolist() == medians  # the training rows' medians
    assert new[2].tolist() == [2020.0, 1.0, 1.0, 2.0, 1.0, 0.0]


def test_text_that_is_mostly_iso_dates_is_not_a_date():
    series = pd.Series(["2024-02-29", "2023-01-01", "2023-05-06", "soon"])
    assert not is_date(series)
    assert column_kind(series) == "categorical"
    assert encoding_plan(pd.DataFrame({"d": series}))["d"]["encoding"] == "onehot"


def test_other_columns_are_not_dates():
    assert not is_date(pd.Series([20240229, 20230101]))
    assert not is_date(pd.Series([True, None, False]))
    assert not is_date(pd.Series([None, None], dtype=object))
    assert not is_date(pd.Series(["2024-02-29 and more"]))


def test_date_parts_are_scaled_for_linear_models_only():
    X = pd.DataFrame({"d": ["2024-02-29", "2023-01-01", "2022-06-15"]})
    scaled, _, _ = fitted(X, scale=True)
    assert scaled["d_year"].mean() == pytest.approx(0.0) and scaled["d_year"].std(ddof=0) == pytest.approx(1.0)
    raw, _, _ = fitted(X, learner="tree", scale=False)
    assert raw["d_year"].tolist() == [2024.0, 2023.0, 2022.0]


def test_date_parts_transformer_names_its_outputs():
    parts = DateParts([["year", "hour"], ["month"]]).fit(pd.DataFrame({"a": ["2024-02-29 14:00"], "b": ["2024-03-01"]}))
    assert list(parts.get_feature_names_out()) == ["a_year", "a_hour", "b_month"]
    assert parts.transform(pd.DataFrame({"a": ["2024-02-29 14:00"], "b": ["2024-03-01"]})).tolist() == [
        [2024.0, 14.0, 3.0]]


# ---------------------------------------------------------------- tree and native learners

def test_tree_learners_get_ordinal_codes_and_minus_one_for_missing_or_unseen():
    X = pd.DataFrame({"plan": ["a", "b", None, "b"], "n": [1.0, 2.0, 3.0, 4.0]})
    out, preprocessor, plan = fitted(X, learner="tree", scale=False)
    assert plan["plan"] == {"kind": "categorical", "encoding": "ordinal", "categories": 2, "chosen_by": "rule"}
    assert list(preprocessor.get_feature_names_out()) == ["plan", "n"]  # ordinal columns first
    assert out["plan"].tolist() == [0.0, 1.0, -1.0, 1.0]
    assert preprocessor.transform(pd.DataFrame({"plan": ["z"], "n": [1.0]})).tolist() == [[-1.0, 1.0]]
    assert native_categorical(plan) == []


def test_tree_learners_get_ordinal_codes_whatever_the_number_of_categories():
    X, _ = many_categories()
    plan = encoding_plan(X, learner="tree", scale=False)
    assert plan["city"]["encoding"] == "ordinal" and "native" not in plan["city"]


def test_native_learners_get_ordinal_codes_first_and_nan_for_missing_or_unseen():
    X = pd.DataFrame({"n": [1.0, 2.0, 3.0, 4.0], "plan": ["a", "b", None, "b"], "size": ["s", "m", "l", "s"]})
    out, preprocessor, plan = fitted(X, learner="native", scale=False)
    assert plan["plan"]["native"] is True and plan["size"]["native"] is True
    assert native_categorical(plan) == [0, 1]
    assert list(preprocessor.get_feature_names_out()) == ["plan", "size", "n"]
    assert np.isnan(out.loc[2, "plan"])
    assert np.isnan(preprocessor.transform(pd.DataFrame({"n": [1.0], "plan": ["z"], "size": ["s"]}))[0, 0])


def test_native_learners_target_encode_more_than_255_categories_when_there_is_a_target():
    X = pd.DataFrame({"k": [f"k{i}" for i in range(256)], "plan": ["a", "b"] * 128})
    plan = encoding_plan(X, learner="native", scale=False)
    assert plan["k"]["encoding"] == "target" and "native" not in plan["k"]
    assert plan["plan"]["native"] is True
    assert native_categorical(plan) == [0]
    under = encoding_plan(X.iloc[:255], learner="native", scale=False)
    assert under["k"]["encoding"] == "ordinal" and under["k"]["native"] is True


# ---------------------------------------------------------------- feature_schema

def test_feature_schema_names_each_column_and_its_kind_in_frame_order():
    X = small_frame().assign(when=["2024-01-01", "2024-01-02", None, "2024-01-04"])
    schema = feature_schema(encoding_plan(X))
    assert schema == {"age": "numeric", "visits": "numeric", "flag": "categorical", "plan": "categorical",
                      "when": "date"}
    assert list(schema) == ["age", "visits", "flag", "plan", "when"]


def test_feature_schema_follows_the_roles():
    X = pd.DataFrame({"zip": [1, 2], "b": [True, False]})
    assert feature_schema(encoding_plan(X, roles={"zip": "categorical", "b": "numeric"})) == {
        "zip": "categorical", "b": "numeric"}


def test_feature_schema_names_are_text_even_for_integer_column_names():
    X = pd.DataFrame({0: [1.0, 2.0], 1: ["a", "b"]})
    assert feature_schema(encoding_plan(X)) == {"0": "numeric", "1": "categorical"}


def test_target_encoding_raises_no_deprecation_warning():
    X, y = many_categories()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        build_preprocessor(encoding_plan(X)).fit(X, y)


def test_date_parts_use_no_deprecated_pandas_names():
    # Series.dt.dayofweek / .dayofyear are deprecated in pandas 3 (Pandas4Warning, a DeprecationWarning)
    X = pd.DataFrame({"d": ["2024-02-29", "2023-01-01"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        plan = encoding_plan(X, learner="tree", scale=False)
        out = build_preprocessor(plan, learner="tree", scale=False).fit_transform(X)
    assert out[0].tolist() == LEAP_DAY[:-1]


def test_linear_models_get_month_weekday_and_hour_one_hot_and_the_rest_scaled():
    X = pd.DataFrame({"d": ["2024-02-29 14:00", "2023-01-01 00:00", "2022-06-15 08:30", "2024-03-02 14:00"]})
    out, _, plan = fitted(X)
    assert plan["d"]["onehot_parts"] == ["month", "dayofweek", "hour"]
    assert [c for c in out.columns if c.startswith("d_dayofweek")] == [
        "d_dayofweek_2.0", "d_dayofweek_3.0", "d_dayofweek_5.0", "d_dayofweek_6.0"]
    assert out["d_dayofweek_5.0"].tolist() == [0.0, 0.0, 0.0, 1.0]  # 2024-03-02 is a Saturday
    assert out["d_year"].mean() == pytest.approx(0.0) and out["d_year"].std(ddof=0) == pytest.approx(1.0)
    assert "onehot_parts" not in fitted(X, learner="tree")[2]["d"]


def test_describe_plan_names_every_encoded_column_and_what_was_folded():
    X = pd.DataFrame({"a": [1.0, 2.0] * 20, "b": [3, 4] * 20, "d": ["2024-01-01", "2024-01-02"] * 20,
                      "name": [f"n{i}" for i in range(40)]})
    assert describe_plan(encoding_plan(X, supervised=False)) == (
        "2 numeric (scaled); d: date parts; name: onehot (40 categories, 11 folded into 'infrequent')")
    assert describe_plan(encoding_plan(X)) == "2 numeric (scaled); d: date parts; name: target (40 categories)"


def test_the_date_format_found_on_the_training_rows_reads_every_later_batch():
    train = pd.DataFrame({"d": ["31/05/2024", "15/01/2023", "01/12/2022"]})  # day-first: 31 and 15 say so
    _, preprocessor, plan = fitted(train, roles={"d": "date"}, learner="tree", scale=False)
    assert plan["d"]["format"] == "%d/%m/%Y"
    batch = pd.DataFrame({"d": ["06/08/2024"]})  # on its own it would read as June 8th
    assert as_timestamps(batch["d"]).tolist() == [pd.Timestamp("2024-06-08")]
    assert preprocessor.transform(batch)[0][:3].tolist() == [2024.0, 8.0, 6.0]  # 6 August, as in training


def test_categories_are_text_once_per_distinct_value_even_for_unhashable_values():
    from pipeline.ml.features import categories_of

    mixed = categories_of(pd.Series([3, 3.0, "3", None, "a", True], dtype=object))
    assert list(mixed.astype(object)[[0, 1, 2, 4, 5]]) == ["3", "3", "3", "a", "True"] and pd.isna(mixed[3])
    assert isinstance(mixed.dtype, pd.CategoricalDtype) and list(mixed.cat.categories) == ["3", "True", "a"]
    # True == 1 to a hash table; as categories they stay apart, whichever comes first
    for values in ([1, True, 0, False], [True, 1, 0, False]):
        assert sorted(categories_of(pd.Series(values, dtype=object)).astype(object)) == ["0", "1", "False", "True"]
    nested = categories_of(pd.Series([[1, 2], [3], None, [1, 2]], dtype=object))  # a list column of a Parquet file
    assert list(nested.astype(object)[[0, 1, 3]]) == ["[1, 2]", "[3]", "[1, 2]"] and nested.nunique() == 2
