from pipeline.formats import write_json
from pipeline.registry import load_trained
from pipeline.tasks.base import read_frame
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel


class EvaluateModel(ModelTask):
    """trained model + test split -> evaluations/.../metrics.json, predictions.parquet.

    metrics.json holds the baseline's scores too: a model that ignores the features (class priors,
    or the training mean), fitted on the same training rows and scored on the same test rows.
    predictions.parquet carries the dataset's id columns beside each row's prediction.
    """

    stage = "evaluations"
    METRICS, PREDICTIONS = "metrics.json", "predictions.parquet"

    def requires(self):
        return {"model": TrainModel(dataset=self.dataset, model=self.model, date=self.date), "split": self.split()}

    def run(self):
        model, card = load_trained(self.input()["model"])
        rows = self.rows("test")
        self.set_status_message(f"scoring {len(rows)} held-out rows")
        metrics, predictions = self.score(model, rows, card["kind"])
        metrics["baseline"] = self.baseline(rows, card["kind"])
        predictions = rows[card.get("ids", [])].join(predictions)
        self.set_progress_percentage(80)
        with self.commit() as tmp:
            write_json(tmp / self.METRICS, metrics)
            predictions.rename_axis("row").reset_index().to_parquet(tmp / self.PREDICTIONS, index=False)

    def baseline(self, test_rows, kind: str) -> dict | None:
        from pipeline.ml.metrics import baseline_metrics

        target = self.data_spec()["target"]
        if not target or target not in test_rows.columns:
            return None
        return baseline_metrics(self.rows("train", columns=[target])[target], test_rows[target], kind)

    def predictions(self):
        """The committed predictions, indexed by the row's position in the source."""
        return read_frame(self.output() / self.PREDICTIONS).set_index("row")
