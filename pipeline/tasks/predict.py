"""Batch scoring: the day's incoming file, scored by whichever model is in production."""
import luigi

from pipeline import settings
from pipeline.formats import write_json
from pipeline.registry import Registry
from pipeline.tasks.arrival import ArrivingFile
from pipeline.tasks.base import NameParameter
from pipeline.tasks.model import DatasetModel, ModelParameter, ModelTask


class IncomingData(ArrivingFile):
    """The day's file to score, put in place by something outside the pipeline ([pipeline] incoming)."""

    dataset = NameParameter("dataset", default=settings.DEFAULT_DATASET)
    date = luigi.DateParameter()
    marker_setting = "[pipeline] incoming_marker"

    def location(self) -> str:
        return settings.incoming_location(self.dataset, self.date)

    def marker_pattern(self) -> str:
        return settings.pipeline().incoming_marker

    def absent(self) -> str:
        return f"{self.location()} has not arrived; BatchPredict scores it on the first run after it lands"


class ProductionPointer(luigi.Target):
    """Exists once a registry has a model in production."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def exists(self) -> bool:
        return self.registry.production_version() is not None


class ProductionModel(DatasetModel, luigi.ExternalTask):
    """The live model of a registry, made by TrainValidateDeploy."""

    dataset = NameParameter("dataset", default=settings.DEFAULT_DATASET)
    model = ModelParameter()

    def output(self):
        return ProductionPointer(Registry.for_model(self.dataset, self.model))

    def missing_message(self) -> str:
        return f"no model in production for {self.dataset}/{self.model}; run TrainValidateDeploy first"


class BatchPredict(ModelTask):
    """incoming/<dataset>/<date>.csv + the production model -> predictions/.../predictions.parquet (or .csv).

    Each row gets `prediction` (and class probabilities) plus `model_version`, the version that
    made it; the manifest records the version and the input's sha256. A day is scored once:
    a later promotion does not re-score it (invalidate the day to do that).
    """

    stage = "predictions"
    format = luigi.ChoiceParameter(choices=["parquet", "csv"], default="parquet", description="output file format")

    def requires(self):
        return {"input": IncomingData(dataset=self.dataset, date=self.date),
                "model": ProductionModel(dataset=self.dataset, model=self.model)}

    def key_requires(self):
        return []

    def spec(self):
        return {"format": self.format}

    DRIFT = "drift.json"

    @property
    def predictions_file(self) -> str:
        return f"predictions.{self.format}"

    def run_outcome(self) -> list[str] | None:
        """How many rows were scored, by which version, and where they went (the run's outcome block)."""
        if not self.output().exists():
            return None
        manifest = self.output().manifest()
        return [f"scored {manifest['rows']} rows with {manifest['model_version']} -> "
                f"{self.output().url}/{self.predictions_file}"]

    def run(self):
        from pipeline.monitoring import alert_on_drift
        from pipeline.scoring import score_with_production, write_frame

        self.set_status_message(f"scoring {self.input()['input'].path}")
        scored, info, drift = score_with_production(self.dataset, self.model, self.input()["input"].path)
        alert_on_drift(drift, what=self.input()["input"].path, dataset=self.dataset, model=self.model, date=self.date,
                       scoring=True)
        with self.commit(**info) as tmp:
            write_frame(scored, tmp / self.predictions_file)
            write_json(tmp / self.DRIFT, drift or {"note": "the production model has no training profile"})
