"""Prometheus metrics on luigid's own /metrics (pip install -e '.[prometheus]').

`ml-pipeline scheduler start|run` sets luigid's `[scheduler] metrics_collector` to this class
when prometheus_client is installed (and luigi.cfg does not choose a collector itself). It is
Luigi's PrometheusMetricsCollector (luigi_task_started_total, luigi_task_failed_total,
luigi_task_done_total, luigi_task_execution_time_seconds, by task family) plus the pipeline's
own gauges, read from data_dir at each scrape, per dataset and model:

    ml_pipeline_production_age_seconds{dataset,model,version}   since the version went live
    ml_pipeline_production_model_age_seconds{dataset,model,version}   since it was trained
    ml_pipeline_last_run_success{dataset,model}      1 when the last run luigid saw ended in its
                                                     RunReport, 0 when one of its tasks failed
    ml_pipeline_last_run_timestamp_seconds{dataset,model}   when that was
    ml_pipeline_last_run_duration_seconds{dataset,model}    the last run report's wall time
    ml_pipeline_drift_max_psi{dataset,model,source}  the largest PSI of the latest batch scored
                                                     (source="batch") and training day ("training")
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from luigi.contrib.prometheus_metric import PrometheusMetricsCollector

logger = logging.getLogger("pipeline")
SUCCEEDS = ("RunReport", "BatchPredict")  # the task a run ends with


class PipelineMetricsCollector(PrometheusMetricsCollector):
    """luigid's metrics (Luigi's) and the pipeline's gauges on one /metrics."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs: dict[tuple[str, str], tuple[bool, float]] = {}  # (dataset, model) -> (succeeded, when)
        self.registry.register(_Gauges(self))

    def handle_task_done(self, task):
        super().handle_task_done(task)
        if task.family in SUCCEEDS:
            self._note(task, True)

    def handle_task_failed(self, task):
        super().handle_task_failed(task)
        self._note(task, False)

    def _note(self, task, succeeded: bool) -> None:
        from pipeline import settings

        dataset = task.params.get("dataset")
        if not dataset:
            return
        try:
            model = task.params.get("model") or settings.default_model(dataset)
        except Exception:  # noqa: BLE001 - a dataset the config no longer names
            return
        self.runs[(dataset, model)] = (succeeded, time.time())


def _age(stamp: str | None) -> float | None:
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp)).total_seconds() if stamp else None


class _Gauges:
    """Read at each scrape: nothing to keep in step with the data dir."""

    def __init__(self, owner: PipelineMetricsCollector):
        self.owner = owner

    def describe(self):
        return []  # not collected when registered: data_dir may not be readable yet

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        gauges = {
            "production_age_seconds": ("seconds since the production version went live", ["version"]),
            "production_model_age_seconds": ("seconds since the production model was trained", ["version"]),
            "last_run_success": ("1 when the last run luigid saw ended in its report, 0 when a task failed", []),
            "last_run_timestamp_seconds": ("when the last run luigid saw ended", []),
            "last_run_duration_seconds": ("wall time of the last run report's run", []),
            "drift_max_psi": ("largest PSI of the latest scored batch or training day against production", ["source"]),
        }
        families = {name: GaugeMetricFamily(f"ml_pipeline_{name}", text, labels=["dataset", "model", *extra])
                    for name, (text, extra) in gauges.items()}
        try:
            self.fill(families)
        except Exception as exc:  # noqa: BLE001 - a scrape must never break luigid
            logger.warning("pipeline metrics not collected: %s", exc)
        yield from families.values()

    def fill(self, families: dict) -> None:
        from pipeline.registry import Registry

        registries = {(r.dataset, r.model): r for r in Registry.all()}
        for dataset, model in self.owner.runs.keys() - registries.keys():  # runs that never registered a model
            succeeded = self.owner.runs[(dataset, model)]
            families["last_run_success"].add_metric([dataset, model], 1.0 if succeeded[0] else 0.0)
            families["last_run_timestamp_seconds"].add_metric([dataset, model], succeeded[1])
        for registry in registries.values():
            try:
                self.fill_registry(registry, families)
            except Exception as exc:  # noqa: BLE001 - one damaged registry must not hide the others
                logger.warning("pipeline metrics of %s not collected: %s", registry, exc)

    def fill_registry(self, registry, families: dict) -> None:
        key = [registry.dataset, registry.model]
        succeeded = self.owner.runs.get((registry.dataset, registry.model))
        if succeeded:  # first: luigid's own news stands even when the registry is damaged
            families["last_run_success"].add_metric(key, 1.0 if succeeded[0] else 0.0)
            families["last_run_timestamp_seconds"].add_metric(key, succeeded[1])
        pointer = registry.production()
        if pointer and pointer.get("version"):
            version = pointer["version"]
            families["production_age_seconds"].add_metric([*key, version], _age(pointer.get("since")) or 0.0)
            families["production_model_age_seconds"].add_metric(
                [*key, version], _age(registry.card(version).get("trained_at")) or 0.0)
        self.fill_from_outputs(registry.dataset, registry.model, key, families)

    @staticmethod
    def fill_from_outputs(dataset: str, model: str, key: list[str], families: dict) -> None:
        from pipeline.tasks.predict import BatchPredict
        from pipeline.tasks.report import RunReport

        reports = sorted(RunReport.committed(dataset=dataset, model=model), key=lambda r: r.manifest()["created"])
        if reports:
            run = reports[-1].read_json(RunReport.RUN)
            if isinstance(run.get("wall_seconds"), (int, float)):
                families["last_run_duration_seconds"].add_metric(key, run["wall_seconds"])
            drift = (run.get("validation") or {}).get("drift") or {}
            if isinstance(drift.get("max_psi"), (int, float)):
                families["drift_max_psi"].add_metric([*key, "training"], drift["max_psi"])
        batches = sorted((out for out in BatchPredict.committed(dataset=dataset, model=model)
                          if out.listed(BatchPredict.DRIFT)), key=lambda out: out.manifest()["created"])
        if batches:
            drift = batches[-1].read_json(BatchPredict.DRIFT)
            if isinstance(drift.get("max_psi"), (int, float)):
                families["drift_max_psi"].add_metric([*key, "batch"], drift["max_psi"])
