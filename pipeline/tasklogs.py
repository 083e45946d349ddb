"""One log file per task attempt, kept for failed attempts too, served read-only by luigid.

    data_dir/runs/logs/<TaskFamily>/<dataset>[/<model>]/<date>/<UTC time>-<pid>.log

(under runs/, beside durations.jsonl: records of the runs, not artifacts of the pipeline)

Each attempt's file gets every log line of the process while the task's run() goes on (the
pipeline's, Luigi's, and the warnings of scikit-learn, pandas and the rest), and the traceback
if it fails. `ml-pipeline logs TASK` prints the latest. With luigid, the task's page links to
its log (Luigi's tracking URL), and RunReport's to its report, both on luigid's own address
(pipeline/scheduler.py adds the route). With an s3:// data_dir the logs stay on the host that
ran the task (in its cache dir).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import traceback
from pathlib import Path

from pipeline import settings

LOGS = "runs/logs"
# luigid serves data_dir/runs/logs and data_dir/reports under /pipeline/, at their paths in data_dir,
# so a report's relative links to logs work on disk and through luigid alike
ROUTE = "/pipeline"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def root() -> Path:
    return settings.store().host_dir(LOGS)


def relative(path: Path) -> str:
    """A log file's path under data_dir (runs/logs/...)."""
    return f"{LOGS}/{path.relative_to(root()).as_posix()}"


def folder(family: str, partition: list[str], date) -> Path:
    return root().joinpath(family, *partition, str(date))


def attempts(family: str, dataset: str | None = None, model: str | None = None, date: str | None = None) -> list[Path]:
    """The log files of a task family's attempts, oldest first (narrowed to a dataset, model or date)."""
    base = root() / family
    if not base.is_dir():
        return []
    found = []
    for path in base.rglob("*.log"):
        parts = path.relative_to(base).parts  # dataset[, model], date, file
        if dataset not in (None, parts[0]) or date not in (None, parts[-2]) \
                or (model is not None and (len(parts) < 4 or parts[1] != model)):
            continue
        found.append(path)
    return sorted(found, key=lambda p: (p.name, str(p)))


@contextlib.contextmanager
def attempt_log(task):
    """While the block runs, this process's log lines (and warnings) also go to the attempt's file."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder(task.task_family, [getattr(task, name) for name in task.partition_by], task.date) / \
        f"{stamp}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    captured = getattr(logging, "_warnings_showwarning", None) is None  # warnings are not yet logged
    if captured:
        logging.captureWarnings(True)
    handler.handle(logging.makeLogRecord({"name": "pipeline", "levelno": logging.INFO, "levelname": "INFO",
                                          "msg": "attempt of %s (pid %d)", "args": (task, os.getpid())}))
    try:
        yield path
    except BaseException:
        handler.stream.write(traceback.format_exc())
        raise
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        if captured:
            logging.captureWarnings(False)


def link(relative: str) -> str | None:
    """The URL of a file under data_dir (runs/logs/..., reports/...) on the luigid this run uses; None
    without luigid, or with an s3:// data_dir (luigid serves a local data_dir only)."""
    from luigi.interface import core

    from pipeline.storage import is_s3

    config = settings.read_once(core, core)
    if config.local_scheduler or is_s3(settings.pipeline().data_dir):
        return None
    base = config.scheduler_url or f"http://{config.scheduler_host}:{config.scheduler_port}"
    return f"{base.rstrip('/')}{ROUTE}/{relative}"
