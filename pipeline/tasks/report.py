from pipeline.artifacts import read_json, write_json
from pipeline.registry import Registry
from pipeline.settings import dataset_spec, model_spec
from pipeline.tasks.base import ModelTask, durations, read_frame, read_rows, upstream_tasks
from pipeline.tasks.deploy import DeployModel, ValidateModel
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.split import SplitData
from pipeline.tasks.validate import ValidateData


class RunReport(ModelTask):
    """Everything a run decided, for people: reports/.../report.html (plots inside) and run.json.

    The dataset and its validation report, the candidate's metrics beside production's, the
    gate's decision and reasons, plots, the metric across registry versions, and how long each
    task took. `python -m pipeline report` prints the latest one as text.
    """

    stage = "reports"

    def requires(self):
        day = {"dataset": self.dataset, "date": self.date}
        run = {**day, "model": self.model}
        return {"decision": DeployModel(**run), "verdict": ValidateModel(**run), "evaluation": EvaluateModel(**run),
                "validation": ValidateData(**day), "split": SplitData(**day), "data": IngestData(**day)}

    def key_requires(self):
        return [self.requires()["decision"], self.requires()["validation"]]

    def run(self):
        from pipeline.report import render_html

        run = self.collect()
        with self.commit() as tmp:
            write_json(tmp / "run.json", {key: value for key, value in run.items() if key != "outcome"})
            (tmp / "report.html").write_text(render_html(run))

    def collect(self) -> dict:
        from pipeline.ml.gate import primary_metric
        from pipeline.registry import now

        inputs = self.input()
        snapshot = inputs["data"].manifest()
        metrics = read_json(inputs["evaluation"] / "metrics.json")
        verdict = read_json(inputs["verdict"] / "verdict.json")
        decision = read_json(inputs["decision"] / "decision.json")
        registry = Registry.for_model(self.dataset, self.model)
        status = registry.statuses()
        versions = []
        for version in registry.versions():
            scores = registry.card(version).get("metrics", {})
            name = primary_metric(scores) if scores else None
            versions.append({"version": version, "date": registry.card(version)["date"],
                             "status": status[version], "metric": name, "value": scores.get(name)})
        upstream = [task.task_id for task in upstream_tasks(self) if task is not self]
        return {
            "dataset": self.dataset, "model": self.model, "date": str(self.date), "kind": metrics["kind"],
            "generated_at": now(),
            "data": {"source": snapshot["source"]["source"], "rows": snapshot["rows"],
                     "columns": len(snapshot["columns"]), "fingerprint": snapshot["fingerprint"]},
            "validation": read_json(inputs["validation"] / "report.json"),
            "candidate": {"version": decision["version"], "metrics": metrics},
            "production": {"version": verdict.get("production_version"), "metrics": verdict.get("production_metrics")},
            "verdict": verdict, "decision": decision, "outcome": self.outcome(metrics["kind"]), "versions": versions,
            "durations": [{"task": r["task"], "task_id": r["task_id"], "seconds": r["seconds"]}
                          for r in durations(upstream)],
        }

    def outcome(self, kind: str) -> dict:
        """The held-out targets and the candidate's predictions of them, for the plots."""
        predictions = read_frame(self.input()["evaluation"] / "predictions.parquet").set_index("row")["prediction"]
        if kind == "clustering":
            return {"y_true": None, "y_pred": predictions.tolist()}
        rows = read_rows(self.input()["split"], fit_on=model_spec(self.model)["fit_on"], part="test")
        return {"y_true": rows.loc[predictions.index, dataset_spec(self.dataset)["target"]].tolist(),
                "y_pred": predictions.tolist()}
