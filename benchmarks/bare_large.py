"""The hand-written pandas/scikit-learn baseline of benchmarks/large.py, one step per process so its
peak memory compares with one `luigi` task's: `python benchmarks/bare_large.py STEP DIR [CSV]`.

  ingest    pd.read_csv(CSV, engine="pyarrow") -> DIR/data.parquet (and the frame's in-memory size)
  validate  DIR/data.parquet -> report.json: label present, at least MIN_ROWS rows, null counts,
            no all-null column, no infinite value, two classes
  split     stratified train_test_split(test_size=0.25, random_state=42) -> train/test.parquet
  train     HistGradientBoostingClassifier on native categories: the low-cardinality text as pandas
            `category` (categorical_features="from_dtype"), the high-cardinality one TargetEncoder'd
            (cross-fitted), each date as year/month/day/dayofweek/dayofyear; joblib.dump -> model.joblib
  evaluate  model + test.parquet -> metrics.json (accuracy, balanced accuracy), predictions.parquet
  predict   model + CSV -> scored.parquet: the rows, prediction and class probabilities

Prints one JSON line: the step's seconds, timed after the imports, and what it measured.
"""
import json
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from large import DATES, HIGH_CARD, LOW_CARD, MIN_ROWS, TARGET
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import TargetEncoder

PARTS = {"year": "year", "month": "month", "day": "day", "dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """What the model sees: dates as their parts, low-cardinality text as pandas categories."""
    X = frame.drop(columns=[TARGET], errors="ignore")
    for name in DATES:
        stamps = pd.to_datetime(X.pop(name), format="ISO8601")
        for part, attribute in PARTS.items():
            X[f"{name}_{part}"] = getattr(stamps.dt, attribute).astype("float64")
    return X.astype({name: "category" for name in LOW_CARD})


def scored(model, frame: pd.DataFrame) -> pd.DataFrame:
    probabilities = model.predict_proba(features(frame))
    classes = model.classes_
    return pd.DataFrame({"prediction": classes[probabilities.argmax(axis=1)],
                         **{f"proba_{c}": probabilities[:, i] for i, c in enumerate(classes)}}, index=frame.index)


def ingest(out: Path, csv: str) -> dict:
    frame = pd.read_csv(csv, engine="pyarrow")
    frame.to_parquet(out / "data.parquet")
    return {"frame_mb": frame.memory_usage(deep=True).sum() / 2**20}


def validate(out: Path) -> dict:
    frame = pd.read_parquet(out / "data.parquet")
    floats = frame.select_dtypes("float").to_numpy()
    nulls = frame.isna().sum()
    problems = ([] if TARGET in frame.columns else ["no label"]) + \
        ([f"{len(frame)} rows"] if len(frame) < MIN_ROWS else []) + \
        [f"{name} all null" for name in nulls.index[nulls == len(frame)]] + \
        (["infinite values"] if np.isinf(floats).any() else []) + \
        ([] if frame[TARGET].nunique() >= 2 else ["one class"])
    report = {"rows": len(frame), "nulls": nulls.astype(int).to_dict(), "problems": problems,
              "class_counts": frame[TARGET].value_counts().astype(int).to_dict()}
    (out / "report.json").write_text(json.dumps(report))
    if problems:
        raise SystemExit(f"validation failed: {problems}")
    return {}


def split(out: Path) -> dict:
    frame = pd.read_parquet(out / "data.parquet")
    train, test = train_test_split(frame, test_size=0.25, random_state=42, stratify=frame[TARGET])
    train.to_parquet(out / "train.parquet")
    test.to_parquet(out / "test.parquet")
    return {}


def train(out: Path) -> dict:
    frame = pd.read_parquet(out / "train.parquet")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)  # cross-fitted, as the pipeline's
    encode = ColumnTransformer([("target", TargetEncoder(cv=folds), [HIGH_CARD])], remainder="passthrough",
                               verbose_feature_names_out=False).set_output(transform="pandas")
    model = make_pipeline(encode, HistGradientBoostingClassifier(
        max_iter=100, early_stopping=False, random_state=0, categorical_features="from_dtype"))
    model.fit(features(frame), frame[TARGET])
    joblib.dump(model, out / "model.joblib")
    return {}


def evaluate(out: Path) -> dict:
    model, test = joblib.load(out / "model.joblib"), pd.read_parquet(out / "test.parquet")
    predictions = scored(model, test)
    metrics = {"accuracy": accuracy_score(test[TARGET], predictions["prediction"]),
               "balanced_accuracy": balanced_accuracy_score(test[TARGET], predictions["prediction"])}
    (out / "metrics.json").write_text(json.dumps(metrics))
    predictions.to_parquet(out / "predictions.parquet")
    return metrics


def predict(out: Path, csv: str) -> dict:
    model, frame = joblib.load(out / "model.joblib"), pd.read_csv(csv, engine="pyarrow")
    frame.join(scored(model, frame)).to_parquet(out / "scored.parquet")
    return {"rows": len(frame)}


if __name__ == "__main__":
    step, out, *csv = sys.argv[1:]
    started = time.perf_counter()
    measured = globals()[step](Path(out), *csv)
    print(json.dumps({"step": step, "seconds": time.perf_counter() - started, **measured}))
