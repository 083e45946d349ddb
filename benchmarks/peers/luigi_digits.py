"""The pipeline's default job (digits -> logreg -> gate -> deploy) in plain Luigi: luigi.Task with
requires()/output() LocalTargets under [paths] workspace, atomic writes through `self.output().open('w')`
and `temporary_path()`. [ValidateModel] min_accuracy and tolerance come from luigi.cfg. PEER_FAIL_AT=deploy
makes DeployModel fail after the model is in the registry, before the production pointer moves.

    luigi --module luigi_digits TrainValidateDeploy --local-scheduler
"""
import json
import os
import shutil

import joblib
import luigi
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TARGET = "target"


class paths(luigi.Config):
    workspace = luigi.Parameter(default="data")


def target(*parts: str) -> luigi.LocalTarget:
    return luigi.LocalTarget(os.path.join(paths().workspace, *parts))


class IngestData(luigi.Task):
    def output(self):
        return target("raw.parquet")

    def run(self):
        with self.output().temporary_path() as path:
            load_digits(as_frame=True).frame.to_parquet(path)


class ValidateData(luigi.Task):
    min_rows = luigi.IntParameter(default=1000)

    def requires(self):
        return IngestData()

    def output(self):
        return target("validation.json")

    def run(self):
        frame = pd.read_parquet(self.input().path)
        problems = []
        if len(frame) < self.min_rows:
            problems.append(f"{len(frame)} rows, fewer than {self.min_rows}")
        if not frame[TARGET].between(0, 9).all():
            problems.append("target outside 0..9")
        if frame.isna().any().any():
            problems.append("missing values")
        if problems:
            raise ValueError("; ".join(problems))
        with self.output().open("w") as f:
            json.dump({"rows": len(frame), "columns": frame.shape[1], "problems": problems, "passed": True}, f)


class SplitData(luigi.Task):
    test_size = luigi.FloatParameter(default=0.25)
    seed = luigi.IntParameter(default=42)

    def requires(self):
        return {"data": IngestData(), "report": ValidateData()}

    def output(self):
        return {"train": target("train.parquet"), "test": target("test.parquet")}

    def run(self):
        frame = pd.read_parquet(self.input()["data"].path)
        parts = train_test_split(frame, test_size=self.test_size, random_state=self.seed, stratify=frame[TARGET])
        for name, part in zip(("train", "test"), parts):
            with self.output()[name].temporary_path() as path:
                part.to_parquet(path)


class TrainModel(luigi.Task):
    def requires(self):
        return SplitData()

    def output(self):
        return target("model.joblib")

    def run(self):
        train = pd.read_parquet(self.input()["train"].path)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        model.fit(train.drop(columns=TARGET), train[TARGET])
        with self.output().temporary_path() as path:
            joblib.dump(model, path)


class EvaluateModel(luigi.Task):
    def requires(self):
        return {"model": TrainModel(), "split": SplitData()}

    def output(self):
        return target("metrics.json")

    def run(self):
        model = joblib.load(self.input()["model"].path)
        test = pd.read_parquet(self.input()["split"]["test"].path)
        predicted = model.predict(test.drop(columns=TARGET))
        with self.output().open("w") as f:
            json.dump({"accuracy": float(accuracy_score(test[TARGET], predicted)), "n_samples": len(test)}, f)


class ValidateModel(luigi.Task):
    min_accuracy = luigi.FloatParameter(default=0.95)
    tolerance = luigi.FloatParameter(default=0.01)

    def requires(self):
        return EvaluateModel()

    def output(self):
        return target("verdict.json")

    def run(self):
        with self.input().open() as f:
            accuracy = json.load(f)["accuracy"]
        production = None
        if target("registry", "production.json").exists():
            with target("registry", "production.json").open() as f:
                production = json.load(f)["accuracy"]
        reasons = []
        if accuracy < self.min_accuracy:
            reasons.append(f"accuracy {accuracy:.4f} < {self.min_accuracy}")
        if production is not None and accuracy < production - self.tolerance:
            reasons.append(f"accuracy {accuracy:.4f} worse than production's {production:.4f}")
        with self.output().open("w") as f:
            json.dump({"accuracy": accuracy, "production": production, "passed": not reasons, "reasons": reasons}, f)


class DeployModel(luigi.Task):
    def requires(self):
        return {"verdict": ValidateModel(), "model": TrainModel()}

    def output(self):
        return target("decision.json")

    def run(self):
        with self.input()["verdict"].open() as f:
            verdict = json.load(f)
        version = None
        if verdict["passed"]:
            registry = target("registry").path
            os.makedirs(registry, exist_ok=True)
            version = f"v{sum(name.startswith('v') for name in os.listdir(registry)) + 1:04d}"
            with target("registry", version, "model.joblib").temporary_path() as path:
                shutil.copyfile(self.input()["model"].path, path)
            if os.environ.get("PEER_FAIL_AT") == "deploy":
                raise RuntimeError("injected failure in deploy")
            with target("registry", "production.json").open("w") as f:
                json.dump({"version": version, "accuracy": verdict["accuracy"]}, f)
        with self.output().open("w") as f:
            json.dump({"decision": "promoted" if version else "rejected", "version": version, **verdict}, f)


class TrainValidateDeploy(luigi.WrapperTask):
    def requires(self):
        return DeployModel()
