"""Luigi event handlers: the one line a person reads first for each failure, alerts, durations.

Luigi logs a traceback for a failed task; these handlers add a `FAILED ...`, `CANNOT SCHEDULE ...`
or `MISSING DATA ...` line that names the task and the problem, send the failure alert, and
record how long each task took. They fire for the pipeline's own tasks only.
"""
from __future__ import annotations

import logging

import luigi

from pipeline import durations, notify

logger = logging.getLogger("pipeline")


def _ours(task) -> bool:
    return type(task).__module__.startswith("pipeline.")


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _one_line_failure(task, exception):
    if _ours(task):
        logger.error("FAILED %s: %s", task, exception)
        notify.task_failed(task, exception)


@luigi.Task.event_handler(luigi.Event.BROKEN_TASK)
def _one_line_broken(task, exception):
    if _ours(task):
        logger.error("CANNOT SCHEDULE %s: %s", task, exception)
        notify.task_failed(task, exception, event="scheduling_failed")


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_MISSING)
def _one_line_missing(task):
    # Luigi passes no exception when complete() raised (a bad config name, say); ask again.
    if _ours(task):
        try:
            complete = task.complete()
        except Exception as exc:  # noqa: BLE001 - reported, the scheduler already failed the task
            logger.error("CANNOT SCHEDULE %s: %s", task, exc)
            notify.task_failed(task, exc, event="scheduling_failed")
            return
        if not complete and isinstance(task, luigi.ExternalTask):
            logger.warning("MISSING DATA %s: %s", task, task.missing_message())


@luigi.Task.event_handler(luigi.Event.PROCESSING_TIME)
def _record_duration(task, seconds):
    if _ours(task):
        durations.record(task, seconds)
