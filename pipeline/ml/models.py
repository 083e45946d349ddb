"""Estimator pipelines built from a model spec: preprocessing plus the configured estimator.

A param whose value is a table with `estimator` (and `params`) is itself an estimator, a list of
such tables is a list of (name, estimator) pairs (StackingClassifier's `estimators`, a
Pipeline's `steps`), and a table with `function` names a numpy ufunc (TransformedTargetRegressor's
`func = { function = "numpy.log1p" }`). All of it is checked when the config is read.
"""
from __future__ import annotations

import contextlib
import importlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone, is_classifier, is_clusterer, is_regressor
from sklearn.pipeline import Pipeline

from pipeline.ml.errors import ModelSpecError
from pipeline.ml.features import build_preprocessor, encoding_plan, native_categorical

# The estimators that split on raw values: no scaling, categories as ordinal codes.
_TREE_MODULES = ("sklearn.tree", "sklearn.ensemble._forest", "sklearn.ensemble._gb", "sklearn.ensemble._iforest")
_NATIVE_MODULES = ("sklearn.ensemble._hist_gradient_boosting",)
_NESTED_KEYS = {"estimator", "params", "name"}


def estimator_class(path: str, key: str = "estimator"):
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ModelSpecError(f"estimator '{path}' is not an import path like 'sklearn.linear_model.Ridge'", key)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(f"estimator '{path}': module '{module_name}' cannot be imported ({exc})", key) from None
    try:
        cls = getattr(module, class_name)
    except AttributeError:
        raise ModelSpecError(f"estimator '{path}': module '{module_name}' has no '{class_name}'", key) from None
    # checked before anything is called: config names classes, never callables like os.system
    if not isinstance(cls, type) or not all(callable(getattr(cls, name, None))
                                            for name in ("fit", "get_params", "set_params")):
        raise ModelSpecError(f"estimator '{path}' is not a scikit-learn estimator class "
                             "(a class with fit, get_params and set_params)", key)
    return cls


def function(path, key: str):
    """A numpy ufunc named in config (numpy.log1p, numpy.expm1, numpy.sqrt, ...): nothing else is callable."""
    module_name, _, name = str(path).rpartition(".")
    found = getattr(np, name, None) if module_name in ("numpy", "np") else None
    if not isinstance(found, np.ufunc):
        raise ModelSpecError(f"function {path!r} is not allowed: name a numpy ufunc such as 'numpy.log1p' or "
                             "'numpy.expm1'", key)
    return found


def _param(value, key: str):
    if isinstance(value, dict) and "estimator" in value:
        return make_estimator(value, key)
    if isinstance(value, dict) and "function" in value:
        if set(value) != {"function"}:
            extra = sorted(set(value) - {"function"})
            raise ModelSpecError(f"a function table has only the key 'function', not {extra}", key)
        return function(value["function"], f"{key}.function")
    if isinstance(value, list) and value and all(isinstance(v, dict) and "estimator" in v for v in value):
        pairs = []
        for i, item in enumerate(value):
            name = item.get("name") or f"{item['estimator'].rpartition('.')[2].lower()}{i}"
            pairs.append((name, make_estimator(item, f"{key}[{i}]")))
        return pairs
    return value


def make_estimator(spec: dict, key: str = ""):
    """The estimator a spec (or a nested estimator table) describes; errors name the config key."""
    prefix = f"{key}." if key else ""
    if key:
        unknown = sorted(set(spec) - _NESTED_KEYS)
        if unknown:
            raise ModelSpecError(f"unknown key(s) {unknown} in a nested estimator (known: estimator, params, name)",
                                 key)
    if not isinstance(spec.get("params", {}), dict):
        raise ModelSpecError(f"expected a table, got {spec['params']!r}", f"{prefix}params")
    cls = estimator_class(spec["estimator"], f"{prefix}estimator")
    raw = spec.get("params", {})
    params = {name: _param(value, f"{prefix}params.{name}") for name, value in raw.items()}
    try:
        estimator = cls(**params)
        estimator.set_params(**params)  # sklearn validates values at fit; names are checked here
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' rejects params {raw}: {exc}",
                             f"{prefix}params") from None
    return estimator


def check_spec(spec: dict) -> None:
    """Everything about a model spec that can be known before data: ModelSpecError naming the key."""
    estimator = make_estimator(spec)
    try:
        is_clusterer(estimator)  # reads the tags of every estimator inside it
    except AttributeError:
        functions = [name for name, value in spec.get("params", {}).items() if isinstance(value, dict)
                     and "function" in value]
        raise ModelSpecError('expected an estimator table ({ estimator = "..." }), got a function',
                             f"params.{functions[0]}" if functions else "params") from None
    inductive = spec.get("inductive")
    if inductive is not None:
        if not is_clusterer(estimator) or hasattr(estimator, "predict"):
            raise ModelSpecError(f"'{spec['estimator']}' is not a clusterer without predict; inductive is for those "
                                 "(DBSCAN, AgglomerativeClustering, ...)", "inductive")
        if not is_classifier(make_estimator(inductive, "inductive")):
            raise ModelSpecError(f"'{inductive['estimator']}' is not a classifier", "inductive.estimator")
    elif is_clusterer(estimator) and not hasattr(estimator, "predict") and spec.get("fit_on", "train") != "all":
        raise ModelSpecError(
            f"'{spec['estimator']}' has no predict: it labels only the rows it is fitted on, so it cannot be scored "
            "on held-out rows; set fit_on = \"all\", or inductive = { estimator = \"...\" } (a classifier fitted on "
            "its clusters, which then scores new rows)", "fit_on")


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


def learner(estimator) -> str:
    """How an estimator wants its inputs: "native" (HistGradientBoosting), "tree" or "linear" (anything else)."""
    inner = getattr(estimator, "regressor", None) if type(estimator).__name__ == "TransformedTargetRegressor" else None
    module = type(inner if inner is not None else estimator).__module__
    if module.startswith(_NATIVE_MODULES):
        return "native"
    return "tree" if module.startswith(_TREE_MODULES) else "linear"


class InductiveClusterer(ClusterMixin, BaseEstimator):
    """scikit-learn's "inductive clustering" example: a clusterer without predict labels the rows it is
    fitted on, and a classifier fitted on those labels assigns new rows to the clusters."""

    def __init__(self, clusterer=None, classifier=None):
        self.clusterer = clusterer
        self.classifier = classifier

    def fit(self, X, y=None):
        self.clusterer_ = clone(self.clusterer)
        self.labels_ = self.clusterer_.fit_predict(X)
        self.classifier_ = clone(self.classifier).fit(X, self.labels_)
        return self

    def predict(self, X):
        return self.classifier_.predict(X)


def build_model(spec: dict, X: pd.DataFrame, kind: str, *, roles: dict | None = None,
                encoding: dict | None = None, seed: int = 0) -> tuple[Pipeline, dict]:
    """(unfitted pipeline, encoding plan) for a spec and the training rows' features."""
    estimator = make_estimator(spec)
    if spec.get("inductive"):
        estimator = InductiveClusterer(estimator, make_estimator(spec["inductive"], "inductive"))
    how = learner(estimator)
    plan = encoding_plan(X, roles=roles, overrides=encoding, learner=how, supervised=kind != "clustering",
                         scale=spec.get("scale", how == "linear"))
    native = native_categorical(plan)
    if native:
        target = estimator.regressor if how == "native" and hasattr(estimator, "regressor") else estimator
        if target.get_params().get("categorical_features") in ("from_dtype", None):
            target.set_params(categorical_features=native)
    preprocess = build_preprocessor(plan, learner=how, scale=spec.get("scale", how == "linear"), seed=seed, kind=kind)
    return Pipeline([("preprocess", preprocess), ("model", estimator)]), plan


def fit_model(spec: dict, X: pd.DataFrame, y: pd.Series | None, kind: str, **columns) -> tuple[Pipeline, dict]:
    """(fitted pipeline, encoding plan); `columns`: the dataset's roles, encoding and seed. A
    clusterer is fitted without y (which only scores it)."""
    y = None if kind == "clustering" else y
    model, plan, features = fit_preprocessing(spec, X, y, kind, **columns)
    return fit_estimator(model, features, y, spec), plan


def fit_preprocessing(spec: dict, X: pd.DataFrame, y: pd.Series | None, kind: str, **columns):
    """The first half of fit_model: (pipeline, plan, X's features as the estimator takes them), the
    preprocessing fitted; y: None for a clusterer. A caller that lets go of X before fit_estimator
    frees the rows while the estimator fits (on a million rows, a few hundred MB of the peak)."""
    model, plan = build_model(spec, X, kind, **columns)
    with _fit_errors(spec):
        return model, plan, model[:-1].fit_transform(X, y)


def fit_estimator(model: Pipeline, features, y: pd.Series | None, spec: dict) -> Pipeline:
    """The second half: the estimator fitted on the features, as Pipeline.fit does it."""
    with _fit_errors(spec):
        if y is None:
            model[-1].fit(features)
        else:
            model[-1].fit(features, y)
    return model


@contextlib.contextmanager
def _fit_errors(spec: dict):
    try:
        yield
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' failed to fit: {exc}") from None


def can_score_new_rows(model) -> bool:
    return hasattr(model, "predict")


def fitted_labels(model, X: pd.DataFrame):
    """The cluster labels a model without predict gave the rows it was fitted on (which X must be)."""
    labels = model[-1].labels_
    if len(labels) != len(X):
        raise ModelSpecError(f"{type(model[-1]).__name__} has no predict: it labels only the {len(labels)} rows it was "
                             f"fitted on, not {len(X)} other rows")
    return labels
