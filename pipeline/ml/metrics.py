"""Held-out metrics for each problem kind, and the predictions they were computed from."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pipeline.ml.data import plain

# The k-means digits demo scores silhouette on 300 unseeded rows of the raw pixels; here it is
# measured in the model's own (scaled) feature space on a larger seeded sample: steadier, and
# defined for text columns too.
SILHOUETTE_SAMPLE = 1000
# Rows scored at a time: the model's intermediate arrays (a one-hot block, a tree model's own
# copy of its input) stay the size of this many rows however many are scored.
SCORING_CHUNK = 100_000


def predict_frame(model, X: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Predictions for X (and class probabilities where the model gives them). A clusterer without
    predict (DBSCAN) gives the labels it found for the rows it was fitted on, which X must be."""
    from pipeline.ml.models import can_score_new_rows, fitted_labels

    if not can_score_new_rows(model):
        return pd.DataFrame({"prediction": fitted_labels(model, X)}, index=X.index)
    chunks = [_predict_rows(model, X.iloc[start:start + SCORING_CHUNK], kind)
              for start in range(0, max(len(X), 1), SCORING_CHUNK)]
    return pd.concat(chunks) if len(chunks) != 1 else chunks[0]


def _predict_rows(model, X: pd.DataFrame, kind: str) -> pd.DataFrame:
    """As Pipeline.predict and predict_proba, with the preprocessing done once for both."""
    steps, final = (model[:-1], model[-1]) if hasattr(model, "steps") else (None, model)
    features = steps.transform(X) if steps is not None else X
    out = pd.DataFrame({"prediction": final.predict(features)}, index=X.index)
    if kind == "classification" and hasattr(model, "predict_proba"):
        proba = final.predict_proba(features)
        for i, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, i]
    return out


def evaluate(model, X: pd.DataFrame, y: pd.Series | None, kind: str) -> tuple[dict, pd.DataFrame]:
    predictions = predict_frame(model, X, kind)
    y_pred = predictions["prediction"].to_numpy()
    if kind == "classification":
        proba_cols = [c for c in predictions.columns if c.startswith("proba_")]
        proba = predictions[proba_cols].to_numpy() if proba_cols else None
        values = classification_metrics(y.to_numpy(), y_pred, proba, list(getattr(model, "classes_", [])))
    elif kind == "regression":
        values = regression_metrics(y.to_numpy(), y_pred)
    else:
        features = model[:-1].transform(X) if hasattr(model, "steps") else X.to_numpy()
        values = clustering_metrics(None if y is None else y.to_numpy(), y_pred, features, model[-1])
    values["n_samples"] = int(len(X))
    values["kind"] = kind
    if y is not None:
        predictions.insert(0, "actual", y.to_numpy())
    return values, predictions


def classification_metrics(y_true, y_pred, proba=None, classes=()) -> dict:
    """Scored on integer codes of the labels (the same numbers; text labels sort and compare slowly),
    or on the labels themselves when they are of mixed kinds (True and 1, "1" and 1): compared as
    scikit-learn compares them, which also refuses text mixed with numbers."""
    labels = sorted(set(pd.unique(np.asarray(y_true))) | set(pd.unique(np.asarray(y_pred))), key=str)
    true, pred = _codes(y_true, labels), _codes(y_pred, labels)
    every = list(range(len(labels)))
    if (true < 0).any() or (pred < 0).any() or len({isinstance(label, str) for label in labels}) > 1:
        true, pred, every = np.asarray(y_true), np.asarray(y_pred), labels
    values = {
        "accuracy": float(skm.accuracy_score(true, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(true, pred)),
        "f1_macro": float(skm.f1_score(true, pred, average="macro", zero_division=0)),
        "confusion_matrix": {
            "labels": [plain(v) for v in labels],
            "matrix": skm.confusion_matrix(true, pred, labels=every).tolist(),
        },
    }
    auc = _roc_auc(y_true, proba, list(classes))
    if auc is not None:
        values["roc_auc"] = auc
    return values


def _codes(values, labels: list) -> np.ndarray:
    """Each value's position in labels; -1 where it is none of them."""
    return pd.Index(labels, dtype=object).get_indexer(np.asarray(values, dtype=object))


def _roc_auc(y_true, proba, classes: list):
    """ROC AUC where it is defined: probabilities known and every model class seen in y_true."""
    if proba is None or len(classes) < 2 or set(pd.unique(np.asarray(y_true))) != set(classes):
        return None
    true, labels = _codes(y_true, classes), list(range(len(classes)))  # column i of proba is classes[i]
    if (true < 0).any():  # labels of another kind than the classes (True and 1): as scikit-learn compares them
        true, labels = np.asarray(y_true), classes
    if len(classes) == 2:
        return float(skm.roc_auc_score(true, proba[:, 1], labels=labels))
    return float(skm.roc_auc_score(true, proba, multi_class="ovr", labels=labels))


def regression_metrics(y_true, y_pred) -> dict:
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def clustering_metrics(labels_true, labels_pred, features, estimator=None, random_state: int = 0) -> dict:
    """The k-means digits demo's table: label agreement (when labels exist), silhouette, inertia."""
    values = {}
    if labels_true is not None:
        values.update({
            "homogeneity": float(skm.homogeneity_score(labels_true, labels_pred)),
            "completeness": float(skm.completeness_score(labels_true, labels_pred)),
            "v_measure": float(skm.v_measure_score(labels_true, labels_pred)),
            "ari": float(skm.adjusted_rand_score(labels_true, labels_pred)),
            "ami": float(skm.adjusted_mutual_info_score(labels_true, labels_pred)),
        })
    if 1 < len(np.unique(labels_pred)) < len(labels_pred):
        sample = min(SILHOUETTE_SAMPLE, len(labels_pred))
        values["silhouette"] = float(skm.silhouette_score(
            features, labels_pred, metric="euclidean", sample_size=sample, random_state=random_state))
    if estimator is not None and hasattr(estimator, "inertia_"):
        values["inertia"] = float(estimator.inertia_)
    noise = np.asarray(labels_pred) == -1  # DBSCAN, OPTICS and HDBSCAN call these rows noise
    values["n_clusters"] = int(len(np.unique(np.asarray(labels_pred)[~noise])))
    if noise.any() or "min_samples" in getattr(estimator, "get_params", dict)():
        values["noise_fraction"] = float(noise.mean())
    return values


def baseline_metrics(y_train, y_test, kind: str) -> dict | None:
    """The scores of a model that ignores the features, fitted on the training labels and scored on
    the test rows: class priors (always the most frequent class) or the training mean. None for
    clustering, which has no trivial baseline."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if kind not in ("classification", "regression") or y_train is None:
        return None
    X_train, X_test = np.zeros((len(y_train), 1)), np.zeros((len(y_test), 1))
    if kind == "classification":
        dummy = DummyClassifier(strategy="prior").fit(X_train, y_train)
        values = classification_metrics(np.asarray(y_test), dummy.predict(X_test), dummy.predict_proba(X_test),
                                        list(dummy.classes_))
        values.pop("confusion_matrix")
        return {"model": "DummyClassifier(strategy='prior')", **values}
    dummy = DummyRegressor(strategy="mean").fit(X_train, y_train)
    return {"model": "DummyRegressor(strategy='mean')", **regression_metrics(np.asarray(y_test), dummy.predict(X_test))}


def same_predictions(expected: pd.Series, actual: pd.Series) -> int:
    """How many predictions agree, position by position (floats to 1e-9 relative)."""
    a, b = np.asarray(expected), np.asarray(actual)
    if a.shape != b.shape:
        return 0
    if np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating):
        return int(np.isclose(a, b, rtol=1e-9, atol=1e-12).sum())
    return int((a == b).sum())
