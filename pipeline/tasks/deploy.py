import logging

from pipeline.artifacts import read_json, write_json
from pipeline.registry import Registry
from pipeline.settings import gate_spec, model_spec
from pipeline.tasks.base import ModelTask
from pipeline.tasks.evaluate import EvaluateModel, score_on_split
from pipeline.tasks.split import SplitData
from pipeline.tasks.train import TrainModel

logger = logging.getLogger("pipeline")


class ValidateModel(ModelTask):
    """candidate metrics -> verdicts/.../verdict.json: pass or reject, with reasons.

    The gate: the metric floors configured for the dataset (or dataset + model), and no
    regression beyond `tolerance` against the production model scored on the same rows.
    """

    stage = "verdicts"

    def requires(self):
        return {"evaluation": EvaluateModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": SplitData(dataset=self.dataset, date=self.date)}

    def spec(self):
        return {"gate": gate_spec(self.dataset, self.model)}

    def run(self):
        from pipeline.ml.gate import decide

        candidate = read_json(self.input()["evaluation"] / "metrics.json")
        production, version, note = self.production_metrics(candidate["kind"])
        verdict = {**decide(candidate, self.spec()["gate"], production, version), "note": note}
        with self.commit() as tmp:
            write_json(tmp / "verdict.json", verdict)

    def production_metrics(self, kind):
        """(metrics, version, note): the live model scored on this run's held-out rows."""
        registry = Registry.for_model(self.dataset, self.model)
        if registry.production_version() is None:
            return None, None, "no production model yet: floors only"
        version, model, _ = registry.load_production()  # a tampered file fails the task here
        try:
            metrics, _ = score_on_split(model, self.input()["split"], dataset=self.dataset,
                                        fit_on=model_spec(self.model)["fit_on"], kind=kind)
        except (ValueError, KeyError) as exc:
            # The data's columns changed since production was trained: it cannot be compared,
            # and refusing every candidate from now on would leave the pipeline stuck.
            logger.warning("production %s cannot score today's rows (%s); gate uses floors only", version, exc)
            return None, version, f"production {version} cannot score these rows ({exc}): floors only"
        return metrics, version, None


class DeployModel(ModelTask):
    """verdict + candidate -> a registry version, promoted to production only if the gate passed.

    Writes decisions/.../decision.json. A rejected candidate is registered and recorded as
    rejected with its reasons; production does not change.
    """

    stage = "decisions"

    def requires(self):
        return {"verdict": ValidateModel(dataset=self.dataset, model=self.model, date=self.date),
                "model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "evaluation": EvaluateModel(dataset=self.dataset, model=self.model, date=self.date)}

    def run(self):
        verdict = read_json(self.input()["verdict"] / "verdict.json")
        card = {**read_json(self.input()["model"] / "card.json"),
                "metrics": read_json(self.input()["evaluation"] / "metrics.json"), "verdict": verdict}
        registry = Registry.for_model(self.dataset, self.model)
        decision = registry.deploy(self.input()["model"] / "model.joblib", card, verdict)
        if decision["decision"] == "rejected":
            logger.warning("%s %s rejected, production stays %s: %s", registry, decision["version"],
                           decision["production_after"], "; ".join(decision["reasons"]))
        with self.commit() as tmp:
            write_json(tmp / "decision.json", decision)
