"""How long each task took: one line per successful task run in data_dir/runs/durations.jsonl.

Written from Luigi's PROCESSING_TIME event (pipeline/tasks/events.py), with or without luigid,
saying where the task ran, in which run (pipeline/tasks/outcomes.py) and where its log is;
read by RunReport, which shows the tasks of its own run.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket

from pipeline import settings
from pipeline.formats import json_line

logger = logging.getLogger("pipeline")
LOG = "runs/durations.jsonl"


def record(task, seconds: float, run: str | None = None, log: str | None = None) -> None:
    """Append a task run's time (`log`: its attempt's log file, under data_dir); a lost line is
    only a warning, never a failed task."""
    finished = dt.datetime.now(dt.UTC)  # to the millisecond: a run's wall time is computed from these
    line = {"task_id": task.task_id, "task": task.task_family, "params": task.to_str_params(),
            "seconds": round(seconds, 3), "started_at": stamp(finished - dt.timedelta(seconds=seconds)),
            "finished_at": stamp(finished), "run": run, "log": log, "host": socket.gethostname(),
            "pid": os.getpid()}
    try:
        settings.store().append(LOG, json_line(line))
    except Exception as exc:  # noqa: BLE001 - a lost timing line must not turn a success into a failure
        logger.warning("could not record the duration of %s: %s", task, exc)


def stamp(moment: dt.datetime | None = None) -> str:
    """A moment (default: now) as durations are recorded: UTC, ISO 8601 to the millisecond, so
    stamps compare as text."""
    return (moment or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")


def of_run(run: str | None, started: str | None, task_ids) -> list[dict]:
    """The tasks done in run `run` (which began at `started`), in the order they started: those it
    ran, and those another worker on the same luigid ran meanwhile ("other_worker": a run that was
    still finishing tasks after this one began). An earlier run's tasks are not among them."""
    if run is None:
        return []
    entries = []
    for line in (settings.store().read_text(LOG) or "").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: that run's time is lost, nothing else
    alongside = {e.get("run") for e in entries if e.get("finished_at", "") >= (started or "~")} | {run}
    wanted, found = set(task_ids), {}
    for entry in entries:
        if entry["task_id"] in wanted and entry.get("run") in alongside:
            found[entry["task_id"]] = {**entry, "other_worker": entry.get("run") != run}
    return sorted(found.values(), key=lambda entry: entry["started_at"])


def wall_seconds(entries: list[dict]) -> float | None:
    """From the first task's start to the last one's end (parallel tasks overlap: not their sum)."""
    if not entries:
        return None
    start = min(dt.datetime.fromisoformat(e["started_at"]) for e in entries)
    end = max(dt.datetime.fromisoformat(e["finished_at"]) for e in entries)
    return round((end - start).total_seconds(), 3)
