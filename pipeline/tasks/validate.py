import logging
import posixpath

from pipeline import settings
from pipeline.errors import PipelineError
from pipeline.formats import now, write_json
from pipeline.storage import is_s3
from pipeline.tasks.base import PipelineTask, read_frame
from pipeline.tasks.ingest import IngestData

logger = logging.getLogger("pipeline")


class ValidateData(PipelineTask):
    """raw snapshot -> validated/.../report.json, or a failure naming the dataset, column and rule.

    Always checked: not empty, target present, no duplicate column names, no all-null or
    infinite columns, at least two classes for classification. Declared in config: `checks`.
    """

    stage = "validated"
    REPORT = "report.json"
    FAILED = "_validation"  # reports/<dataset>/_validation/<date>/: the latest failed attempt's page (no model
    # name starts with "_")

    def requires(self):
        return IngestData(dataset=self.dataset, date=self.date)

    def spec(self):
        spec = self.data_spec()
        return {key: spec[key] for key in ("target", "problem", "checks", "roles", "encoding") if key in spec}

    def run(self):
        from pipeline.ml.data import describe_violations, validate_frame
        from pipeline.ml.errors import DataError

        frame = read_frame(self.input() / IngestData.DATA)
        report = {"dataset": self.dataset, **validate_frame(frame, **self.spec())}
        if not report["passed"]:
            self.write_failure_page(report)
            raise DataError(describe_violations(self.dataset, report["violations"]))
        self.watch(report, frame)
        with self.commit() as tmp:
            write_json(tmp / self.REPORT, report)

    def watch(self, report: dict, frame) -> None:
        """Say the validation's warnings, and add the day's drift from the production model's training
        rows (alerted beyond the dataset's `drift` limits; a training day is never refused for it)."""
        from pipeline.monitoring import alert_on_drift, drift_against
        from pipeline.registry import Registry

        for warning in report["warnings"]:
            logger.warning("dataset '%s': %s", self.dataset, warning)
        model = settings.default_model(self.dataset)
        registry = Registry.for_model(self.dataset, model)
        try:
            version = registry.production_version()
            card = registry.card(version) if version else None
        except PipelineError as exc:  # the gate says what is wrong with production; drift is only a watch
            logger.warning("dataset '%s': drift not measured: %s", self.dataset, exc)
            card = None
        report["drift"] = drift_against(card, frame) if card else None
        alert_on_drift(report["drift"], what=f"the {self.date} snapshot", dataset=self.dataset, model=model,
                       date=self.date, scoring=False)

    @classmethod
    def failures(cls, dataset: str | None = None) -> list[tuple[dict, str]]:
        """(page data, the page's key) of every dataset's, or one dataset's, latest failed validation per date."""
        store = settings.store()
        found = []
        for key in store.keys(posixpath.join("reports", dataset) if dataset else "reports"):
            parts = key.split("/")  # reports, dataset, _validation, date, file
            if len(parts) == 5 and parts[2] == cls.FAILED and parts[4] == "validation.json":
                found.append((store.read_json(key), key.replace("validation.json", "report.html")))
        return found

    def failure_key(self) -> str:
        return posixpath.join("reports", self.dataset, self.FAILED, str(self.date))

    def write_failure_page(self, report: dict) -> None:
        """The violations as a page of their own (and its data as validation.json, for `ml-pipeline
        report`), linked from luigid; a page that cannot be written must not hide the violations."""
        from pipeline.report import data_facts, render_validation_html

        store, key = settings.store(), self.failure_key()
        log = None if is_s3(settings.pipeline().data_dir) else getattr(self, "attempt_log", None)  # s3: on the host
        page = {"dataset": self.dataset, "date": str(self.date), "generated_at": now(),
                "kind": self.data_spec()["problem"], "data": data_facts(self.input().manifest()), "validation": report,
                "log": posixpath.relpath(log, key) if log else None}
        try:
            store.write_json(f"{key}/validation.json", page)
            store.write_bytes(f"{key}/report.html", render_validation_html(page).encode())
        except Exception as exc:  # noqa: BLE001 - the DataError that follows is what the run must say
            logger.warning("could not write the validation report of %s: %s", self, exc)
            return
        self.track(f"{key}/report.html")
        logger.error("dataset '%s': validation failed; report: %s", self.dataset, store.url(f"{key}/report.html"))
