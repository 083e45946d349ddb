"""The preprocessing step of every model: what each column is, and how it is encoded.

A column's kind comes from the dataset's `roles` when declared, else from its values:

  numeric      numbers (not booleans)                    -> median-imputed, scaled for non-tree models;
                                                            HistGradientBoosting takes missing values
                                                            as they are (it learns where they go)
  date         a timestamp or date type, or text whose   -> year, month, day, dayofweek, dayofyear
               every value is an ISO date (2024-05-31)      (and hour when any value has a time)
  categorical  text, booleans, anything else             -> by the rule below, or `encoding` per column

The categorical rule, counted on the training rows:
  tree models (forests, gradient boosting, trees)  -> ordinal codes; HistGradientBoosting gets them as
                                                      native categories (up to 255, else target encoding)
  other models, up to ONEHOT_MAX categories        -> one-hot
  other models, more categories                    -> TargetEncoder (cross-fitted: no target leak);
                                                      without a target (clustering), one-hot of the
                                                      ONEHOT_MAX - 1 most frequent plus "infrequent"
The plan (`encoding_plan`) says what was chosen for each column and how many categories were
folded; the model card and the run report show it.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from pipeline.ml.columns import ENCODINGS, ROLES  # noqa: F401  (re-exported: the config's names)

KINDS = ("numeric", "categorical", "date")
ONEHOT_MAX = 30
NATIVE_MAX = 255  # HistGradientBoosting's categories must fit its max_bins (255)
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear")
PERIODIC_PARTS = ("month", "dayofweek", "hour")  # one-hot for linear models
_ATTRIBUTE = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}  # pandas' names for the parts
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def feature_columns(columns, target: str | None, roles: dict | None = None) -> list[str]:
    """The columns a model learns from: all but the target and the `drop` and `id` roles."""
    left_out = {name for name, role in (roles or {}).items() if role in ("drop", "id")} | {target}
    return [name for name in columns if name not in left_out]


def column_kind(series: pd.Series, role: str | None = None) -> str:
    """numeric, categorical or date: the declared role, else what the values are."""
    if role in KINDS:
        return role
    if is_date(series):
        return "date"
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "numeric"
    return "categorical"


def is_date(series: pd.Series) -> bool:
    """A timestamp or date type, date objects (Parquet date32), or text that is all ISO dates."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return False
    values = series.dropna()
    if values.empty:
        return False
    if _holds_dates(values):
        return True
    text = values.astype(str)
    return bool(text.head(100).str.fullmatch(ISO_DATE).all() and text.str.fullmatch(ISO_DATE).all())


def _holds_dates(values: pd.Series) -> bool:
    """Whether every value (none missing) is a date or datetime object, as Parquet's date32 reads."""
    import datetime as dt

    if not all(isinstance(v, dt.date) for v in values.head(100)):
        return False
    kind = pd.api.types.infer_dtype(values, skipna=False)  # one pass in C
    return kind in ("date", "datetime") or bool(values.map(lambda v: isinstance(v, dt.date)).all())


def column_kinds(X: pd.DataFrame, roles: dict | None = None) -> dict[str, str]:
    roles = roles or {}
    return {str(name): column_kind(X[name], roles.get(name)) for name in X.columns}


def encoding_plan(X: pd.DataFrame, *, roles: dict | None = None, overrides: dict | None = None,
                  learner: str = "linear", supervised: bool = True, scale: bool = True) -> dict[str, dict]:
    """How each feature column of the training rows `X` is encoded, and why.

    learner: "linear" (anything that is not a tree), "tree", or "native" (HistGradientBoosting).
    """
    from pipeline.ml.errors import ModelSpecError

    overrides = overrides or {}
    plan = {}
    roles = roles or {}
    for name in X.columns:
        kind = column_kind(X[name], roles.get(name))
        if kind == "numeric":
            plan[name] = {"kind": kind, "encoding": "scaled" if scale else "as is"}
        elif kind == "date":
            how = date_format(X[name])
            parts = date_parts(X[name], how)
            plan[name] = {"kind": kind, "encoding": "date parts", "parts": parts, "format": how}
            if learner == "linear":
                plan[name]["onehot_parts"] = [part for part in parts if part in PERIODIC_PARTS]
        else:
            categories = int(categories_of(X[name]).nunique())
            encoding, chosen_by = overrides.get(name), "config"
            if encoding is None:
                encoding, chosen_by = _rule(categories, learner, supervised), "rule"
            if encoding == "target" and not supervised:
                raise ModelSpecError(f"encoding.{name} = \"target\" needs a target; a clustering model has none")
            entry = {"kind": kind, "encoding": encoding, "categories": categories, "chosen_by": chosen_by}
            if encoding == "onehot" and chosen_by == "rule" and categories > ONEHOT_MAX:
                entry["folded"] = categories - (ONEHOT_MAX - 1)  # into one "infrequent" column
            if encoding == "ordinal" and learner == "native" and categories <= NATIVE_MAX:
                entry["native"] = True  # beyond 255 categories, plain codes: HistGradientBoosting refuses more
            plan[name] = entry
    return plan


def _rule(categories: int, learner: str, supervised: bool) -> str:
    if learner == "tree" or (learner == "native" and (categories <= NATIVE_MAX or not supervised)):
        return "ordinal"
    if categories <= ONEHOT_MAX or not supervised:
        return "onehot"
    return "target"


def date_parts(series: pd.Series, how: str | None = None) -> list[str]:
    """The parts a date column becomes: the hour too when some value has a time of day."""
    stamps = as_timestamps(series, how).dropna()
    has_time = bool(len(stamps)) and bool((stamps.dt.hour != 0).any() or (stamps.dt.minute != 0).any())
    return [*DATE_PARTS, *(("hour",) if has_time else ())]


def as_timestamps(series: pd.Series, how: str | None = None) -> pd.Series:
    """Timestamps (naive, in UTC) of a date column: a timestamp type, date objects or date text,
    read in the format `how` (see date_format; default: the column's own)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series
    else:
        values = series.astype(object).where(series.notna(), None)
        stamps = _read_dates(values, how or date_format(series))
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def date_format(series: pd.Series) -> str:
    """How a text date column is read: "ISO8601", else one format that reads every value (guessed
    month-first, then day-first: "31/05/2024" and "01/12/2022" are both day-first), else "mixed"
    (each value on its own). The plan records it from the training rows and every later batch is
    read the same way, so "06/08/2024" means the same day at training and at predict time."""
    if pd.api.types.is_datetime64_any_dtype(series) or _holds_dates(series.dropna()):
        return "ISO8601"  # not text: nothing to guess
    import warnings

    from pandas.tseries.api import guess_datetime_format

    values = series.astype(object).where(series.notna(), None)
    missing = int(series.isna().sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "parsing dates in %d/%m/%Y format when dayfirst=False"
        guesses = [guess_datetime_format(value, dayfirst=dayfirst)
                   for value in values.dropna().head(20).astype(str) for dayfirst in (False, True)]
    for how in dict.fromkeys(["ISO8601", *(g for g in guesses if g)]):
        if int(_read_dates(values, how).isna().sum()) == missing:
            return how
    return "mixed"


def _read_dates(values: pd.Series, how: str) -> pd.Series:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' notes on formats it was told to use
        return pd.to_datetime(values, errors="coerce", utc=True, format=how)


def categories_of(series: pd.Series) -> pd.Series:
    """A categorical column as text categories (missing stays missing): 3, 3.0 and "3" are one category.

    Each distinct value is turned into text once, and the rows keep codes into those texts (a
    pandas Categorical): a million rows of a few thousand values cost a few MB, not a Python
    string per row."""
    if pd.api.types.is_object_dtype(series):  # mixed values (to factorize True is 1) or unhashable ones: text first
        series = series.map(_category, na_action="ignore")
    codes, uniques = pd.factorize(series)  # missing values: code -1
    texts, positions = np.unique(_texts(pd.Series(uniques, dtype=series.dtype)).to_numpy(dtype=object),
                                 return_inverse=True)
    merged = np.where(codes >= 0, positions[np.maximum(codes, 0)], -1) if len(uniques) else codes
    return pd.Series(pd.Categorical.from_codes(merged, categories=texts), index=series.index, name=series.name)


def _texts(series: pd.Series) -> pd.Series:
    """Each value's category text (no value missing)."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return series.astype(object).map(_category)
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64")
        integral = np.isfinite(values) & (values == np.floor(values))
        return pd.Series(np.where(integral, np.nan_to_num(values).astype("int64").astype(str), values.astype(str)),
                         dtype=object)
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        return series.astype(object)
    return series.astype(object).map(_category)


def _category(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value)


def as_categories(X):
    return pd.DataFrame(X).apply(categories_of).astype(object)


def as_numbers(X):
    """Numeric-role columns as floats: booleans become 0/1, numeric text its numbers."""
    frame = pd.DataFrame(X)
    out = np.empty(frame.shape, dtype="float64")  # filled column by column: no second copy of the block
    for j, (_, series) in enumerate(frame.items()):
        numbers = series.astype("float64") if pd.api.types.is_bool_dtype(series) else series
        out[:, j] = pd.to_numeric(numbers, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return out


class DateParts(TransformerMixin, BaseEstimator):
    """Date columns -> numeric parts (NaN where a date is missing or does not parse)."""

    def __init__(self, parts=None, formats=None):
        self.parts = parts
        self.formats = formats  # how each column's text is read (DATE_FORMATS), from the training rows

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X):
        frame = pd.DataFrame(X)
        out = np.empty((len(frame), sum(len(parts) for parts in self.parts)), dtype="float64")
        formats = self.formats or [None] * len(self.parts)
        j = 0
        for name, parts, how in zip(frame.columns, self.parts, formats):
            stamps = as_timestamps(frame[name], how)
            for part in parts:
                out[:, j] = getattr(stamps.dt, _ATTRIBUTE.get(part, part)).to_numpy(dtype="float64", na_value=np.nan)
                j += 1
        return out

    def get_feature_names_out(self, input_features=None):
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray([f"{name}_{part}" for name, parts in zip(names, self.parts) for part in parts], dtype=object)


class EmptyColumns(TransformerMixin, BaseEstimator):
    """What SimpleImputer does with columns missing in every training row, and nothing else: they
    are dropped (keep=False) or all 0 (keep=True); other missing values pass through as they are."""

    def __init__(self, keep: bool = False):
        self.keep = keep

    def fit(self, X, y=None):
        X = np.asarray(X, dtype="float64")
        self.empty_ = np.isnan(X).all(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype="float64")
        if not self.empty_.any():
            return X
        if not self.keep:
            return X[:, ~self.empty_]
        X = X.copy()
        X[:, self.empty_] = 0.0
        return X

    def get_feature_names_out(self, input_features=None):
        names = np.asarray(input_features if input_features is not None else
                           [f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names if self.keep else names[~self.empty_]


def build_preprocessor(plan: dict[str, dict], *, learner: str = "linear", scale: bool = True, seed: int = 0,
                       kind: str = "regression") -> ColumnTransformer:
    """The ColumnTransformer a plan describes; natively categorical (ordinal) columns come first.

    Target encoding cross-fits on 5 shuffled folds (stratified for classification), seeded; a
    regression target is encoded as continuous even when its values are integers (scores 1-5).
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    by = {}
    for name, entry in plan.items():
        key = entry["kind"] if entry["kind"] != "categorical" else entry["encoding"]
        by.setdefault("onehot_folded" if entry.get("folded") else key, []).append(name)
    missing = np.nan if learner == "native" else -1  # HistGradientBoosting reads NaN as missing
    to_text = ("text", FunctionTransformer(as_categories, feature_names_out="one-to-one"))
    splitter = (StratifiedKFold if kind == "classification" else KFold)(5, shuffle=True, random_state=seed)
    blocks = {
        "ordinal": [to_text, ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=missing,
                                                       encoded_missing_value=missing))],
        "numeric": [("numbers", FunctionTransformer(as_numbers, feature_names_out="one-to-one")),
                    ("impute", SimpleImputer(strategy="median"))],
        "date": [("parts", DateParts([plan[c]["parts"] for c in by.get("date", [])],
                                     [plan[c].get("format") for c in by.get("date", [])])),
                 ("impute", SimpleImputer(strategy="median", keep_empty_features=True))],
        "onehot": [to_text, ("impute", SimpleImputer(strategy="most_frequent")),
                   ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))],
        "onehot_folded": [to_text, ("impute", SimpleImputer(strategy="most_frequent")),
                          ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=ONEHOT_MAX,
                                                   sparse_output=False))],
        "target": [to_text, ("encode", TargetEncoder(
            target_type="continuous" if kind == "regression" else "auto", cv=splitter))],
    }
    if learner == "native":  # it splits missing values off by itself: imputing would only cost time and memory
        blocks["numeric"][-1] = ("empty", EmptyColumns(keep=False))
        blocks["date"][-1] = ("empty", EmptyColumns(keep=True))
    if scale:
        for key in ("numeric", "target"):
            blocks[key].append(("scale", StandardScaler()))
    if "date" in by:
        blocks["date"].append(("encode", _date_encoder([plan[c] for c in by["date"]], scale)))
    order = ("ordinal", "numeric", "date", "onehot", "onehot_folded", "target")
    return ColumnTransformer([(key, Pipeline(blocks[key]), by[key]) for key in order if key in by],
                             verbose_feature_names_out=False)


def _date_encoder(entries: list[dict], scale: bool):
    """Date parts as numbers (scaled for linear models), the periodic ones one-hot where the plan says:
    a linear model cannot learn "weekends differ" from a day of week counted 0 to 6."""
    positions = [(part, part in entry.get("onehot_parts", ())) for entry in entries for part in entry["parts"]]
    periodic = [i for i, (_, onehot) in enumerate(positions) if onehot]
    linear = [i for i, (_, onehot) in enumerate(positions) if not onehot]
    return ColumnTransformer([("periodic", OneHotEncoder(handle_unknown="ignore", sparse_output=False), periodic),
                              ("linear", StandardScaler() if scale else "passthrough", linear)],
                             verbose_feature_names_out=False)


def native_categorical(plan: dict[str, dict]) -> list[int]:
    """Output positions of the natively categorical columns (build_preprocessor puts them first)."""
    return list(range(sum(1 for entry in plan.values() if entry.get("native"))))


def describe_plan(plan: dict[str, dict]) -> str:
    """One line on how the columns were encoded, naming every column that is not plain numeric."""
    numeric = [e for e in plan.values() if e["kind"] == "numeric"]
    parts = [f"{len(numeric)} numeric ({numeric[0]['encoding']})"] if numeric else []
    for name, entry in plan.items():
        if entry["kind"] == "date":
            parts.append(f"{name}: date parts")
        elif entry["kind"] == "categorical":
            folded = f", {entry['folded']} folded into 'infrequent'" if entry.get("folded") else ""
            parts.append(f"{name}: {entry['encoding']} ({entry['categories']} categories{folded})")
    return "; ".join(parts)


def feature_schema(plan: dict[str, dict]) -> dict[str, str]:
    """What a model needs from an input file: each feature column and its kind."""
    return {str(name): entry["kind"] for name, entry in plan.items()}
