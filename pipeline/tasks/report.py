from pipeline import durations
from pipeline.formats import now, write_json
from pipeline.tasks.base import upstream_tasks
from pipeline.tasks.deploy import DeployModel
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.gate import ValidateModel
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel
from pipeline.tasks.validate import ValidateData


class RunReport(ModelTask):
    """Everything a run decided, for people: reports/.../report.html (plots inside) and run.json.

    The dataset and its validation report, the candidate's metrics beside production's, the
    gate's decision and reasons, plots, the metric across registry versions, and how long each
    task took (pipeline/report.py renders it). `python -m pipeline report` prints the latest one.
    """

    stage = "reports"
    HTML, RUN = "report.html", "run.json"

    def requires(self):
        day = {"dataset": self.dataset, "date": self.date}
        run = {**day, "model": self.model}
        return {"decision": DeployModel(**run), "verdict": ValidateModel(**run), "evaluation": EvaluateModel(**run),
                "validation": ValidateData(**day), "data": IngestData(**day), "split": self.split()}

    def key_requires(self):
        return [self.requires()["decision"], self.requires()["validation"]]

    def run(self):
        from pipeline.report import render_html

        run = self.collect()
        with self.commit() as tmp:
            write_json(tmp / self.RUN, {key: value for key, value in run.items() if key != "outcome"})
            (tmp / self.HTML).write_text(render_html(run))

    outcome_of = "deployment"

    def tracked_output(self) -> str:
        return f"{self.output().key}/{self.HTML}"

    def run_outcome(self) -> list[str] | None:
        """The deployment's decision and where this report is (the run's outcome block)."""
        said = self.requires()["decision"].run_outcome()
        return [*said, f"report: {self.output().url}/{self.HTML}"] if said and self.output().exists() else None

    def model_card(self) -> dict:
        card = self.requires()["decision"].requires()["model"].output().read_json(TrainModel.CARD)
        spec = card["model_spec"]
        return {"estimator": f"{spec['estimator']} {spec.get('params') or ''}".strip(),
                "encoding": card.get("encoding"), "search": card.get("search")}

    def collect(self) -> dict:
        """The run as pipeline/report.py expects it (its docstring lists the keys)."""
        inputs = self.input()
        snapshot = inputs["data"].manifest()
        metrics = inputs["evaluation"].read_json(EvaluateModel.METRICS)
        verdict = inputs["verdict"].read_json(ValidateModel.VERDICT)
        decision = inputs["decision"].read_json(DeployModel.DECISION)
        upstream = [task.task_id for task in upstream_tasks(self) if task is not self]
        return {
            "dataset": self.dataset, "model": self.model, "date": str(self.date), "kind": metrics["kind"],
            "generated_at": now(),
            "data": {"source": snapshot["source"]["source"], "rows": snapshot["rows"],
                     "columns": len(snapshot["columns"]), "fingerprint": snapshot["fingerprint"]},
            "validation": inputs["validation"].read_json(ValidateData.REPORT),
            "candidate": {"version": decision["version"], "metrics": metrics},
            "production": {"version": verdict.get("production_version"), "metrics": verdict.get("production_metrics")},
            "verdict": verdict, "decision": decision, "outcome": self.outcome(metrics["kind"]),
            "model_card": self.model_card(),
            "versions": self.versions(),
            "durations": [{"task": r["task"], "task_id": r["task_id"], "seconds": r["seconds"]}
                          for r in durations.latest(upstream)],
        }

    def versions(self) -> list[dict]:
        """Each registry version with its status and its primary metric, for the metric-by-version plot."""
        from pipeline.ml.gate import primary_metric

        registry = self.registry()
        status, rows = registry.statuses(), []
        for version in registry.versions():
            card = registry.card(version)
            scores = card.get("metrics", {})
            name = primary_metric(scores) if scores else None
            rows.append({"version": version, "date": card["date"], "status": status[version], "metric": name,
                         "value": scores.get(name)})
        return rows

    def outcome(self, kind: str) -> dict:
        """The held-out targets and the candidate's predictions of them, for the plots."""
        predictions = self.requires()["evaluation"].predictions()["prediction"]
        if kind == "clustering":
            return {"y_true": None, "y_pred": predictions.tolist()}
        rows = self.rows("test")
        return {"y_true": rows.loc[predictions.index, self.data_spec()["target"]].tolist(),
                "y_pred": predictions.tolist()}
