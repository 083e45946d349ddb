"""The data checks behind ValidateData, fingerprints and the train/test split."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ml.data import (
    class_imbalance,
    describe_violations,
    drop_missing_target,
    fingerprint_frame,
    split_frame,
    validate_frame,
    xy,
)


def frame() -> pd.DataFrame:
    """A small valid classification frame: numeric, text and a two-class target."""
    return pd.DataFrame({
        "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "s": ["a", "b", "a", "b", "a", "b"],
        "y": [0, 1, 0, 1, 0, 1],
    })


def validate(df, *, target="y", problem="classification", checks=None, roles=None):
    return validate_frame(df, target=target, problem=problem, checks=checks or {}, roles=roles)


def rules(report) -> list[tuple]:
    return [(v["column"], v["rule"]) for v in report["violations"]]


# ---------------------------------------------------------------- always-on rules

def test_valid_frame_passes_with_a_full_report():
    report = validate(frame())
    assert report["passed"] is True
    assert report["violations"] == []
    assert (report["rows"], report["columns"], report["rows_usable"]) == (6, 3, 6)
    assert report["class_counts"] == {"0": 3, "1": 3}
    assert report["column_summary"]["x"]["min"] == 1.0
    assert report["column_summary"]["x"]["max"] == 6.0


def test_duplicate_column_names_fail():
    df = frame()
    df.columns = ["x", "x", "y"]
    report = validate(df)
    assert not report["passed"]
    assert rules(report) == [("x", "unique_columns")]


def test_duplicate_target_column_is_a_violation_not_a_crash():
    df = frame()
    df.columns = ["x", "y", "y"]
    report = validate(df)
    assert ("y", "unique_columns") in rules(report)


def test_frame_without_rows_fails():
    report = validate(frame().iloc[0:0])
    assert not report["passed"]
    assert (None, "not_empty") in rules(report)
    assert any(v["detail"] == "no rows" for v in report["violations"])


def test_missing_target_column_fails_and_lists_the_columns():
    report = validate(frame(), target="label")
    assert rules(report) == [("label", "target_present")]
    assert "x, s, y" in report["violations"][0]["detail"]


def test_every_target_missing_fails():
    df = frame()
    df["y"] = np.nan
    report = validate(df)
    assert rules(report) == [("y", "not_empty")]
    assert "every row has a missing target" in report["violations"][0]["detail"]


def test_all_null_column_fails():
    df = frame()
    df["empty"] = np.nan
    report = validate(df)
    assert rules(report) == [("empty", "not_all_null")]


def test_infinite_values_fail_with_their_count():
    df = frame()
    df.loc[[1, 3], "x"] = [np.inf, -np.inf]
    report = validate(df)
    assert rules(report) == [("x", "finite")]
    assert report["violations"][0]["detail"].startswith("2 infinite")


def test_single_class_target_fails_for_classification():
    df = frame()
    df["y"] = 1
    report = validate(df)
    assert rules(report) == [("y", "min_classes")]
    assert "1 class(es)" in report["violations"][0]["detail"]


def test_single_valued_target_is_fine_for_regression():
    df = frame()
    df["y"] = 1.5
    assert validate(df, problem="regression")["passed"]


def test_rows_with_missing_target_are_counted_not_failed():
    df = frame()
    df["y"] = [0, np.nan, 0, 1, np.nan, 1]
    report = validate(df)
    assert report["passed"]
    assert report["rows"] == 6
    assert report["rows_dropped_missing_target"] == 2
    assert report["rows_usable"] == 4


# ---------------------------------------------------------------- declared checks

def test_min_rows_counts_usable_rows():
    df = frame()
    df.loc[0, "y"] = np.nan
    assert validate(df, checks={"min_rows": 5})["passed"]
    report = validate(df, checks={"min_rows": 6})
    assert rules(report) == [(None, "min_rows")]
    assert "5 usable rows, at least 6 required" in report["violations"][0]["detail"]


def test_declared_column_types_pass_when_they_match():
    df = frame()
    df["n"] = [1, 2, 3, 4, 5, 6]
    df["b"] = [True, False] * 3
    checks = {"columns": {"x": "numeric", "n": "integer", "s": "string", "b": "boolean"}}
    assert validate(df, checks=checks)["passed"]


def test_text_in_a_numeric_column_fails_and_shows_the_text():
    df = frame()
    df["amount"] = ["1.5", "2", "oops", "4", "5", "6"]
    report = validate(df, checks={"columns": {"amount": "numeric"}})
    assert rules(report) == [("amount", "type")]
    assert "expected numeric" in report["violations"][0]["detail"]
    assert "'oops'" in report["violations"][0]["detail"]


def test_fractional_values_fail_an_integer_column():
    report = validate(frame(), checks={"columns": {"x": "integer"}})
    assert report["passed"]  # 1.0 .. 6.0 are whole numbers
    df = frame()
    df.loc[2, "x"] = 2.5
    report = validate(df, checks={"columns": {"x": "integer"}})
    assert rules(report) == [("x", "type")]


def test_number_column_declared_as_string_or_boolean_fails():
    report = validate(frame(), checks={"columns": {"x": "string", "y": "boolean"}})
    assert rules(report) == [("x", "type"), ("y", "type")]


def test_declared_column_that_is_absent_fails():
    report = validate(frame(), checks={"columns": {"age": "numeric"}})
    assert rules(report) == [("age", "required_column")]


def test_max_null_fraction_as_one_number_applies_to_every_column():
    df = frame()
    df.loc[[0, 1], "x"] = np.nan  # 2 of 6 missing
    assert validate(df, checks={"max_null_fraction": 0.5})["passed"]
    report = validate(df, checks={"max_null_fraction": 0.2})
    assert rules(report) == [("x", "max_null_fraction")]
    assert "0.333 of values are missing, at most 0.2 allowed" in report["violations"][0]["detail"]


def test_max_null_fraction_per_column_table():
    df = frame()
    df.loc[[0, 1], "x"] = np.nan
    df.loc[0, "s"] = np.nan
    # x may be a third missing, s may not be missing at all, and `gone` does not exist
    report = validate(df, checks={"max_null_fraction": {"x": 0.4, "s": 0.0, "gone": 0.1}})
    assert rules(report) == [("s", "max_null_fraction"), ("gone", "max_null_fraction")]
    assert report["violations"][1]["detail"] == "declared column is missing"


def test_ranges_report_values_outside_the_bounds():
    checks = {"ranges": {"x": {"min": 2, "max": 5}, "y": {"min": 0}}}
    report = validate(frame(), checks=checks)
    assert rules(report) == [("x", "range")]
    detail = report["violations"][0]["detail"]
    assert "2 value(s) outside [2, 5]" in detail
    assert "min 1.0, max 6.0" in detail


def test_ranges_within_bounds_pass_and_absent_column_fails():
    assert validate(frame(), checks={"ranges": {"x": {"min": 1, "max": 6}}})["passed"]
    report = validate(frame(), checks={"ranges": {"age": {"min": 0}}})
    assert rules(report) == [("age", "range")]


def test_describe_violations_is_one_line_naming_dataset_column_and_rule():
    df = frame()
    df["empty"] = np.nan
    report = validate(df, checks={"min_rows": 100})
    text = describe_violations("churn", report["violations"])
    assert "\n" not in text
    assert text.startswith("dataset 'churn': ")
    assert "column 'empty': not_all_null: every value is missing" in text
    assert "table: min_rows: 6 usable rows, at least 100 required" in text


# ---------------------------------------------------------------- fingerprints

def test_fingerprint_is_stable_for_equal_content():
    a, b = frame(), frame()
    assert fingerprint_frame(a) == fingerprint_frame(b)
    assert fingerprint_frame(a) == fingerprint_frame(a.set_axis(range(10, 16)))  # index ignored
    assert len(fingerprint_frame(a)) == 64


def test_fingerprint_changes_with_values_names_types_and_row_order():
    base = fingerprint_frame(frame())
    changed_value = frame()
    changed_value.loc[3, "x"] = 4.5
    renamed = frame().rename(columns={"x": "z"})
    retyped = frame().astype({"x": "float32"})
    reordered = frame().iloc[::-1].reset_index(drop=True)
    others = [fingerprint_frame(f) for f in (changed_value, renamed, retyped, reordered)]
    assert base not in others
    assert len(set(others)) == 4


# ---------------------------------------------------------------- split

def labelled(n_per_class=(6, 6)) -> pd.DataFrame:
    y = sum(([label] * n for label, n in enumerate(n_per_class)), [])
    return pd.DataFrame({"x": np.arange(len(y), dtype=float), "y": y})


def test_split_is_stratified_for_classification():
    df = labelled((10, 6))
    train, test = split_frame(df, target="y", problem="classification", test_size=0.5, seed=1)
    assert len(train) == len(test) == 8
    assert test["y"].value_counts().to_dict() == {0: 5, 1: 3}
    assert train["y"].value_counts().to_dict() == {0: 5, 1: 3}
    assert sorted(pd.concat([train, test])["x"]) == list(df["x"])  # nothing lost or repeated


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    df = labelled((10, 10))
    kwargs = dict(target="y", problem="classification", test_size=0.25)
    first = split_frame(df, seed=7, **kwargs)
    second = split_frame(df, seed=7, **kwargs)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    other = split_frame(df, seed=8, **kwargs)
    assert list(other[1]["x"]) != list(first[1]["x"])
    # each row keeps its source position, and the parts partition the input
    assert sorted([*first[0].index, *first[1].index]) == list(range(len(df)))
    pd.testing.assert_frame_equal(first[1], df.loc[first[1].index])


def test_split_falls_back_to_unstratified_when_a_class_has_one_row():
    df = labelled((7, 1))
    train, test = split_frame(df, target="y", problem="classification", test_size=0.25, seed=0)
    assert (len(train), len(test)) == (6, 2)


def test_split_falls_back_when_the_test_split_is_smaller_than_the_number_of_classes():
    df = labelled((4, 3, 3))  # 10 rows, 3 classes, test_size 0.2 -> 2 test rows
    train, test = split_frame(df, target="y", problem="classification", test_size=0.2, seed=0)
    assert (len(train), len(test)) == (8, 2)


def test_numeric_column_spoiled_by_a_text_marker_is_a_violation():
    values = [str(float(i)) for i in range(39)] + ["n.a."]
    df = pd.DataFrame({"length": pd.array(values, dtype="str"), "y": [0, 1] * 20})
    report = validate_frame(df, target="y", problem="classification", checks={})
    [violation] = report["violations"]
    assert (violation["column"], violation["rule"]) == ("length", "numeric_text")
    assert "1 of 40 values are not numbers (e.g. 'n.a.')" in violation["detail"]


def test_ordinary_text_column_is_not_mistaken_for_numbers():
    df = pd.DataFrame({"plan": ["basic", "pro", "1", "2"] * 5, "y": [0, 1] * 10})
    assert validate_frame(df, target="y", problem="classification", checks={})["passed"]


def test_absurdly_large_values_are_not_finite():
    frame = pd.DataFrame({"x": [1.0, 2.0, 1e300, 4.0], "y": [0, 1, 0, 1]})
    report = validate_frame(frame, target="y", problem="classification", checks={})
    [violation] = report["violations"]
    assert (violation["column"], violation["rule"]) == ("x", "finite")
    assert violation["detail"] == "1 value(s) beyond ±1e+150 (e.g. 1e+300); squaring them overflows"


# ---------------------------------------------------------------- drop_missing_target

def test_drop_missing_target_turns_float_class_labels_back_into_integers():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.0, np.nan, 0.0, 1.0]})  # a gap made 1 into 1.0
    kept = drop_missing_target(df, "y", "classification")
    assert list(kept.index) == [0, 2, 3]  # each row keeps its snapshot position
    assert kept["y"].dtype == np.dtype("int64")
    assert kept["y"].tolist() == [1, 0, 1]
    assert kept["x"].dtype == np.dtype("float64")  # only the target changes


def test_drop_missing_target_leaves_regression_and_fractional_labels_alone():
    df = pd.DataFrame({"y": [1.0, np.nan, 0.0, 2.0]})
    for problem in ("regression", None):
        kept = drop_missing_target(df, "y", problem)
        assert kept["y"].dtype == np.dtype("float64"), problem
        assert kept["y"].tolist() == [1.0, 0.0, 2.0]
    fractional = drop_missing_target(pd.DataFrame({"y": [1.5, np.nan, 0.0]}), "y", "classification")
    assert fractional["y"].dtype == np.dtype("float64")
    assert fractional["y"].tolist() == [1.5, 0.0]
    text = drop_missing_target(pd.DataFrame({"y": ["a", None, "b"]}), "y", "classification")
    assert text["y"].tolist() == ["a", "b"]


def test_class_counts_of_labels_a_gap_made_floats_name_the_integer_classes():
    df = frame().assign(y=[0, np.nan, 0, 1, 1, 1])
    report = validate(df)
    assert report["passed"]
    assert report["class_counts"] == {"1": 3, "0": 2}


def test_an_infinite_class_label_is_a_violation_not_a_crash():
    # drop_missing_target casts the integral float labels to int64 before the finite check sees them
    df = frame().assign(y=[0.0, 1.0, np.inf, 1.0, 0.0, np.nan])
    report = validate(df)
    assert rules(report) == [("y", "finite")]


def test_a_class_label_beyond_int64_is_a_violation_not_a_wrapped_integer():
    df = frame().assign(y=[0.0, 1.0, 1e300, 1.0, 0.0, np.nan])
    report = validate(df)
    assert rules(report) == [("y", "finite")]
    assert "-9223372036854775808" not in report.get("class_counts", {})


# ---------------------------------------------------------------- class imbalance

def test_a_three_percent_minority_class_is_warned_about():
    warnings = class_imbalance(pd.Series({0: 290, 1: 10}))
    assert warnings == ["class imbalance: class 1 is 3.3% of 300 rows (0: 96.7%); always predicting 0 scores "
                        "accuracy 0.967, so compare on balanced_accuracy or roc_auc, not accuracy (and consider "
                        "class_weight = \"balanced\" in the model's params)"]


def test_ten_balanced_classes_of_about_ten_percent_are_not_an_imbalance():
    counts = pd.Series({label: 100 + label % 3 for label in range(10)})  # each 9.9 % to 10.1 %
    assert class_imbalance(counts) == []
    assert class_imbalance(pd.Series({"a": 45, "b": 45, "c": 10})) == []  # 10 % is not below the share


def test_validate_frame_reports_the_imbalance_as_a_warning_and_still_passes():
    df = pd.DataFrame({"x": np.arange(300.0), "y": ["no"] * 290 + ["yes"] * 10})
    report = validate(df)
    assert report["passed"]
    assert report["class_counts"] == {"no": 290, "yes": 10}
    [warning] = report["warnings"]
    assert warning.startswith("class imbalance: class 'yes' is 3.3% of 300 rows ('no': 96.7%)")
    assert validate(frame())["warnings"] == []
    assert validate(frame(), problem="regression")["warnings"] == []


# ---------------------------------------------------------------- roles

def roled() -> pd.DataFrame:
    return pd.DataFrame({
        "customer": [11, 12, 13, 14],
        "amount": ["1.5", "2", "x", "4"],
        "signup": ["2024-01-01", "2024-02-30", "nope", None],
        "zip": [1000, 2000, 3000, 4000],
        "y": [0, 1, 0, 1],
    })


def test_declared_roles_that_fit_the_values_pass():
    df = roled().assign(amount=["1.5", "2", "3", "4"], signup=["2024-01-01", "2024-02-03", None, "2024-03-01"])
    report = validate(df, roles={"customer": "id", "amount": "numeric", "signup": "date", "zip": "categorical"})
    assert report["passed"], report["violations"]


def test_a_numeric_role_with_text_that_is_not_a_number_fails_with_an_example():
    report = validate(roled(), roles={"amount": "numeric"})
    assert report["violations"] == [{"column": "amount", "rule": "role",
                                     "detail": "declared numeric, but 1 value(s) are not numbers (e.g. 'x')"}]


def test_a_date_role_with_values_that_are_not_dates_fails_with_examples():
    report = validate(roled(), roles={"signup": "date"})
    assert report["violations"] == [{"column": "signup", "rule": "role",
                                     "detail": "declared date, but 2 value(s) are not dates "
                                               "(e.g. '2024-02-30', 'nope')"}]


def test_a_role_on_a_missing_column_or_on_the_target_fails():
    report = validate(roled(), roles={"gone": "categorical", "y": "categorical", "customer": "id"})
    assert report["violations"] == [
        {"column": "gone", "rule": "role",
         "detail": "declared categorical column is missing (columns: customer, amount, signup, zip, y)"},
        {"column": "y", "rule": "role", "detail": "the target cannot also be declared categorical"},
    ]


# ---------------------------------------------------------------- xy

def test_xy_leaves_out_the_target_and_the_drop_and_id_columns():
    X, y = xy(roled(), "y", {"customer": "id", "amount": "drop", "zip": "categorical"})
    assert X.columns.tolist() == ["signup", "zip"]
    assert y.tolist() == [0, 1, 0, 1]
    X, _ = xy(roled(), "y")
    assert X.columns.tolist() == ["customer", "amount", "signup", "zip"]


def test_xy_without_a_target_column_gives_no_labels():
    X, y = xy(roled().drop(columns="y"), None, {"customer": "id"})
    assert y is None
    assert X.columns.tolist() == ["amount", "signup", "zip"]
    X, y = xy(roled(), "label")  # a clustering dataset whose target is not in the file
    assert y is None
    assert "y" in X.columns


def test_an_encoding_override_must_name_a_categorical_column_that_exists():
    df = pd.DataFrame({"x": np.arange(6.0), "plan": list("abcabc"), "y": [0, 1] * 3})
    report = validate_frame(df, target="y", problem="classification", checks={},
                            encoding={"plan": "target", "x": "onehot", "gone": "onehot"})
    assert [(v["column"], v["rule"]) for v in report["violations"]] == [("x", "encoding"), ("gone", "encoding")]
    assert report["violations"][0]["detail"] == ('only categorical columns are encoded, and this one is numeric '
                                                 '(declare roles.x = "categorical" to encode it)')
    assert validate_frame(df, target="y", problem="classification", checks={}, roles={"x": "categorical"},
                          encoding={"x": "onehot"})["passed"]
