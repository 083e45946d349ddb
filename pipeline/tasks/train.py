import logging
import shutil
import time

import luigi

from pipeline import settings
from pipeline.errors import ConfigError
from pipeline.formats import now, read_json, write_json
from pipeline.ml.search import grid_points, search_summary, with_point
from pipeline.registry import CARD_FILE, MODEL_FILE, TRAIN_ROWS_FILE
from pipeline.sources import release_memory
from pipeline.tasks.model import ModelTask

logger = logging.getLogger("pipeline")


class TrainingTask(ModelTask):
    """What the tasks that fit a model share: a slot of the `training` resource ([resources] in
    luigi.cfg caps how many fits run at once), the training rows, and reuse of an earlier
    date's result on the same content."""

    resources = {"training": 1}

    def complete(self) -> bool:
        done = super().complete()
        if not done:  # check the specs, and import the estimators' modules before Luigi forks (base._preload)
            from pipeline.ml.errors import ModelSpecError
            from pipeline.ml.models import check_spec, problem_kind

            problem = self.data_spec()["problem"]
            for name, spec in self.candidates().items():
                try:
                    check_spec(spec)
                    if len(self.candidates()) > 1 and problem_kind(spec, problem) == "clustering":
                        raise ModelSpecError(f"'{spec['estimator']}' is a clusterer; the candidates of a "
                                             f"{problem} dataset's models are compared by cross-validation")
                    problem_kind(spec, problem)
                except ModelSpecError as exc:
                    raise ConfigError(f"{settings.pipeline().config}: models.{name}.{exc.key}: {exc}") from None
        return done

    def candidates(self) -> dict[str, dict]:
        """The model specs this task may fit: its own, or each candidate of a dataset's "best"."""
        spec = self.model_spec()
        return spec["select"] if "select" in spec else {self.model: spec}

    def metric(self) -> str:
        """The metric a search or selection is decided on (pipeline/ml/search.py), without the data."""
        from pipeline.ml.gate import primary_metric

        compare = getattr(self, "compare", None) or settings.gate_spec(self.dataset, self.model).get("compare")
        return compare or primary_metric({"kind": self.data_spec()["problem"]})

    def shaping(self) -> dict:
        """What of the dataset shapes a fit besides the data: the column roles and encodings (only
        when configured, so a dataset without them keeps the output keys it always had)."""
        data = self.data_spec()
        return {key: data[key] for key in ("roles", "encoding") if key in data}

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
        return (problem_kind(spec, data["problem"]), rows, *xy(rows, data["target"], data.get("roles")))


class CrossValidate(TrainingTask):
    """One point of a model's search grid -> search/.../cv.json: its k-fold score on the train split."""

    stage = "search"
    CV = "cv.json"
    point = luigi.DictParameter(description="the grid point's params")
    compare = luigi.Parameter(default="", description="the metric points are compared on: the gate's compare of "
                                                      "the model they are searched for (default: by problem kind)")

    def requires(self):
        return self.split()

    def spec(self):
        return {"model": self.model_spec(), "point": dict(self.point), "metric": self.metric(), **self.shaping()}

    def run(self):
        earlier = self.earlier_output()
        result = self.cross_validate() if earlier is None else \
            {**read_json(earlier / self.CV), "reused_from": earlier.url}
        with self.commit() as tmp:
            write_json(tmp / self.CV, {**result, "model": self.model})
        self.remember_output()

    def cross_validate(self) -> dict:
        from pipeline.ml.search import cross_validate

        spec = with_point(self.model_spec(), dict(self.point))
        folds = spec.get("cv_folds", settings.DEFAULT_CV_FOLDS)
        kind, _, X, y = self.training_data(spec)
        with self.progress(f"{folds}-fold cross-validation of {self.model} {dict(self.point)} on {len(X)} rows") \
                as report:
            cv = cross_validate(spec, X, y, kind, folds=folds, compare=self.compare or None,
                                on_fold=lambda done: report(f"{done} of {folds} folds done", done / folds),
                                **self.columns())
        return {"point": dict(self.point), "cv": cv}


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
        return {"split": self.split(),
                "search": [CrossValidate(dataset=self.dataset, model=name, date=self.date, point=point,
                                         compare=settings.gate_spec(self.dataset, self.model).get("compare", ""))
                           for name, point in self.search_points()]}

    def search_points(self) -> list[tuple[str, dict]]:
        """(model, grid point) of each cross-validation to run first: a grid's points, or for "best"
        every candidate's (its grid's points, or its params as they are)."""
        spec = self.model_spec()
        if "select" not in spec:
            return [(self.model, point) for point in grid_points(spec["grid"])] if spec.get("grid") else []
        return [(name, point) for name, candidate in spec["select"].items()
                for point in (grid_points(candidate["grid"]) if candidate.get("grid") else [{}])]

    def key_requires(self):
        return self.split()

    def spec(self):
        search = {"search_metric": self.metric()} if self.search_points() else {}
        return {"model": self.model_spec(), **search, **self.shaping()}

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
        from pipeline.ml.drift import profile
        from pipeline.ml.features import describe_plan
        from pipeline.ml.models import fit_estimator, fit_preprocessing
        from pipeline.provenance import provenance
        from pipeline.storage import sha256_file

        spec, search = self.model_spec(), None
        if self.input()["search"]:
            search = search_summary([point.read_json(CrossValidate.CV) for point in self.input()["search"]])
            spec = with_point(self.candidates()[search["best_model"]], search["best"])
        kind, rows, X, y = self.training_data(spec)
        n_train, y = len(X), None if kind == "clustering" or y is None else y.copy()  # not a view of the rows
        with self.progress(f"fitting {spec['estimator']} on {n_train} rows"):
            started = time.time()
            model, plan, features = fit_preprocessing(spec, X, y, kind, **self.columns())
            seconds = time.time() - started
            hashes, rows_profile = row_hashes(rows), profile(X, {name: e["kind"] for name, e in plan.items()})
            del rows, X  # the estimator fits on the features alone: the rows' memory goes back
            release_memory()
            started = time.time()
            model = fit_estimator(model, features, y, spec)
            seconds += time.time() - started
        logger.info("%s/%s: fitted %s; features: %s", self.dataset, self.model, spec["estimator"], describe_plan(plan))
        self.set_status_message(f"fitted in {seconds:.1f}s; writing the model and its card")
        joblib.dump(model, tmp / self.MODEL)
        np.save(tmp / self.TRAIN_ROWS, hashes)
        write_json(tmp / self.CARD, model_card(
            identity=self.identity(), dataset=self.dataset, model=self.model, kind=kind, data_spec=self.data_spec(),
            snapshot=self.split().snapshot(), spec=spec, plan=plan, n_train=n_train,
            model_sha256=sha256_file(tmp / self.MODEL),
            search=search, provenance=provenance(), trained_at=now(), seconds=seconds, profile=rows_profile))

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
