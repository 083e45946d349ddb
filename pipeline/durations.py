"""How long each task took: one line per successful task run in data_dir/runs/durations.jsonl.

Written from Luigi's PROCESSING_TIME event (pipeline/tasks/events.py), with or without luigid,
saying where the task ran; read by RunReport.
"""
from __future__ import annotations

import json
import logging
import os
import socket

from pipeline import settings
from pipeline.formats import json_line, now

logger = logging.getLogger("pipeline")
LOG = "runs/durations.jsonl"


def record(task, seconds: float) -> None:
    """Append a task run's time; a lost line is only a warning, never a failed task."""
    line = {"task_id": task.task_id, "task": task.task_family, "params": task.to_str_params(),
            "seconds": round(seconds, 3), "finished_at": now(), "host": socket.gethostname(), "pid": os.getpid()}
    try:
        settings.store().append(LOG, json_line(line))
    except Exception as exc:  # noqa: BLE001 - a lost timing line must not turn a success into a failure
        logger.warning("could not record the duration of %s: %s", task, exc)


def latest(task_ids) -> list[dict]:
    """The latest recorded run of each of these tasks, in the order they finished."""
    log = settings.store().read_text(LOG)
    wanted, found = set(task_ids), {}
    for line in (log or "").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: that run's time is lost, nothing else
        if entry["task_id"] in wanted:
            found.pop(entry["task_id"], None)
            found[entry["task_id"]] = entry
    return list(found.values())
