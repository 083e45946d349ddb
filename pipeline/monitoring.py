"""Watching production: drift of new data against the production model's training rows.

`drift_against(card, frame)` compares rows (a file to score, or a new training day) with the
profile the model's card keeps of its training rows (pipeline/ml/drift.py); `alert_on_drift`
says what exceeds the dataset's `drift` limits in one WARNING line, sends a `drift` alert
(webhook and e-mail), and refuses when the dataset sets `refuse = true` and the rows are to be
scored.
"""
from __future__ import annotations

import logging

from pipeline import notify, settings

logger = logging.getLogger("pipeline")


def drift_against(card: dict, frame) -> dict | None:
    """The drift of `frame` from the card's training profile, with the problems under the
    dataset's limits; None for a model registered before profiles were kept."""
    from pipeline.ml.drift import compare, problems

    if not card.get("profile"):
        return None
    limits = settings.drift_limits(card["dataset"])
    drift = compare(card["profile"], frame)
    return {**drift, "version": card.get("version"), "limits": limits, "problems": problems(drift, limits)}


def alert_on_drift(drift: dict | None, *, what: str, dataset: str, model: str, date, scoring: bool) -> None:
    """WARNING and a `drift` alert when `drift` has problems; DataError when they stop scoring."""
    from pipeline.ml.errors import DataError

    if not drift or not drift["problems"]:
        return
    more = f" (and {len(drift['problems']) - 1} more)" if len(drift["problems"]) > 1 else ""
    text = f"{what} drifted from the training data of {dataset}/{model} {drift['version']}: " \
           f"{drift['problems'][0]}{more}"
    refused = scoring and drift["limits"]["refuse"]
    logger.warning("DRIFT %s%s", text, "; not scored (drift.refuse = true)" if refused else "")
    notify.problem("drift", text, dataset=dataset, model=model, date=str(date), reasons=drift["problems"])
    if refused:
        raise DataError(f"dataset '{dataset}': {text}; not scored (drift.refuse = true in pipeline.toml)")
