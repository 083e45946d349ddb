from pipeline.artifacts import read_json, write_json
from pipeline.registry import load_model
from pipeline.settings import dataset_spec, model_spec
from pipeline.tasks.base import ModelTask, read_rows
from pipeline.tasks.split import SplitData
from pipeline.tasks.train import TrainModel


def score_on_split(model, split, *, dataset: str, fit_on: str, kind: str):
    """Metrics and predictions of `model` on the held-out rows (every row when fit_on="all")."""
    from pipeline.ml.data import xy
    from pipeline.ml.metrics import evaluate

    X, y = xy(read_rows(split, fit_on=fit_on, part="test"), dataset_spec(dataset)["target"])
    return evaluate(model, X, y, kind)


class EvaluateModel(ModelTask):
    """trained model + test split -> evaluations/.../metrics.json, predictions.parquet."""

    stage = "evaluations"

    def requires(self):
        return {"model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": SplitData(dataset=self.dataset, date=self.date)}

    def run(self):
        card = read_json(self.input()["model"] / "card.json")
        model = load_model(self.input()["model"] / "model.joblib", card["model_sha256"])
        metrics, predictions = score_on_split(model, self.input()["split"], dataset=self.dataset,
                                              fit_on=model_spec(self.model)["fit_on"], kind=card["kind"])
        with self.commit() as tmp:
            write_json(tmp / "metrics.json", metrics)
            predictions.rename_axis("row").reset_index().to_parquet(tmp / "predictions.parquet", index=False)
