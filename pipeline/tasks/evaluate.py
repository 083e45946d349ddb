from pipeline.artifacts import write_json
from pipeline.registry import load_trained
from pipeline.settings import dataset_spec, model_spec
from pipeline.tasks.base import ModelTask, read_rows
from pipeline.tasks.split import SplitData
from pipeline.tasks.train import TrainModel


def score_rows(model, rows, *, dataset: str, kind: str):
    """Metrics and predictions of `model` on split rows (features and target)."""
    from pipeline.ml.data import xy
    from pipeline.ml.metrics import evaluate

    X, y = xy(rows, dataset_spec(dataset)["target"])
    return evaluate(model, X, y, kind)


class EvaluateModel(ModelTask):
    """trained model + test split -> evaluations/.../metrics.json, predictions.parquet."""

    stage = "evaluations"

    def requires(self):
        return {"model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": SplitData(dataset=self.dataset, date=self.date)}

    def run(self):
        model, card = load_trained(self.input()["model"])
        rows = read_rows(self.input()["split"], fit_on=model_spec(self.model)["fit_on"], part="test")
        self.set_status_message(f"scoring {len(rows)} held-out rows")
        metrics, predictions = score_rows(model, rows, dataset=self.dataset, kind=card["kind"])
        self.set_progress_percentage(80)
        with self.commit() as tmp:
            write_json(tmp / "metrics.json", metrics)
            predictions.rename_axis("row").reset_index().to_parquet(tmp / "predictions.parquet", index=False)
