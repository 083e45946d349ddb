"""Hyperparameter search and model selection: grid points and candidate models, each scored by
k-fold cross-validation on the metric the gate compares on.

Light at import (the task graph needs `grid_points` before anything runs); scikit-learn is
imported when a point is scored.
"""
from __future__ import annotations

import itertools

from pipeline.ml.gate import higher_is_better, primary_metric

# scikit-learn's scorer for each metric a search can be decided on. It negates errors; the
# results here are in the metric's own units (an rmse is positive, and lower is better).
SCORERS = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "f1_macro": "f1_macro",
           "roc_auc": "roc_auc_ovr", "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error",
           "r2": "r2"}


def search_metric(kind: str, compare: str | None = None) -> str:
    """What points and candidates are compared on: the gate's `compare` metric, else the default
    for the problem kind (balanced_accuracy, rmse), so the search wants what the gate wants."""
    from pipeline.ml.errors import ModelSpecError

    if kind not in ("classification", "regression"):
        raise ModelSpecError(f"a search grid or several models need a classification or regression problem, not {kind}")
    metric = compare or primary_metric({"kind": kind})
    if metric not in SCORERS:
        raise ModelSpecError(f"compare = {metric!r} cannot score cross-validation folds (use one of "
                             f"{', '.join(SCORERS)})", "compare")
    return metric


def grid_points(grid: dict) -> list[dict]:
    """Every combination of a search grid's values, in a fixed order (parameter names sorted)."""
    names = sorted(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[name] for name in names))]


def with_point(spec: dict, point: dict) -> dict:
    """The spec with one grid point's values in its params, and no grid."""
    return {**{k: v for k, v in spec.items() if k != "grid"}, "params": {**spec.get("params", {}), **point}}


def cross_validate(spec: dict, X, y, kind: str, *, folds: int, seed: int, compare: str | None = None,
                   roles: dict | None = None, encoding: dict | None = None, on_fold=None) -> dict:
    """The k-fold score of a spec on the rows given (the training split: the test split stays unseen).

    Preprocessing is fitted inside each fold, so no fold's statistics leak into another. The same
    folds for the same rows, folds and seed: every candidate of a selection is scored on them.
    The folds run one after the other (as cross_val_score does), calling on_fold(done) after each.
    """
    import numpy as np
    from sklearn.base import clone
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import KFold, StratifiedKFold

    from pipeline.ml.errors import ModelSpecError
    from pipeline.ml.models import build_model

    metric = search_metric(kind, compare)
    splitter = (StratifiedKFold if kind == "classification" else KFold)(folds, shuffle=True, random_state=seed)
    try:
        model, _ = build_model(spec, X, kind, roles=roles, encoding=encoding, seed=seed)
        scorer, scores = get_scorer(SCORERS[metric]), []
        for train, test in splitter.split(X, y):
            fitted = clone(model).fit(X.iloc[train], y.iloc[train])
            scores.append(scorer(fitted, X.iloc[test], y.iloc[test]))
            if on_fold:
                on_fold(len(scores))
        scores = np.asarray(scores, dtype=float)
    except ModelSpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' with {spec.get('params', {})} failed to fit: {exc}") \
            from None
    if SCORERS[metric].startswith("neg_"):
        scores = -scores
    return {"scoring": metric, "folds": folds, "mean": float(scores.mean()), "std": float(scores.std()),
            "scores": [float(s) for s in scores]}


def best_point(results: list[dict]) -> dict:
    """The result with the best mean CV score (highest, or lowest for an error such as rmse); on a
    tie, the first in grid (and candidate) order."""
    pick = max if higher_is_better(results[0]["cv"]["scoring"]) else min
    return pick(results, key=lambda result: result["cv"]["mean"])


def search_summary(results: list[dict]) -> dict:
    """What a model card says about its search: every point's scores (of every candidate model),
    and the winner."""
    best = best_point(results)
    return {"scoring": results[0]["cv"]["scoring"], "folds": results[0]["cv"]["folds"], "points": results,
            "best": best["point"], "best_model": best.get("model")}
