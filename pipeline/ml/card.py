"""A model card: what a trained model was made from, as data (pipeline/registry.py stores it)."""
from __future__ import annotations

import numpy as np

from pipeline.ml.features import feature_schema
from pipeline.ml.models import make_estimator


def model_card(*, identity: dict, dataset: str, model: str, kind: str, data_spec: dict, snapshot: dict, spec: dict,
               plan: dict, n_train: int, model_sha256: str, search: dict | None, provenance: dict, trained_at: str,
               seconds: float) -> dict:
    """The card of a freshly fitted model.

    identity: candidate_id, date, task; snapshot: the ingested snapshot's manifest (source,
    fingerprint, rows); spec: the model spec it was fitted with (a search's winning point
    included); plan: how each feature column was encoded (pipeline/ml/features.py); search: the
    cross-validation of every grid point and candidate model, and the one chosen; provenance:
    packages and code_version.
    """
    roles = data_spec.get("roles", {})
    return {
        **identity, "dataset": dataset, "model": model, "kind": kind, "target": data_spec["target"],
        "features": feature_schema(plan), "encoding": plan, "ids": [c for c, role in roles.items() if role == "id"],
        "n_train": n_train,
        "data": {"source": snapshot["source"], "fingerprint": snapshot["fingerprint"], "rows": snapshot["rows"]},
        "split": data_spec["split"], "model_spec": spec, "model_sha256": model_sha256, "search": search,
        **provenance, "trained_at": trained_at, "training_seconds": round(seconds, 3),
    }


def reused_card(card: dict, identity: dict, output: str) -> dict:
    """The card of an earlier model taken again for another run on the same content."""
    return {**card, **identity, "reused_from": {"candidate_id": card["candidate_id"], "output": output,
                                                "trained_at": card["trained_at"]}}


def _param_text(value) -> str:
    if isinstance(value, np.ufunc):
        return f"numpy.{value.__name__}"
    return repr(value)  # an estimator's repr names only the params it changed


def estimator_params(spec: dict, production_spec: dict | None = None) -> dict:
    """Every param of the estimator a spec builds (as configured, or scikit-learn's default) beside
    the production model's, for a reviewer:

        {"estimator", "production_estimator", "differs": [param, ...],
         "params": [{"param", "value", "production", "configured", "differs"}]}

    Values are compared as their text (an estimator's repr for a nested one). `differs` lists the
    params whose values differ, or only "estimator" when production is another estimator class.
    production_estimator and production are None without a production model.
    """
    def described(one: dict | None) -> dict[str, str] | None:
        return None if one is None else {name: _param_text(value)
                                         for name, value in make_estimator(one).get_params(deep=False).items()}

    mine, theirs = described(spec), described(production_spec)
    names = list(mine) + [name for name in theirs or {} if name not in mine]
    rows, configured = [], spec.get("params") or {}
    for name in names:
        value, other = mine.get(name), None if theirs is None else theirs.get(name)
        rows.append({"param": name, "value": value, "production": other, "configured": name in configured,
                     "differs": theirs is not None and value != other})
    other_estimator = (production_spec or {}).get("estimator")
    differs = ["estimator"] if other_estimator not in (None, spec["estimator"]) else \
        [row["param"] for row in rows if row["differs"]]
    return {"estimator": spec["estimator"], "production_estimator": other_estimator, "differs": differs,
            "params": rows}
