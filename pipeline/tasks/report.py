import logging
import posixpath

from pipeline import durations, settings
from pipeline.errors import PipelineError
from pipeline.formats import now, write_json
from pipeline.ml.errors import MLError
from pipeline.registry import Registry
from pipeline.settings import gate_spec
from pipeline.storage import is_s3
from pipeline.tasks import outcomes
from pipeline.tasks.base import upstream_tasks
from pipeline.tasks.deploy import DeployModel
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.gate import ValidateModel
from pipeline.tasks.ingest import IngestData
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel
from pipeline.tasks.validate import ValidateData
from pipeline.tracking import mirror

logger = logging.getLogger("pipeline")


class RunReport(ModelTask):
    """Everything a run decided, for people: reports/.../report.html (plots inside, and beside it
    as SVG files) and run.json; attached to the version's MLflow run when MLflow is configured.

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
        from pipeline.report import plot_svgs, render_html

        run = self.collect()
        plots = plot_svgs(run)
        with self.commit() as tmp:
            write_json(tmp / self.RUN, {key: value for key, value in run.items() if key != "outcome"})
            (tmp / self.HTML).write_text(render_html(run, plots))
            for name, svg in plots.items():
                (tmp / f"{name}.svg").write_text(svg)
        mirror(self.registry(), reports={run["candidate"]["version"]: self.output()})

    outcome_of = "deployment"

    def tracked_output(self) -> str:
        return f"{self.output().key}/{self.HTML}"

    def run_outcome(self) -> list[str] | None:
        """The deployment's decision and where this report is (the run's outcome block)."""
        said = self.requires()["decision"].run_outcome()
        return [*said, f"report: {self.output().url}/{self.HTML}"] if said and self.output().exists() else None

    def model_card(self, served_by: dict | None) -> dict:
        """The candidate's estimator, every param beside production's, its features and its search."""
        from pipeline.ml.card import estimator_params

        card = self.requires()["decision"].requires()["model"].output().read_json(TrainModel.CARD)
        production = None
        if served_by:
            try:
                registry = Registry.for_model(*served_by["registry"].split("/"))
                production = registry.card(served_by["version"])["model_spec"]
            except (PipelineError, MLError) as exc:  # the gate went on without it (it alerted): so does the report
                logger.warning("%s: production's params are not shown: %s", self, exc)
        return {"estimator": estimator_params(card["model_spec"], production), "encoding": card.get("encoding"),
                "search": card.get("search")}

    def collect(self) -> dict:
        """The run as pipeline/report.py expects it (its docstring lists the keys)."""
        from pipeline.ml.gate import watched_metrics
        from pipeline.report import data_facts

        inputs = self.input()
        metrics = inputs["evaluation"].read_json(EvaluateModel.METRICS)
        verdict = inputs["verdict"].read_json(ValidateModel.VERDICT)
        decision = inputs["decision"].read_json(DeployModel.DECISION)
        watched = watched_metrics(gate_spec(self.dataset, self.model), verdict["compared_metric"])
        return {
            "dataset": self.dataset, "model": self.model, "date": str(self.date), "kind": metrics["kind"],
            "generated_at": now(),
            "data": data_facts(inputs["data"].manifest()),
            "validation": inputs["validation"].read_json(ValidateData.REPORT),
            "candidate": {"version": decision["version"], "metrics": metrics},
            "production": {"version": verdict.get("production_version"), "metrics": verdict.get("production_metrics")},
            "verdict": verdict, "decision": decision, "outcome": self.outcome(metrics["kind"]),
            "model_card": self.model_card(verdict.get("served_by")),
            "watched": watched, "versions": self.versions(watched),
            **self.this_run(),
        }

    def this_run(self) -> dict:
        """This run's upstream tasks (not those an earlier run did) with links to their logs, and its wall time."""
        upstream = {task.task_id: task for task in upstream_tasks(self) if task is not self}
        ran = durations.of_run(outcomes.run_id(), outcomes.run_started(), upstream)
        links = not is_s3(settings.pipeline().data_dir)  # an s3:// data_dir's logs stay on the hosts that ran them
        rows = [{"task": r["task"], "task_id": r["task_id"], "seconds": r["seconds"], "started_at": r["started_at"],
                 "log": posixpath.relpath(r["log"], self.output().key) if links and r.get("log") else None,
                 "worker": f"{r['host']} pid {r['pid']}" if r["other_worker"] else None} for r in ran]
        done = {r["task_id"] for r in ran}
        return {"durations": rows, "wall_seconds": durations.wall_seconds(ran),
                "already_complete": [task.task_family for task_id, task in upstream.items() if task_id not in done]}

    def versions(self, watched: dict) -> list[dict]:
        """Each registry version's date, status and watched metrics, for the metrics-over-dates plot."""
        registry = self.registry()
        status, rows = registry.statuses(), []
        for version in registry.versions():
            card = registry.card(version)
            scores = card.get("metrics", {})
            rows.append({"version": version, "date": card["date"], "status": status[version],
                         "metrics": {w["metric"]: scores.get(w["metric"]) for w in watched}})
        return rows

    def outcome(self, kind: str) -> dict:
        """The held-out targets and the candidate's predictions of them, for the plots."""
        predictions = self.requires()["evaluation"].predictions()["prediction"]
        if kind == "clustering":
            return {"y_true": None, "y_pred": predictions.tolist()}
        target = self.data_spec()["target"]
        rows = self.rows("test", columns=[target])
        return {"y_true": rows.loc[predictions.index, target].tolist(),
                "y_pred": predictions.tolist()}
