"""`python -m pipeline invalidate TASK ...`: set a run's outputs aside so the next run redoes them.

The outputs of TASK and of every task downstream of it in that run's graph move to
data_dir/trash/<time>/ (same relative paths), where they can be inspected or put back: one
rename each on local disk; on S3 a copy, and the source's manifest is deleted first, so the
output stops counting as done before anything else changes. The registry is never touched:
to undo a deployment, roll back.
"""
from __future__ import annotations

import datetime as dt

import luigi

from pipeline import settings
from pipeline.errors import ConfigError


def affected(family: str, dataset: str, model: str, date: dt.date) -> list[luigi.Task]:
    """TASK and every task of that run that depends on it, upstream first."""
    from pipeline.tasks import BatchPredict, TrainValidateDeploy
    from pipeline.tasks.base import PipelineTask, upstream_tasks

    if family == "BatchPredict":  # both output formats of the day
        roots = [BatchPredict(dataset=dataset, model=model, date=date, format=f) for f in ("parquet", "csv")]
    else:
        roots = [TrainValidateDeploy(dataset=dataset, model=model, date=date)]
    graph = [task for root in roots for task in upstream_tasks(root) if isinstance(task, PipelineTask)]
    families = [task.task_family for task in graph]
    if family not in families:
        raise ConfigError(f"no task {family!r} in a run (tasks: {', '.join(dict.fromkeys(families))})")
    hit = {task.task_id for task in graph if task.task_family == family}
    downstream = []
    for task in graph:  # dependencies come first, so one pass finds everything downstream
        if task.task_id in hit or any(dep.task_id in hit for dep in luigi.task.flatten(task.requires())):
            hit.add(task.task_id)
            downstream.append(task)
    return downstream


def invalidate(family: str, dataset: str, model: str, date: dt.date) -> list[tuple[str, str]]:
    """Move the committed outputs of TASK and its downstream tasks to the trash; return (from, to) pairs."""
    store = settings.store()
    trash = f"trash/{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    moved = []
    for task in affected(family, dataset, model, date):
        output = task.output()
        if output.exists():
            store.move(output.key, f"{trash}/{output.key}")
            moved.append((output.url, store.url(f"{trash}/{output.key}")))
    return moved
