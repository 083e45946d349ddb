"""What every pipeline task shares: parameters, where its output lives, how it is committed.

An output lives at  data_dir/<stage>/<dataset>[/<model>]/<date>/<key>/  where <key> hashes the
config that shaped it together with the keys of the tasks it depends on, so editing a model's
params re-runs training and what follows, and never reuses a stale artifact. `output()` builds
that layout and `committed()` reads it back; nothing else knows it.

No pandas or scikit-learn at module level: `luigi --module pipeline` imports this on every run,
including the ones that find everything complete.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import threading
import time

import luigi

from pipeline import settings
from pipeline.artifacts import ArtifactDir
from pipeline.errors import first_line
from pipeline.storage import MANIFEST, join
from pipeline.tasks import outcomes

logger = logging.getLogger("pipeline")


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
    partition_by = ("dataset",)  # the parameters naming the folders between the stage and the date

    def __init_subclass__(cls, **kwargs):
        """Every task's run() is retried inside the run on a transient failure (pipeline/retry.py)."""
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = _with_retries(cls.__dict__["run"])

    @classmethod
    def get_params(cls):
        # Luigi looks through dir(cls) for them on every call, a few times per task object made
        # (and a run makes hundreds); a class's parameters are fixed once it is defined
        if "_params" not in cls.__dict__:
            cls._params = tuple(super().get_params())
        return list(cls._params)

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        """The dates that are done, for RangeDaily backfills (`cls` may be a partial with the other params)."""
        return [date for date in parameter_tuples if cls(date=date).complete()]

    def track(self, relative: str) -> None:
        """Point the task's link in luigid at a file under data_dir (Luigi's tracking URL)."""
        from pipeline import tasklogs

        url = tasklogs.link(relative)
        if url and callable(getattr(self, "set_tracking_url", None)):
            self.set_tracking_url(url)

    def tracked_output(self) -> str | None:
        """A committed file (under data_dir) luigid's link shows once the task is done, instead of its log."""
        return None

    def on_failure(self, exception):
        """What luigid shows in the task's error pop-up (and Luigi's failure e-mail): the one-line
        reason first, then Luigi's traceback."""
        return f"{type(exception).__name__}: {first_line(exception)}\n\n{super().on_failure(exception)}"

    def spec(self) -> dict:
        """The config that shapes this task's own output (hashed into its path)."""
        return {}

    def data_spec(self) -> dict:
        """The dataset's entry in pipeline.toml."""
        return settings.dataset_spec(self.dataset)

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
        settings.check_date(self.date)
        done = super().complete()
        if not done:
            _preload()
            outcomes.asked(self, False)
        return done

    def outcome_name(self) -> str:
        """How the run's outcome block names this task's line."""
        return f"{'/'.join(getattr(self, name) for name in self.partition_by)} {self.date}"

    def output(self) -> ArtifactDir:
        # where it is, worked out once per task object as config_key is (Luigi and the tasks
        # downstream ask often); a new target each time, which reads the manifest as it is now
        if "_output_at" not in self.__dict__:
            partition = [getattr(self, name) for name in self.partition_by]
            self._output_at = settings.store(), join(self.stage, *partition, str(self.date), self.config_key())
        store, key = self._output_at
        return ArtifactDir(store, key, remedy=self.remedy())

    def remedy(self) -> str:
        """How to rebuild this output when it is damaged: set it aside, and the next run redoes it."""
        names = " ".join(f"--{name} {getattr(self, name)}" for name in self.partition_by)
        return (f"rebuild it: python -m pipeline invalidate {self.task_family} {names} --date {self.date}, "
                "then run again")

    @classmethod
    def committed(cls, **partition: str | None) -> list[ArtifactDir]:
        """Every committed output of this task family, or those of one dataset (and model)."""
        for name, value in partition.items():
            if value is not None:
                settings.check_name(name, value)
        store = settings.store()
        depth = len(cls.partition_by) + 2  # the partition folders, the date, the config key
        found = []
        for key in store.keys(cls.stage):
            parts = key.split("/")[1:]
            if len(parts) == depth + 1 and parts[-1] == MANIFEST and all(
                    partition.get(name) in (None, value) for name, value in zip(cls.partition_by, parts)):
                found.append(ArtifactDir(store, key.rsplit("/", 1)[0]))
        return found

    @contextlib.contextmanager
    def progress(self, what: str, start: int = 10, end: int = 90):
        """While the block runs, say `what` and how long it has taken: every few seconds as the task's
        status message (and progress between `start` and `end` %, as the block reports it), and
        without luigid as a log line every [pipeline] progress_every seconds. Yields
        report(done_text, fraction) for work that counts its steps (folds, grid points)."""
        from luigi.interface import core

        from pipeline.formats import ago

        every, local = settings.pipeline().progress_every, core().local_scheduler
        started, stop, state = time.monotonic(), threading.Event(), {"done": "", "fraction": 0.0}
        self.set_status_message(what)
        self.set_progress_percentage(start)

        def beat():
            last_line = started
            while not stop.wait(min(5.0, every)):
                done = f", {state['done']}" if state["done"] else ""
                said = f"{what} ({ago(time.monotonic() - started)} elapsed{done})"
                self.set_status_message(said)
                self.set_progress_percentage(int(start + (end - start) * state["fraction"]))
                if local and time.monotonic() - last_line >= every:
                    logger.info("%s: %s", self, said)
                    last_line = time.monotonic()

        def report(done: str, fraction: float) -> None:
            state.update(done=done, fraction=fraction)

        thread = threading.Thread(target=beat, daemon=True, name=f"progress of {self.task_id}")
        thread.start()
        try:
            yield report
        finally:
            stop.set()
            thread.join()
            self.set_progress_percentage(end)

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


def _with_retries(run):
    """run() with its own log file (pipeline/tasklogs.py, linked from luigid) and in-run retries of
    transient failures (pipeline/retry.py)."""
    @functools.wraps(run)
    def run_with_retries(self):
        from pipeline import tasklogs
        from pipeline.retry import call_with_retries

        config = settings.pipeline()
        with tasklogs.attempt_log(self) as log:
            self.attempt_log = tasklogs.relative(log)  # recorded with the task's duration
            self.track(self.attempt_log)
            call_with_retries(lambda: run(self), str(self), attempts=config.transient_attempts,
                              backoff=config.transient_backoff)
        if self.tracked_output():
            self.track(self.tracked_output())
    return run_with_retries


def _preload() -> None:
    """Import what running a task needs, once something is known to need running.

    Luigi asks complete() in the worker process before it forks a process per task (--workers N):
    importing here lets every forked task share the imports instead of paying for them again. A
    run that finds everything complete never gets here, so it stays fast.

    The first time, the objects made so far (the imported modules, mostly) are then frozen out of
    the cyclic garbage collector, as Python's gc docs advise before a fork: a forked task's
    collections do not write to the pages it shares with its parent, and neither the run's
    collections nor the interpreter's exit walk them again (that walk was 0.2 s of every run).
    Once only: what a long-lived worker makes later stays collectable.
    """
    import gc

    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    if not gc.get_freeze_count():
        gc.freeze()


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


def read_frame(path, columns: list[str] | None = None):
    """A committed Parquet file as a frame (`columns`: only these, and the index), converted
    column by column: the peak is about one copy of the data, not the Arrow table beside the frame.
    Read as the one file it is (pq.read_pandas goes through pyarrow.dataset: its import and a
    millisecond a read)."""
    import pyarrow.parquet as pq

    from pipeline.sources import release_memory

    with pq.ParquetFile(path) as parquet:
        table = parquet.read(columns=columns, use_pandas_metadata=True)
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    release_memory()
    return frame

