"""Hyperparameter search: the points of a grid, each scored by k-fold cross-validation.

Light at import (the task graph needs `grid_points` before anything runs); scikit-learn is
imported when a point is scored.
"""
from __future__ import annotations

import itertools

CV_SCORING = {"classification": "accuracy", "regression": "r2"}


def grid_points(grid: dict) -> list[dict]:
    """Every combination of a search grid's values, in a fixed order (parameter names sorted)."""
    names = sorted(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[name] for name in names))]


def with_point(spec: dict, point: dict) -> dict:
    """The spec with one grid point's values in its params, and no grid."""
    return {**{k: v for k, v in spec.items() if k != "grid"}, "params": {**spec.get("params", {}), **point}}


def cross_validate(spec: dict, X, y, kind: str, *, folds: int, seed: int, roles: dict | None = None,
                   encoding: dict | None = None) -> dict:
    """The k-fold score of a spec on the rows given (the training split: the test split stays unseen).

    Preprocessing is fitted inside each fold, so no fold's statistics leak into another. The same
    folds for the same rows, folds and seed: every candidate of a selection is scored on them.
    """
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    from pipeline.ml.errors import ModelSpecError
    from pipeline.ml.models import build_model

    if kind not in CV_SCORING:
        raise ModelSpecError(f"a search grid needs a classification or regression problem, not {kind}")
    splitter = (StratifiedKFold if kind == "classification" else KFold)(folds, shuffle=True, random_state=seed)
    try:
        model, _ = build_model(spec, X, kind, roles=roles, encoding=encoding, seed=seed)
        scores = cross_val_score(model, X, y, cv=splitter, scoring=CV_SCORING[kind], error_score="raise")
    except ModelSpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(f"estimator '{spec['estimator']}' with {spec.get('params', {})} failed to fit: {exc}") \
            from None
    return {"scoring": CV_SCORING[kind], "folds": folds, "mean": float(scores.mean()), "std": float(scores.std()),
            "scores": [float(s) for s in scores]}


def best_point(results: list[dict]) -> dict:
    """The result with the highest mean CV score; on a tie, the first in grid (and candidate) order."""
    return max(results, key=lambda result: result["cv"]["mean"])


def search_summary(results: list[dict]) -> dict:
    """What a model card says about its search: every point's scores (of every candidate model),
    and the winner."""
    best = best_point(results)
    return {"scoring": results[0]["cv"]["scoring"], "folds": results[0]["cv"]["folds"], "points": results,
            "best": best["point"], "best_model": best.get("model")}
