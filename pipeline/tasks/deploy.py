import logging

from pipeline.deployment import deploy
from pipeline.formats import write_json
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.gate import ValidateModel
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel
from pipeline.tracking import mirror

logger = logging.getLogger("pipeline")


class DeployModel(ModelTask):
    """verdict + candidate -> a registry version, promoted to production only if the gate passed.

    Writes decisions/.../decision.json (pipeline/deployment.py decides). A rejected candidate is
    registered and recorded as rejected with its reasons; production does not change. A promoted
    one is smoke-tested: the live model is loaded the way `predict` loads it and scores held-out
    rows, which must match the candidate's evaluation; if not, production goes back and the task
    fails.
    """

    stage = "decisions"
    DECISION = "decision.json"
    smoke_rows = 200

    def requires(self):
        run = {"dataset": self.dataset, "model": self.model, "date": self.date}
        return {"verdict": ValidateModel(**run), "model": TrainModel(**run), "evaluation": EvaluateModel(**run),
                "split": self.split()}

    def key_requires(self):
        return [self.requires()["verdict"]]

    def run(self):
        verdict = self.input()["verdict"].read_json(ValidateModel.VERDICT)
        card = {**self.input()["model"].read_json(TrainModel.CARD),
                "metrics": self.input()["evaluation"].read_json(EvaluateModel.METRICS), "verdict": verdict}
        decision = self.deploy(card, verdict)
        if decision["decision"] == "rejected":
            logger.warning("%s/%s %s rejected, production stays %s: %s", self.dataset, self.model,
                           decision["version"], decision["production_after"], "; ".join(decision["reasons"]))
        with self.commit() as tmp:
            write_json(tmp / self.DECISION, decision)

    def deploy(self, card: dict, verdict: dict) -> dict:
        """The decision (pipeline/deployment.py), then MLflow mirrors what the registry holds now,
        whatever happened (a smoke test's rollback too)."""
        try:
            return deploy(self.registry(), self.input()["model"], card, verdict, smoke_test=self.smoke_test,
                          revalidate=self.requires()["verdict"].verdict)
        finally:
            mirror(self.registry(), example=lambda: self.rows("test")[list(card["features"])].head(5))

    def run_outcome(self) -> list[str] | None:
        """What this deployment did (the run's outcome block; RunReport adds where its report is)."""
        from pipeline.deployment import describe_decision

        if not self.output().exists():
            return None
        metrics = self.requires()["evaluation"].output().read_json(EvaluateModel.METRICS)
        return [describe_decision(self.output().read_json(self.DECISION), metrics)]

    outcome_of = "deployment"

    def smoke_test(self, version: str) -> str | None:
        """Held-out rows scored by the live model through predict's code path, against the evaluation."""
        from pipeline.ml.gate import smoke_check
        from pipeline.ml.models import can_score_new_rows, fitted_labels
        from pipeline.scoring import score_frame

        expected = self.requires()["evaluation"].predictions().head(self.smoke_rows)
        try:
            live, model, card = self.registry().load_production()
            if can_score_new_rows(model):
                rows = self.rows("test").loc[expected.index]
                scored = score_frame(rows.drop(columns=[card["target"]]), model, card, "smoke test")["prediction"]
            else:  # a clusterer without predict: the labels it stored for the rows it was fitted on
                scored = fitted_labels(model, self.rows("test"))[:len(expected)]
        except Exception as exc:  # noqa: BLE001 - any failure to load or score is the finding
            return f"the production model does not load or score: {type(exc).__name__}: {exc}"
        if live != version:
            return f"production is {live}, not the promoted {version}"
        return smoke_check(expected["prediction"], scored)
