"""`ml-pipeline check`: a dead man's switch for cron. A cron job that never started fails nothing
and alerts nothing; this notices it from what the runs left behind.

A deployment is stale when its last successful run (its newest run report) is older than
--max-age, or, with --max-model-age, when its production model was trained longer ago than that
(a deployment whose every candidate is rejected keeps an old model in production).
"""
from __future__ import annotations

import datetime as dt

from pipeline import notify
from pipeline.formats import ago
from pipeline.registry import Registry


def _age(stamp: str, now: dt.datetime) -> float:
    return (now - dt.datetime.fromisoformat(stamp)).total_seconds()


def check(dataset: str, model: str, *, max_age: float, max_model_age: float | None = None,
          now: dt.datetime | None = None) -> dict:
    """{"name", "stale": [reasons], "said": one line} for one deployment."""
    from pipeline.tasks.report import RunReport

    now = now or dt.datetime.now(dt.UTC)
    name = f"{dataset}/{model}"
    stale, said = [], []
    reports = [report.manifest()["created"] for report in RunReport.committed(dataset=dataset, model=model)]
    if not reports:
        stale.append("no successful run yet")
    else:
        last = max(reports)
        said.append(f"last successful run {ago(_age(last, now))} ago ({last})")
        if _age(last, now) > max_age:
            stale.append(f"its last successful run was {ago(_age(last, now))} ago ({last}), more than {ago(max_age)}")
    registry = Registry.for_model(dataset, model)
    version = registry.production_version()
    if version is None:
        stale.append("no model in production")
    else:
        trained = registry.card(version)["trained_at"]
        said.append(f"production {version} trained {ago(_age(trained, now))} ago")
        if max_model_age is not None and _age(trained, now) > max_model_age:
            stale.append(f"production {version} was trained {ago(_age(trained, now))} ago ({trained}), "
                         f"more than {ago(max_model_age)}")
    return {"name": name, "dataset": dataset, "model": model, "stale": stale,
            "said": f"{'STALE' if stale else 'ok'} {name}: " + ("; ".join(stale) if stale else ", ".join(said))}


def alert(result: dict) -> bool:
    return notify.problem("stale", f"{result['name']}: {'; '.join(result['stale'])}", dataset=result["dataset"],
                          model=result["model"], reasons=result["stale"])
