"""What every pipeline task shares: parameters, where its output lives, how it is committed.

An output lives at  data_dir/<stage>/<dataset>[/<model>]/<date>/<key>/  where <key> hashes the
config that shaped it together with the keys of the tasks it depends on, so editing a model's
params re-runs training and what follows, and never reuses a stale artifact.

No pandas or scikit-learn at module level: `luigi --module pipeline` imports this on every run,
including the ones that find everything complete.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket

import luigi

from pipeline import notify, settings
from pipeline.artifacts import ArtifactDir
from pipeline.storage import join

logger = logging.getLogger("pipeline")
DURATIONS = "runs/durations.jsonl"


class NameParameter(luigi.Parameter):
    """A dataset or model name; refuses anything that could escape data_dir."""

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        # not positional, so `date` is the first positional parameter: RangeDaily fills that one in
        super().__init__(positional=False, **kwargs)

    def normalize(self, x):
        return settings.check_name(self.kind, x)


class PipelineTask(luigi.Task):
    dataset = NameParameter("dataset", default=settings.DEFAULT_DATASET, description="a [datasets.NAME] entry")
    date = luigi.DateParameter(default=dt.date.today(), description="the run's partition (default: today)")

    stage: str  # folder under data_dir

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """The dates that are done, for RangeDaily backfills (`cls` may be a partial with the other params)."""
        return [date for date in parameter_tuples if cls(date=date).complete()]

    def spec(self) -> dict:
        """The config that shapes this task's own output (hashed into its path)."""
        return {}

    def partition(self) -> list[str]:
        return [self.dataset]

    def key_requires(self):
        """The upstream tasks whose output shapes this one's (default: all it requires)."""
        return self.requires()

    def config_key(self) -> str:
        # computed once per task object (Luigi reuses one object per parameter set, and the
        # config is read once per process), not on every complete() of every task downstream
        if "_config_key" not in self.__dict__:
            upstream = [t.config_key() for t in luigi.task.flatten(self.key_requires())]
            self._config_key = settings.short_hash({"spec": self.spec(), "upstream": upstream})
        return self._config_key

    def complete(self) -> bool:
        done = super().complete()
        if not done:
            _preload()
        return done

    def output(self) -> ArtifactDir:
        return ArtifactDir(settings.store(), join(self.stage, *self.partition(), str(self.date), self.config_key()))

    def commit(self, **meta):
        """Context manager: a directory to write into, manifested and moved into place on success."""
        return self.output().staging({"task": self.task_id, "config_key": self.config_key(), **meta})

    # Content-hash reuse: a task whose result depends only on content (data fingerprint, specs,
    # package versions) can take an earlier date's committed result instead of computing it again.

    def content(self) -> dict | None:
        """Everything that shapes this task's result, for tasks that can reuse one (else None)."""
        return None

    def _reuse_entry(self) -> str:
        return join("reuse", self.stage, f"{settings.short_hash(self.content())}.json")

    def earlier_output(self) -> ArtifactDir | None:
        """A committed output of another run with the same content, if one is known."""
        if self.content() is None:
            return None
        entry = settings.store().read_text(self._reuse_entry())
        if entry is None:
            return None
        earlier = ArtifactDir(settings.store(), json.loads(entry)["output"])
        return earlier if earlier.key != self.output().key and earlier.exists() else None

    def remember_output(self) -> None:
        """Record this (committed) output as the one to reuse for its content."""
        settings.store().write_json(self._reuse_entry(), {"output": self.output().key, "task": self.task_id})


class ModelTask(PipelineTask):
    model = NameParameter("model", default=settings.DEFAULT_MODEL, description="a [models.NAME] entry")

    def partition(self) -> list[str]:
        return [self.dataset, self.model]


# Luigi logs a traceback; these are the lines a person reads first.
def _preload() -> None:
    """Import what running a task needs, once something is known to need running.

    Luigi asks complete() in the worker process before it forks a process per task (--workers N):
    importing here lets every forked task share the imports instead of paying for them again. A
    run that finds everything complete never gets here, so it stays fast.
    """
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.pipeline  # noqa: F401


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
    """One line per task run in data_dir/runs/durations.jsonl, with or without luigid, saying where it ran."""
    if _ours(task):
        record = {"task_id": task.task_id, "task": task.task_family, "params": task.to_str_params(),
                  "seconds": round(seconds, 3), "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "host": socket.gethostname(), "pid": os.getpid()}
        try:
            settings.store().append(DURATIONS, json.dumps(record))
        except Exception as exc:  # noqa: BLE001 - a lost timing line must not turn a success into a failure
            logger.warning("could not record the duration of %s: %s", task, exc)


def upstream_tasks(task) -> list[luigi.Task]:
    """`task` and every task it depends on, directly or not, each once, dependencies first."""
    seen: dict[str, luigi.Task] = {}

    def visit(node):
        if node.task_id not in seen:
            for dependency in luigi.task.flatten(node.requires()):
                visit(dependency)
            seen[node.task_id] = node
    visit(task)
    return list(seen.values())


def durations(task_ids) -> list[dict]:
    """The latest recorded run of each of these tasks, in the order they finished."""
    log = settings.store().read_text(DURATIONS)
    wanted, latest = set(task_ids), {}
    if log is not None:
        for line in log.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: that run's time is lost, nothing else
            if record["task_id"] in wanted:
                latest.pop(record["task_id"], None)
                latest[record["task_id"]] = record
    return list(latest.values())


def read_frame(path):
    import pandas as pd

    return pd.read_parquet(path)


def read_rows(split: ArtifactDir, *, fit_on: str, part: str):
    """The rows a model is fitted ("train") or scored ("test") on; fit_on="all" uses every row.

    Every row, in source order: k-means++ seeding depends on row order, and the digits demo
    this reproduces fits the rows as load_digits returns them.
    """
    import pandas as pd

    if fit_on == "all":
        return pd.concat([read_frame(split / "train.parquet"), read_frame(split / "test.parquet")]).sort_index()
    return read_frame(split / f"{part}.parquet")
