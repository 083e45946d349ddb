"""What the tasks about one model share: its specs, its registry, and the rows it is fitted and scored on."""
from __future__ import annotations

from pipeline import settings
from pipeline.errors import ConfigError
from pipeline.registry import Registry
from pipeline.tasks.base import NameParameter, PipelineTask, read_frame
from pipeline.tasks.split import SplitData


class ModelParameter(NameParameter):
    """A [models.NAME] entry, or "best" (the best of the dataset's `models`). Empty: the dataset's
    deployment (settings.default_model), filled in by DatasetModel before the task is made."""

    def __init__(self, **kwargs):
        super().__init__("model", default="", **kwargs)

    def normalize(self, x):
        return "" if x in ("", None) else super().normalize(x)


class DatasetModel:
    """Tasks with a `dataset` and a ModelParameter `model`: without --model, the dataset's deployment."""

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        values = super().get_param_values(params, args, kwargs)
        given = dict(values)
        if given.get("model") != "":
            return values
        try:
            model = settings.default_model(given["dataset"])
        except ConfigError:  # reported as a scheduling failure (exit 35) once the task is asked if it is complete
            model = settings.DEFAULT_MODEL
        return [(name, model if name == "model" else value) for name, value in values]


class ModelTask(DatasetModel, PipelineTask):
    model = ModelParameter(description="a [models.NAME] entry, or best: the best of the dataset's models "
                                       "(default: the dataset's deployment)")

    partition_by = ("dataset", "model")

    def model_spec(self) -> dict:
        """The model's entry in pipeline.toml (for "best", every candidate's)."""
        if self.model == settings.SELECTED:
            return settings.selection_spec(self.dataset)
        return settings.model_spec(self.model)

    def columns(self) -> dict:
        """How the dataset's columns are read, for the ML layer: roles, encoding overrides, seed."""
        data = self.data_spec()
        return {"roles": data.get("roles"), "encoding": data.get("encoding"), "seed": data["split"]["seed"]}

    def registry(self) -> Registry:
        return Registry.for_model(self.dataset, self.model, task_id=self.task_id)

    def split(self) -> SplitData:
        return SplitData(dataset=self.dataset, date=self.date)

    def rows(self, part: str, columns: list[str] | None = None):
        """The rows this model is fitted ("train") or scored ("test") on; fit_on = "all" uses every row.
        `columns`: only these (and the index), when that is all the caller needs.

        Every row, in source order: k-means++ seeding depends on row order, and the digits demo
        this reproduces fits the rows as load_digits returns them.
        """
        import pandas as pd

        split = self.split().output()
        if self.model_spec()["fit_on"] == "all":
            parts = [read_frame(split / SplitData.file(p), columns) for p in SplitData.PARTS]
            return pd.concat(parts).sort_index()
        return read_frame(split / SplitData.file(part), columns)

    def score(self, model, rows, kind: str):
        """(metrics, predictions) of `model` on split rows (features and target)."""
        from pipeline.ml.data import xy
        from pipeline.ml.metrics import evaluate

        return evaluate(model, *xy(rows, self.data_spec()["target"], self.data_spec().get("roles")), kind)
