import time

from pipeline.artifacts import read_json, sha256_file, write_json
from pipeline.settings import dataset_spec, model_spec
from pipeline.tasks.base import ModelTask, read_rows
from pipeline.tasks.split import SplitData


class TrainModel(ModelTask):
    """train split -> models/.../model.joblib (preprocessing + estimator), card.json, train_rows.npy.

    The card says what the model was made from: data fingerprint, split and model spec,
    feature schema, package and code versions, and the model file's sha256. train_rows.npy
    holds a hash of each training row, so a later gate can compare on rows it never saw.
    """

    stage = "models"

    def requires(self):
        return SplitData(dataset=self.dataset, date=self.date)

    def spec(self):
        return {"model": model_spec(self.model)}

    def run(self):
        import joblib
        import numpy as np

        from pipeline.ml.data import row_hashes, xy
        from pipeline.ml.models import fit_model, problem_kind

        data, spec = dataset_spec(self.dataset), model_spec(self.model)
        kind = problem_kind(spec, data["problem"])
        rows = read_rows(self.input(), fit_on=spec["fit_on"], part="train")
        X, y = xy(rows, data["target"])
        self.set_status_message(f"fitting {spec['estimator']} on {len(X)} rows")
        self.set_progress_percentage(10)
        started = time.time()
        model = fit_model(spec, X, y, kind)
        self.set_status_message(f"fitted in {time.time() - started:.1f}s; writing the model and its card")
        self.set_progress_percentage(90)
        with self.commit() as tmp:
            joblib.dump(model, tmp / "model.joblib")
            np.save(tmp / "train_rows.npy", row_hashes(rows))
            write_json(tmp / "card.json", self.card(data, spec, kind, X, tmp / "model.joblib",
                                                    time.time() - started))

    def card(self, data, spec, kind, X, model_file, seconds):
        from pipeline.ml.features import feature_schema
        from pipeline.provenance import git_commit, package_versions
        from pipeline.registry import now

        snapshot = read_json(self.requires().input()["data"].path / "manifest.json")
        return {
            "candidate_id": f"{self.dataset}/{self.model}/{self.date}/{self.config_key()}",
            "dataset": self.dataset, "model": self.model, "date": str(self.date), "kind": kind,
            "target": data["target"], "features": feature_schema(X), "n_train": len(X),
            "data": {"source": snapshot["source"], "fingerprint": snapshot["fingerprint"],
                     "rows": snapshot["rows"]},
            "split": data["split"], "model_spec": spec,
            "model_sha256": sha256_file(model_file),
            "packages": package_versions(), "code_version": git_commit(),
            "task": {"id": self.task_id, "params": self.to_str_params(), "config_key": self.config_key()},
            "trained_at": now(), "training_seconds": round(seconds, 3),
        }
