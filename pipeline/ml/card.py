"""A model card: what a trained model was made from, as data (pipeline/registry.py stores it)."""
from __future__ import annotations

import numpy as np

from pipeline.ml.features import feature_schema
from pipeline.ml.models import make_estimator


def model_card(*, identity: dict, dataset: str, model: str, kind: str, data_spec: dict, snapshot: dict, spec: dict,
               plan: dict, n_train: int, model_sha256: str, search: dict | None, provenance: dict, trained_at: str,
               seconds: float, profile: dict | None = None) -> dict:
    """The card of a freshly fitted model.

    identity: candidate_id, date, task; snapshot: the ingested snapshot's manifest (source,
    fingerprint, rows); spec: the model spec it was fitted with (a search's winning point
    included); plan: how each feature column was encoded (pipeline/ml/features.py); search: the
    cross-validation of every grid point and candidate model, and the one chosen; provenance:
    packages and code_version; profile: the training rows' drift profile (pipeline/ml/drift.py).
    """
    roles = data_spec.get("roles", {})
    return {
        **identity, "dataset": dataset, "model": model, "kind": kind, "target": data_spec["target"],
        "features": feature_schema(plan), "encoding": plan, "ids": [c for c, role in roles.items() if role == "id"],
        "n_train": n_train,
        "data": {"source": snapshot["source"], "fingerprint": snapshot["fingerprint"], "rows": snapshot["rows"]},
        "split": data_spec["split"], "model_spec": spec, "model_sha256": model_sha256, "search": search,
        **provenance, "trained_at": trained_at, "training_seconds": round(seconds, 3), "profile": profile,
    }


def reused_card(card: dict, identity: dict, output: str) -> dict:
    """The card of an earlier model taken again for another run on the same content."""
    return {**card, **identity, "reused_from": {"candidate_id": card["candidate_id"], "output": output,
                                                "trained_at": card["trained_at"]}}


def _param_text(value) -> str:
    """A param's value as shown and compared: an estimator's repr in full (scikit-learn's own cuts
    long ones short with "...", which would hide a difference deep inside a stack)."""
    if isinstance(value, np.ufunc):
        return f"numpy.{value.__name__}"
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return value.__repr__(N_CHAR_MAX=10**6)  # names only the params it changed
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_param_text(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def _same(one, other) -> bool:
    """The same value: 1 and 1.0 are; text otherwise."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (one, other))
    return float(one) == float(other) if numbers else _param_text(one) == _param_text(other)


def _described(spec: dict) -> dict:
    """Every param of the estimator a spec builds, by name, with what shapes it beside them: the
    spec's fit_on and scale, and an inductive classifier's class and params ("inductive.*")."""
    found = {name: value for name, value in make_estimator(spec).get_params(deep=False).items()}
    found["spec.fit_on"] = spec.get("fit_on", "train")
    if "scale" in spec:
        found["spec.scale"] = spec["scale"]
    if spec.get("inductive"):
        found["inductive.estimator"] = spec["inductive"]["estimator"]
        found |= {f"inductive.{name}": value
                  for name, value in make_estimator(spec["inductive"], "inductive").get_params(deep=False).items()}
    return found


def estimator_params(spec: dict, production_spec: dict | None = None) -> dict:
    """Every param of the estimator a spec builds (as configured, or scikit-learn's default) beside
    the production model's, for a reviewer:

        {"estimator", "production_estimator", "differs": [param, ...],
         "params": [{"param", "value", "production", "configured", "differs"}]}

    Values are shown as text (an estimator's full repr for a nested one; None where the estimator
    has no such param) and compared as values (1 and 1.0 are the same). `differs` lists the params
    whose values differ, or only "estimator" when production is another estimator class (its
    params are shown beside, none marked). production_estimator and production are None without
    a production model.
    """
    mine = _described(spec)
    theirs = None if production_spec is None else _described(production_spec)
    other_estimator = (production_spec or {}).get("estimator")
    same_class = other_estimator in (None, spec["estimator"])
    configured = set(spec.get("params") or {}) | {f"spec.{key}" for key in ("fit_on", "scale") if key in spec}
    configured |= {name for name in mine if name.startswith("inductive.")}
    rows = []
    for name in list(mine) + [name for name in theirs or {} if name not in mine]:
        has, other_has = name in mine, theirs is not None and name in theirs
        differs = theirs is not None and same_class and (has != other_has or not _same(mine.get(name), theirs[name]))
        rows.append({"param": name, "value": _param_text(mine[name]) if has else None,
                     "production": _param_text(theirs[name]) if other_has else None,
                     "configured": name in configured, "differs": differs})
    differs = ["estimator"] if not same_class else [row["param"] for row in rows if row["differs"]]
    return {"estimator": spec["estimator"], "production_estimator": other_estimator, "differs": differs,
            "params": rows}
