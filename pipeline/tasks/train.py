import shutil
import time

import luigi

from pipeline.artifacts import read_json, sha256_file, write_json
from pipeline.ml.search import grid_points, with_point
from pipeline.settings import dataset_spec, model_spec
from pipeline.tasks.base import ModelTask, read_rows
from pipeline.tasks.split import SplitData

MODEL_FILES = ("model.joblib", "train_rows.npy")


class Fitting(ModelTask):
    """What training tasks share: a slot of the `training` resource ([resources] in luigi.cfg caps
    how many fits run at once), and reuse of an earlier date's result on the same content."""

    resources = {"training": 1}

    def complete(self) -> bool:
        done = super().complete()
        if not done:  # import the estimator's module too before Luigi forks (see base._preload)
            from pipeline.ml.models import estimator_class

            estimator_class(model_spec(self.model)["estimator"])
        return done

    def split(self) -> SplitData:
        return SplitData(dataset=self.dataset, date=self.date)

    def snapshot(self) -> dict:
        """The ingested snapshot's manifest: source, fingerprint, rows."""
        return self.split().requires()["data"].output().manifest()

    def content(self) -> dict:
        from pipeline.provenance import package_versions

        data, snapshot = dataset_spec(self.dataset), self.snapshot()
        return {"fingerprint": snapshot["fingerprint"], "target": data.get("target"), "problem": data["problem"],
                "split": data["split"], "spec": self.spec(), "packages": package_versions()}

    def training_rows(self, spec: dict):
        """(kind, rows, X, y) of the rows this model is fitted on."""
        from pipeline.ml.data import xy
        from pipeline.ml.models import problem_kind

        data = dataset_spec(self.dataset)
        kind = problem_kind(spec, data["problem"])
        rows = read_rows(self.split().output(), fit_on=spec["fit_on"], part="train")
        return (kind, rows, *xy(rows, data["target"]))


class CrossValidate(Fitting):
    """One point of a model's search grid -> search/.../cv.json: its k-fold score on the train split."""

    stage = "search"
    point = luigi.DictParameter(description="the grid point's params")

    def requires(self):
        return self.split()

    def spec(self):
        return {"model": model_spec(self.model), "point": dict(self.point)}

    def run(self):
        from pipeline.ml.search import cross_validate

        earlier = self.earlier_output()
        if earlier is None:
            spec = with_point(model_spec(self.model), dict(self.point))
            kind, _, X, y = self.training_rows(spec)
            self.set_status_message(f"{spec['cv_folds']}-fold cross-validation of {dict(self.point)} on {len(X)} rows")
            result = {"point": dict(self.point), "cv": cross_validate(spec, X, y, kind, folds=spec["cv_folds"],
                                                                    seed=dataset_spec(self.dataset)["split"]["seed"])}
        else:
            result = {**read_json(earlier.verified("cv.json")), "reused_from": earlier.url}
        with self.commit() as tmp:
            write_json(tmp / "cv.json", result)
        self.remember_output()


class TrainModel(Fitting):
    """train split -> models/.../model.joblib (preprocessing + estimator), card.json, train_rows.npy.

    With a search grid, one CrossValidate per grid point runs first (in parallel with
    --workers N) and the point with the best cross-validation score is fitted here. The card
    says what the model was made from: data fingerprint, split and model spec, the search,
    feature schema, package and code versions, the model file's sha256, and, when an earlier
    date had exactly the same content, which model was reused instead of fitting again.
    """

    stage = "models"

    def requires(self):
        grid = model_spec(self.model).get("grid")
        return {"split": self.split(),
                "search": [CrossValidate(dataset=self.dataset, model=self.model, date=self.date, point=point)
                           for point in grid_points(grid or {})] if grid else []}

    def key_requires(self):
        return self.split()

    def spec(self):
        return {"model": model_spec(self.model)}

    def run(self):
        earlier = self.earlier_output()
        if earlier is not None:
            self.reuse(earlier)
        else:
            self.fit()
        self.remember_output()

    def fit(self):
        import joblib
        import numpy as np

        from pipeline.ml.data import row_hashes
        from pipeline.ml.models import fit_model
        from pipeline.ml.search import best_point

        spec, search = model_spec(self.model), None
        if spec.get("grid"):
            results = [read_json(target / "cv.json") for target in self.input()["search"]]
            search = {"scoring": results[0]["cv"]["scoring"], "folds": spec["cv_folds"], "points": results,
                      "best": best_point(results)["point"]}
            spec = with_point(spec, search["best"])
        kind, rows, X, y = self.training_rows(spec)
        self.set_status_message(f"fitting {spec['estimator']} on {len(X)} rows")
        self.set_progress_percentage(10)
        started = time.time()
        model = fit_model(spec, X, y, kind)
        self.set_status_message(f"fitted in {time.time() - started:.1f}s; writing the model and its card")
        self.set_progress_percentage(90)
        with self.commit() as tmp:
            joblib.dump(model, tmp / "model.joblib")
            np.save(tmp / "train_rows.npy", row_hashes(rows))
            card = self.card(kind, spec, X, tmp / "model.joblib", time.time() - started)
            write_json(tmp / "card.json", {**card, "search": search})

    def reuse(self, earlier):
        """Take an earlier date's model trained on the same content, after checking its bytes."""
        card = read_json(earlier.verified("card.json"))
        self.set_status_message(f"same data, spec and packages as {card['candidate_id']}: reusing its model")
        with self.commit() as tmp:
            for name in MODEL_FILES:
                shutil.copyfile(earlier.verified(name), tmp / name)
            write_json(tmp / "card.json", {**card, **self.identity(),
                                           "reused_from": {"candidate_id": card["candidate_id"], "output": earlier.url,
                                                           "trained_at": card["trained_at"]}})

    def identity(self) -> dict:
        return {"candidate_id": f"{self.dataset}/{self.model}/{self.date}/{self.config_key()}", "date": str(self.date),
                "task": {"id": self.task_id, "params": self.to_str_params(), "config_key": self.config_key()}}

    def card(self, kind, spec, X, model_file, seconds):
        from pipeline.ml.features import feature_schema
        from pipeline.provenance import git_commit, package_versions
        from pipeline.registry import now

        data, snapshot = dataset_spec(self.dataset), self.snapshot()
        return {
            **self.identity(), "dataset": self.dataset, "model": self.model, "kind": kind,
            "target": data["target"], "features": feature_schema(X), "n_train": len(X),
            "data": {"source": snapshot["source"], "fingerprint": snapshot["fingerprint"], "rows": snapshot["rows"]},
            "split": data["split"], "model_spec": spec, "model_sha256": sha256_file(model_file),
            "packages": package_versions(), "code_version": git_commit(),
            "trained_at": now(), "training_seconds": round(seconds, 3),
        }
