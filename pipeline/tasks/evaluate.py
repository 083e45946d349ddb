from pipeline.formats import write_json
from pipeline.registry import load_trained
from pipeline.tasks.base import read_frame
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel


class EvaluateModel(ModelTask):
    """trained model + test split -> evaluations/.../metrics.json, predictions.parquet."""

    stage = "evaluations"
    METRICS, PREDICTIONS = "metrics.json", "predictions.parquet"

    def requires(self):
        return {"model": TrainModel(dataset=self.dataset, model=self.model, date=self.date), "split": self.split()}

    def run(self):
        model, card = load_trained(self.input()["model"])
        rows = self.rows("test")
        self.set_status_message(f"scoring {len(rows)} held-out rows")
        metrics, predictions = self.score(model, rows, card["kind"])
        self.set_progress_percentage(80)
        with self.commit() as tmp:
            write_json(tmp / self.METRICS, metrics)
            predictions.rename_axis("row").reset_index().to_parquet(tmp / self.PREDICTIONS, index=False)

    def predictions(self):
        """The committed predictions, indexed by the row's position in the source."""
        return read_frame(self.output() / self.PREDICTIONS).set_index("row")
