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


def predict_frame(model, X: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Predictions for X (and class probabilities where the model gives them). A clusterer without
    predict (DBSCAN) gives the labels it found for the rows it was fitted on, which X must be."""
    from pipeline.ml.models import can_score_new_rows, fitted_labels

    labels = model.predict(X) if can_score_new_rows(model) else fitted_labels(model, X)
    out = pd.DataFrame({"prediction": labels}, index=X.index)
    if kind == "classification" and hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
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
    labels = sorted(set(np.unique(y_true)) | set(np.unique(y_pred)), key=str)
    values = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "confusion_matrix": {
            "labels": [plain(v) for v in labels],
            "matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
    auc = _roc_auc(y_true, proba, classes)
    if auc is not None:
        values["roc_auc"] = auc
    return values


def _roc_auc(y_true, proba, classes):
    """ROC AUC where it is defined: probabilities known and every model class seen in y_true."""
    if proba is None or len(classes) < 2 or set(np.unique(y_true)) != set(classes):
        return None
    if len(classes) == 2:
        return float(skm.roc_auc_score(y_true, proba[:, 1], labels=classes))
    return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))


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
