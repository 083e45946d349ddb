"""What one run is: its id, and the block it ends with after Luigi's execution summary.

A run begins when Luigi's worker first asks a task whether it is complete, and ends with the
summary. Its id goes with every task duration recorded (pipeline/durations.py), so RunReport
shows this run's tasks only; worker processes forked by --workers N inherit it.

The block says what each deployment and each batch scoring did, read back from what they
committed (so it is right with --workers N, whose tasks run in other processes, and for tasks
that were already complete):

    digits/logreg 2026-01-02: promoted v0002 (balanced_accuracy 0.9799; previous v0001 0.9777)
        report: data/reports/digits/logreg/2026-01-02/3f1c.../report.html
    digits/logreg 2026-01-03: scored 50 rows with v0002 -> data/predictions/.../predictions.parquet
"""
from __future__ import annotations

import logging
import uuid

from pipeline import durations

logger = logging.getLogger("pipeline")
SUMMARY_MARK = "===== Luigi Execution Summary ====="
_asked: dict[str, tuple[object, bool]] = {}  # task_id -> (task, complete when scheduled)
_run: dict[str, str] = {}  # "id" while a run is on


def run_id() -> str | None:
    """This run's id: set when the first task is scheduled, None outside a run."""
    return _run.get("id")


def run_started() -> str | None:
    """When this run began (UTC, ISO 8601 to the millisecond, as durations are recorded)."""
    return _run.get("started")


def asked(task, complete: bool) -> None:
    """Remember a task whose outcome the block reports: one that is to run (from its complete(),
    or Luigi's DEPENDENCY_DISCOVERED, which --parallel-scheduling fires in this process), or one
    the worker found complete (DEPENDENCY_PRESENT). The first one begins a run."""
    if "id" not in _run:
        _run.update(id=uuid.uuid4().hex[:12], started=durations.stamp())
    if hasattr(task, "run_outcome") and task.task_id not in _asked:
        _asked[task.task_id] = (task, complete)


def block() -> str:
    """The lines for every remembered task that has committed its output, then forget them."""
    found: dict[tuple, list[str]] = {}  # one entry per run and kind: the fullest (a report adds its path)
    for task, was_complete in list(_asked.values()):
        try:
            said = task.run_outcome()
        except Exception as exc:  # noqa: BLE001 - the block must never fail a run that is over
            logger.debug("no outcome line for %s: %s", task, exc)
            said = None
        key = (task.outcome_name(), getattr(task, "outcome_of", task.task_family))
        if said and len(said) > len(found.get(key, [])):
            found[key] = [f"{key[0]}: {'already complete: ' if was_complete else ''}{said[0]}",
                          *(f"    {line}" for line in said[1:])]
    _asked.clear()
    _run.clear()
    return "\n".join(line for lines in found.values() for line in lines)


def after_summary(message: str) -> str:
    """Luigi's execution summary with the block after it."""
    text = block()
    return f"{message.rstrip()}\n\n{text}\n" if text else message
