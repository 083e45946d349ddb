"""Luigi event handlers: the one line a person reads first for each failure, alerts, durations.

These handlers add a `FAILED ...`, `CANNOT SCHEDULE ...` or `MISSING DATA ...` line that names
the task and the problem, send the failure alert, and record how long each task took. They fire
for the pipeline's own tasks only.

A user's mistake (a bad config name, bad data, a bad --date or task name) is said in that one
line and nothing else: the filter below takes Luigi's traceback off it, and the excepthook
shortens the errors Luigi's command line parser raises before a run starts. A real bug (any
other exception) keeps its traceback.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

import luigi
import luigi.configuration
import luigi.interface
import luigi.parameter
import luigi.rpc
from luigi.task_register import TaskClassNotFoundException

from pipeline import durations, notify
from pipeline.errors import ConfigError, PipelineError
from pipeline.formats import ago, seconds
from pipeline.ml.errors import MLError
from pipeline.tasks import outcomes

logger = logging.getLogger("pipeline")
USER_ERRORS = (PipelineError, MLError, luigi.parameter.ParameterException, TaskClassNotFoundException,
               luigi.rpc.RPCError)
NO_SCHEDULER_HINT = ("is luigid running? start it with `ml-pipeline scheduler start` (see its --port), "
                     "or run with --local-scheduler")


def _error_names(classes) -> tuple[str, ...]:
    """"module.Class:" of every user error class, as a formatted traceback's last line starts."""
    found, todo = [], list(classes)
    while todo:
        cls = todo.pop()
        found.append(f"{cls.__module__}.{cls.__qualname__}:")
        todo += cls.__subclasses__()
    return tuple(found)


def one_line(exc: BaseException) -> str:
    """An error's message on one line ("Did you mean:" lists included), with a hint where one helps."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] + (" " + ", ".join(lines[1:]) if len(lines) > 1 else "")
    return f"{text}: {NO_SCHEDULER_HINT}" if isinstance(exc, luigi.rpc.RPCError) else text


def _bad_parameter_value(exc: BaseException) -> bool:
    """A ValueError raised while Luigi parsed a parameter's value (--date 2026-13-01)."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(("luigi/parameter.py", "luigi/cmdline_parser.py")) \
                and isinstance(exc, ValueError):
            return True
        tb = tb.tb_next
    return False


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS) or _bad_parameter_value(exc)


class UserErrorsInOneLine(logging.Filter):
    """On Luigi's logger: no traceback for a user's mistake (the pipeline's own line says it), and
    the pipeline's outcome block after the execution summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.exc_info and exc is None:  # Luigi logs exc_info=True outside an except: "NoneType: None"
            record.exc_info = None
        if exc is not None and is_user_error(exc):
            if record.msg == "Uncaught exception in luigi":  # before any task: nothing else says it
                record.msg, record.args = "error: %s", (one_line(exc),)
            elif isinstance(exc, luigi.rpc.RPCError):  # said once, at the end, with the hint
                return False
            record.exc_info = record.exc_text = None
            return True
        message = record.getMessage()
        if outcomes.SUMMARY_MARK in message:  # the run is over: say what it did, after Luigi's summary
            record.msg, record.args = outcomes.after_summary(message), ()
            return True
        if "Traceback (most recent call last)" in message:
            # "Will not run TASK ... due to error in complete() method:\n<traceback>": CANNOT SCHEDULE says it
            return not message.strip().splitlines()[-1].startswith(_error_names(USER_ERRORS[:2]))
        return True


def _excepthook(kind, value, tb, previous=sys.excepthook):
    if is_user_error(value):
        print(f"error: {one_line(value)}", file=sys.stderr)
    else:
        previous(kind, value, tb)


logging.getLogger("luigi-interface").addFilter(UserErrorsInOneLine())
# luigi.cfg's [core] rpc-retry settings are read by luigi.rpc, not by the [core] Config class
luigi.interface.core.ignore_unconsumed = {*luigi.interface.core.ignore_unconsumed, "rpc_retry_attempts",
                                          "rpc_retry_wait"}
sys.excepthook = _excepthook


def _ours(task) -> bool:
    return type(task).__module__.startswith("pipeline.")


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _one_line_failure(task, exception):
    if _ours(task):
        _stop_clock(task)
        logger.error("FAILED %s: %s", task, exception)
        notify.task_failed(task, exception)


# ---------------------------------------------------------------- late tasks and runs ([late_after])

_clocks: dict[str, threading.Timer] = {}


def late_after(name: str) -> float | None:
    """[late_after] NAME in luigi.cfg (a task family, or `run`), in seconds; None when not set."""
    config = luigi.configuration.get_config()
    if not config.has_section("late_after"):
        return None
    key = next((option for option in config.options("late_after") if option.lower() == name.lower()), None)
    if key is None:
        return None
    text = config.get("late_after", key)
    try:
        return seconds(text)
    except ValueError as exc:
        raise ConfigError(f"luigi.cfg [late_after] {name}: {exc}") from None


def _late(what: str, limit: float, task=None) -> None:
    text = f"{what} has been running for more than {ago(limit)} ([late_after] in luigi.cfg)"
    logger.warning("LATE %s", text)
    params = task.param_kwargs if task is not None else {}
    notify.problem("late", text, dataset=params.get("dataset"), model=params.get("model"),
                   date=str(params["date"]) if "date" in params else None,
                   task_id=task.task_id if task is not None else None,
                   luigid_link=notify.task_link(task.task_id) if task is not None else None)


def _start_clock(key: str, limit: float | None, *args) -> None:
    if limit:
        clock = threading.Timer(limit, _late, args=args)
        clock.daemon = True  # never keeps a finished run alive
        _clocks[key] = clock
        clock.start()


def _stop_clock(task) -> None:
    clock = _clocks.pop(task.task_id, None)
    if clock:
        clock.cancel()


@luigi.Task.event_handler(luigi.Event.START)
def _clock_on(task):
    if _ours(task):
        _start_clock(task.task_id, late_after(task.task_family), str(task), late_after(task.task_family), task)


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _clock_off(task):
    if _ours(task):
        _stop_clock(task)


def start_run_clock(argv: list[str]) -> None:
    """The `luigi` command's whole run against [late_after] run (its timer dies with the process)."""
    limit = late_after("run")
    _start_clock("run", limit, f"the run `luigi {' '.join(argv)}`", limit)


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


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def _already_complete(task):
    if _ours(task):
        outcomes.asked(task, True)


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
def _to_run(task, dependency):
    # with --parallel-scheduling, complete() runs in other processes: this is where this one hears of it
    if _ours(task):
        outcomes.asked(task, False)


@luigi.Task.event_handler(luigi.Event.PROCESSING_TIME)
def _record_duration(task, seconds):
    if _ours(task):
        durations.record(task, seconds, run=outcomes.run_id(), log=getattr(task, "attempt_log", None))


if os.path.basename(sys.argv[0]) == "luigi":  # the command, not a library import (python -m pipeline, tests)
    start_run_clock(sys.argv[1:])
