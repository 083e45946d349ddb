"""What the tasks about one model share: its specs, its registry, and the rows it is fitted and scored on."""
from __future__ import annotations

from pipeline import settings
from pipeline.registry import Registry
from pipeline.tasks.base import NameParameter, PipelineTask, read_frame
from pipeline.tasks.split import SplitData


class ModelTask(PipelineTask):
    model = NameParameter("model", default=settings.DEFAULT_MODEL, description="a [models.NAME] entry")

    partition_by = ("dataset", "model")

    def model_spec(self) -> dict:
        """The model's entry in pipeline.toml."""
        return settings.model_spec(self.model)

    def registry(self) -> Registry:
        return Registry.for_model(self.dataset, self.model, task_id=self.task_id)

    def split(self) -> SplitData:
        return SplitData(dataset=self.dataset, date=self.date)

    def rows(self, part: str):
        """The rows this model is fitted ("train") or scored ("test") on; fit_on = "all" uses every row.

        Every row, in source order: k-means++ seeding depends on row order, and the digits demo
        this reproduces fits the rows as load_digits returns them.
        """
        import pandas as pd

        split = self.split().output()
        if self.model_spec()["fit_on"] == "all":
            return pd.concat([read_frame(split / SplitData.file(p)) for p in SplitData.PARTS]).sort_index()
        return read_frame(split / SplitData.file(part))

    def score(self, model, rows, kind: str):
        """(metrics, predictions) of `model` on split rows (features and target)."""
        from pipeline.ml.data import xy
        from pipeline.ml.metrics import evaluate

        return evaluate(model, *xy(rows, self.data_spec()["target"]), kind)
