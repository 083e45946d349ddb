"""A model card: what a trained model was made from, as data (pipeline/registry.py stores it)."""
from __future__ import annotations

from pipeline.ml.features import feature_schema


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
