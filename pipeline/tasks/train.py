import shutil
import time

import luigi

from pipeline import settings
from pipeline.errors import ConfigError
from pipeline.formats import now, read_json, write_json
from pipeline.ml.search import grid_points, search_summary, with_point
from pipeline.registry import CARD_FILE, MODEL_FILE, TRAIN_ROWS_FILE
from pipeline.tasks.model import ModelTask


class TrainingTask(ModelTask):
    """What the tasks that fit a model share: a slot of the `training` resource ([resources] in
    luigi.cfg caps how many fits run at once), the training rows, and reuse of an earlier
    date's result on the same content."""

    resources = {"training": 1}

    def complete(self) -> bool:
        done = super().complete()
        if not done:  # check the estimator, and import its module before Luigi forks (see base._preload)
            from pipeline.ml.errors import ModelSpecError
            from pipeline.ml.models import estimator_class

            try:
                estimator_class(self.model_spec()["estimator"])
            except ModelSpecError as exc:
                raise ConfigError(f"{settings.pipeline().config}: models.{self.model}.estimator: {exc}") from None
        return done

    def content(self) -> dict:
        from pipeline.provenance import package_versions

        data = self.data_spec()
        return {"fingerprint": self.split().snapshot()["fingerprint"], "target": data.get("target"),
                "problem": data["problem"], "split": data["split"], "spec": self.spec(), "packages": package_versions()}

    def training_data(self, spec: dict):
        """(kind, rows, X, y) of the rows a model with this spec is fitted on."""
        from pipeline.ml.data import xy
        from pipeline.ml.models import problem_kind

        data = self.data_spec()
        rows = self.rows("train")
        return (problem_kind(spec, data["problem"]), rows, *xy(rows, data["target"]))


class CrossValidate(TrainingTask):
    """One point of a model's search grid -> search/.../cv.json: its k-fold score on the train split."""

    stage = "search"
    CV = "cv.json"
    point = luigi.DictParameter(description="the grid point's params")

    def requires(self):
        return self.split()

    def spec(self):
        return {"model": self.model_spec(), "point": dict(self.point)}

    def run(self):
        earlier = self.earlier_output()
        result = self.cross_validate() if earlier is None else \
            {**read_json(earlier / self.CV), "reused_from": earlier.url}
        with self.commit() as tmp:
            write_json(tmp / self.CV, result)
        self.remember_output()

    def cross_validate(self) -> dict:
        from pipeline.ml.search import cross_validate

        spec = with_point(self.model_spec(), dict(self.point))
        kind, _, X, y = self.training_data(spec)
        self.set_status_message(f"{spec['cv_folds']}-fold cross-validation of {dict(self.point)} on {len(X)} rows")
        return {"point": dict(self.point), "cv": cross_validate(spec, X, y, kind, folds=spec["cv_folds"],
                                                                seed=self.data_spec()["split"]["seed"])}


class TrainModel(TrainingTask):
    """train split -> models/.../model.joblib (preprocessing + estimator), card.json, train_rows.npy.

    With a search grid, one CrossValidate per grid point runs first (in parallel with
    --workers N) and the point with the best cross-validation score is fitted here. The card
    (pipeline/ml/card.py) says what the model was made from; when an earlier date had exactly
    the same content, that model is taken instead of fitting again, and the card says so.
    """

    stage = "models"
    MODEL, CARD, TRAIN_ROWS = MODEL_FILE, CARD_FILE, TRAIN_ROWS_FILE  # a registry version holds these files

    def requires(self):
        grid = self.model_spec().get("grid")
        return {"split": self.split(),
                "search": [CrossValidate(dataset=self.dataset, model=self.model, date=self.date, point=point)
                           for point in grid_points(grid)] if grid else []}

    def key_requires(self):
        return self.split()

    def spec(self):
        return {"model": self.model_spec()}

    def run(self):
        earlier = self.earlier_output()
        with self.commit() as tmp:
            if earlier is None:
                self.fit(tmp)
            else:
                self.reuse(earlier, tmp)
        self.remember_output()

    def fit(self, tmp):
        import joblib
        import numpy as np

        from pipeline.ml.card import model_card
        from pipeline.ml.data import row_hashes
        from pipeline.ml.models import fit_model
        from pipeline.provenance import provenance
        from pipeline.storage import sha256_file

        spec, search = self.model_spec(), None
        if spec.get("grid"):
            search = search_summary([point.read_json(CrossValidate.CV) for point in self.input()["search"]],
                                    spec["cv_folds"])
            spec = with_point(spec, search["best"])
        kind, rows, X, y = self.training_data(spec)
        self.set_status_message(f"fitting {spec['estimator']} on {len(X)} rows")
        self.set_progress_percentage(10)
        started = time.time()
        model = fit_model(spec, X, y, kind)
        seconds = time.time() - started
        self.set_status_message(f"fitted in {seconds:.1f}s; writing the model and its card")
        self.set_progress_percentage(90)
        joblib.dump(model, tmp / self.MODEL)
        np.save(tmp / self.TRAIN_ROWS, row_hashes(rows))
        write_json(tmp / self.CARD, model_card(
            identity=self.identity(), dataset=self.dataset, model=self.model, kind=kind, data_spec=self.data_spec(),
            snapshot=self.split().snapshot(), spec=spec, X=X, model_sha256=sha256_file(tmp / self.MODEL),
            search=search, provenance=provenance(), trained_at=now(), seconds=seconds))

    def reuse(self, earlier, tmp):
        """Take an earlier date's model trained on the same content, after checking its bytes."""
        from pipeline.ml.card import reused_card

        card = read_json(earlier / self.CARD)
        self.set_status_message(f"same data, spec and packages as {card['candidate_id']}: reusing its model")
        for name in (self.MODEL, self.TRAIN_ROWS):
            shutil.copyfile(earlier / name, tmp / name)
        write_json(tmp / self.CARD, reused_card(card, self.identity(), earlier.url))

    def identity(self) -> dict:
        return {"candidate_id": f"{self.dataset}/{self.model}/{self.date}/{self.config_key()}", "date": str(self.date),
                "task": {"id": self.task_id, "params": self.to_str_params(), "config_key": self.config_key()}}
