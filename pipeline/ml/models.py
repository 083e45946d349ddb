"""Estimator pipelines built from a model spec: preprocessing plus the configured estimator."""
from __future__ import annotations

import importlib

import pandas as pd
from sklearn.base import is_classifier, is_clusterer, is_regressor
from sklearn.pipeline import Pipeline

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.features import build_preprocessor

# Estimators from these modules split on raw values; scaling adds nothing but time.
_UNSCALED_MODULES = ("sklearn.ensemble", "sklearn.tree")


def estimator_class(path: str):
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ModelSpecError(f"estimator '{path}' is not an import path like 'sklearn.linear_model.Ridge'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(f"estimator '{path}': module '{module_name}' cannot be imported ({exc})") from None
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise ModelSpecError(f"estimator '{path}': module '{module_name}' has no '{class_name}'") from None
    # checked before anything is called: config names classes, never callables like os.system
    if not isinstance(cls, type) or not all(callable(getattr(cls, name, None))
                                            for name in ("fit", "get_params", "set_params")):
        raise ModelSpecError(f"estimator '{path}' is not a scikit-learn estimator class "
                             "(a class with fit, get_params and set_params)")
    return cls


def make_estimator(spec: dict):
    cls = estimator_class(spec["estimator"])
    params = spec.get("params", {})
    try:
        estimator = cls(**params)
        estimator.set_params(**params)  # sklearn validates values at fit; names are checked here
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' rejects params {params}: {exc}") from None
    return estimator


def problem_kind(spec: dict, dataset_problem: str) -> str:
    """A clusterer makes a clustering problem of any dataset; otherwise the dataset decides."""
    estimator = make_estimator(spec)
    if is_clusterer(estimator):
        return "clustering"
    if dataset_problem == "classification" and not is_classifier(estimator):
        raise ModelSpecError(f"estimator '{spec['estimator']}' is not a classifier")
    if dataset_problem == "regression" and not is_regressor(estimator):
        raise ModelSpecError(f"estimator '{spec['estimator']}' is not a regressor")
    return dataset_problem


def build_model(spec: dict, X: pd.DataFrame) -> Pipeline:
    estimator = make_estimator(spec)
    scale = spec.get("scale", not type(estimator).__module__.startswith(_UNSCALED_MODULES))
    return Pipeline([("preprocess", build_preprocessor(X, scale=scale)), ("model", estimator)])


def fit_model(spec: dict, X: pd.DataFrame, y: pd.Series | None, kind: str) -> Pipeline:
    model = build_model(spec, X)
    try:
        if kind == "clustering":
            model.fit(X)
        else:
            model.fit(X, y)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' failed to fit: {exc}") from None
    return model
