"""The pipeline's default job (digits -> logreg -> gate -> deploy) as a gokart user writes it: TaskOnKart
tasks, requires() dicts, self.load()/self.dump() and gokart's own targets (pickle by default, Parquet by
file name) under [TaskOnKart] workspace_directory; the registry is a plain folder beside them.
[ValidateModel] min_accuracy and tolerance come from luigi.cfg. PEER_FAIL_AT=deploy makes DeployModel
fail after the model is in the registry, before the production pointer moves.

    luigi --module gokart_digits TrainValidateDeploy --local-scheduler
"""
import json
import os

import gokart
import joblib
import luigi
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

TARGET = "target"


class IngestData(gokart.TaskOnKart):
    def output(self):
        return self.make_target("digits/raw.parquet")

    def run(self):
        self.dump(load_digits(as_frame=True).frame)


class ValidateData(gokart.TaskOnKart):
    min_rows = luigi.IntParameter(default=1000)

    def requires(self):
        return IngestData()

    def run(self):
        frame = self.load()
        problems = []
        if len(frame) < self.min_rows:
            problems.append(f"{len(frame)} rows, fewer than {self.min_rows}")
        if not frame[TARGET].between(0, 9).all():
            problems.append("target outside 0..9")
        if frame.isna().any().any():
            problems.append("missing values")
        if problems:
            raise ValueError("; ".join(problems))
        self.dump({"rows": len(frame), "columns": frame.shape[1], "problems": problems, "passed": True})


class SplitData(gokart.TaskOnKart):
    test_size = luigi.FloatParameter(default=0.25)
    seed = luigi.IntParameter(default=42)

    def requires(self):
        return {"data": IngestData(), "report": ValidateData()}

    def output(self):
        return {"train": self.make_target("digits/train.parquet"), "test": self.make_target("digits/test.parquet")}

    def run(self):
        frame = self.load("data")
        train, test = train_test_split(frame, test_size=self.test_size, random_state=self.seed,
                                       stratify=frame[TARGET])
        self.dump(train, "train")
        self.dump(test, "test")


class TrainModel(gokart.TaskOnKart):
    def requires(self):
        return SplitData()

    def run(self):
        train = self.load("train")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        self.dump(model.fit(train.drop(columns=TARGET), train[TARGET]))


class EvaluateModel(gokart.TaskOnKart):
    def requires(self):
        return {"model": TrainModel(), "split": SplitData()}

    def run(self):
        model, test = self.load("model"), self.load("split")["test"]
        predicted = model.predict(test.drop(columns=TARGET))
        self.dump({"accuracy": float(accuracy_score(test[TARGET], predicted)), "n_samples": len(test)})


class ValidateModel(gokart.TaskOnKart):
    min_accuracy = luigi.FloatParameter(default=0.95)
    tolerance = luigi.FloatParameter(default=0.01)

    def requires(self):
        return EvaluateModel()

    def run(self):
        accuracy = self.load()["accuracy"]
        pointer = os.path.join(self.workspace_directory, "registry", "production.json")
        production = None
        if os.path.exists(pointer):
            with open(pointer) as f:
                production = json.load(f)["accuracy"]
        reasons = []
        if accuracy < self.min_accuracy:
            reasons.append(f"accuracy {accuracy:.4f} < {self.min_accuracy}")
        if production is not None and accuracy < production - self.tolerance:
            reasons.append(f"accuracy {accuracy:.4f} worse than production's {production:.4f}")
        self.dump({"accuracy": accuracy, "production": production, "passed": not reasons, "reasons": reasons})


class DeployModel(gokart.TaskOnKart):
    def requires(self):
        return {"verdict": ValidateModel(), "model": TrainModel()}

    def run(self):
        verdict = self.load("verdict")
        registry = os.path.join(self.workspace_directory, "registry")
        version = None
        if verdict["passed"]:
            os.makedirs(registry, exist_ok=True)
            version = f"v{sum(name.startswith('v') for name in os.listdir(registry)) + 1:04d}"
            os.makedirs(os.path.join(registry, version))
            joblib.dump(self.load("model"), os.path.join(registry, version, "model.joblib"))
            if os.environ.get("PEER_FAIL_AT") == "deploy":
                raise RuntimeError("injected failure in deploy")
            with open(os.path.join(registry, "production.json.tmp"), "w") as f:
                json.dump({"version": version, "accuracy": verdict["accuracy"]}, f)
            os.replace(os.path.join(registry, "production.json.tmp"), os.path.join(registry, "production.json"))
        self.dump({"decision": "promoted" if version else "rejected", "version": version, **verdict})


class TrainValidateDeploy(gokart.TaskOnKart):
    """The job's last task; a TaskOnKart, not a luigi.WrapperTask, which gokart's event handlers (on every
    luigi.Task) fail on."""

    def requires(self):
        return DeployModel()

    def run(self):
        self.dump(self.load())
