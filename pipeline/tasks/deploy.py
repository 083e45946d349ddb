import logging

from pipeline import notify
from pipeline.artifacts import read_json, write_json
from pipeline.registry import Registry, SmokeTestFailed, load_trained
from pipeline.settings import gate_spec, model_spec
from pipeline.tasks.base import ModelTask, read_frame, read_rows
from pipeline.tasks.evaluate import EvaluateModel, score_rows
from pipeline.tasks.split import SplitData
from pipeline.tasks.train import TrainModel

logger = logging.getLogger("pipeline")


class ValidateModel(ModelTask):
    """candidate metrics -> verdicts/.../verdict.json: pass or reject, with reasons.

    The gate: the metric floors configured for the dataset (or dataset + model) on the whole
    test split, and no regression beyond `tolerance` against the production model, both
    scored on the test rows production was not fitted on.
    """

    stage = "verdicts"

    def requires(self):
        return {"evaluation": EvaluateModel(dataset=self.dataset, model=self.model, date=self.date),
                "model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": SplitData(dataset=self.dataset, date=self.date)}

    def spec(self):
        return {"gate": gate_spec(self.dataset, self.model)}

    def run(self):
        from pipeline.ml.gate import decide

        candidate = read_json(self.input()["evaluation"] / "metrics.json")
        comparison, note = self.compare_with_production(candidate["kind"])
        verdict = {**decide(candidate, self.spec()["gate"], **comparison), "note": note}
        with self.commit() as tmp:
            write_json(tmp / "verdict.json", verdict)

    def compare_with_production(self, kind) -> tuple[dict, str]:
        """Both models' metrics on the test rows the live model never saw, and how they were chosen."""
        from pipeline.ml.data import name_list, unseen_rows

        registry = Registry.for_model(self.dataset, self.model)
        if registry.production_version() is None:
            return {}, "no production model yet: floors only"
        version, production, card = registry.load_production()  # a changed file fails the task here
        fit_on = model_spec(self.model)["fit_on"]
        rows = read_rows(self.input()["split"], fit_on=fit_on, part="test")
        missing = [c for c in card["features"] if c not in rows.columns]
        if missing:
            # The columns changed since production was trained: it cannot be compared, and
            # refusing every candidate from now on would leave the pipeline stuck.
            return {"production_version": version}, \
                f"production {version} needs column(s) today's data lacks ({name_list(missing)}): floors only"
        seen = registry.train_rows(version) if fit_on == "train" else None
        rows = rows if seen is None else unseen_rows(rows, seen)
        if rows.empty:
            return {"production_version": version}, f"production {version} was fitted on every test row: not compared"
        candidate, _ = load_trained(self.input()["model"])
        scored = {name: score_rows(model, rows, dataset=self.dataset, kind=kind)[0]
                  for name, model in (("production", production), ("candidate_same_rows", candidate))}
        return {**scored, "production_version": version}, \
            f"compared with production {version} on {len(rows)} test rows it was not fitted on"


class DeployModel(ModelTask):
    """verdict + candidate -> a registry version, promoted to production only if the gate passed.

    Writes decisions/.../decision.json. A rejected candidate is registered and recorded as
    rejected with its reasons; production does not change. A promoted one is smoke-tested:
    the live model is loaded the way `predict` loads it and scores held-out rows, which must
    match the candidate's evaluation; if not, production goes back and the task fails.
    """

    stage = "decisions"
    smoke_rows = 200

    def requires(self):
        return {"verdict": ValidateModel(dataset=self.dataset, model=self.model, date=self.date),
                "model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "evaluation": EvaluateModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": SplitData(dataset=self.dataset, date=self.date)}

    def key_requires(self):
        return [self.requires()["verdict"]]

    def run(self):
        verdict = read_json(self.input()["verdict"] / "verdict.json")
        card = {**read_json(self.input()["model"] / "card.json"),
                "metrics": read_json(self.input()["evaluation"] / "metrics.json"), "verdict": verdict}
        registry = Registry.for_model(self.dataset, self.model)
        try:
            decision = registry.deploy(self.input()["model"], card, verdict, smoke_test=self.smoke_test)
        except SmokeTestFailed as exc:
            if exc.rolled_back:
                notify.registry_event(registry, "rolled_back", exc.restored, previous=exc.version,
                                      reasons=[str(exc)], task_id=self.task_id)
            raise
        if decision["decision"] == "rejected":
            logger.warning("%s %s rejected, production stays %s: %s", registry, decision["version"],
                           decision["production_after"], "; ".join(decision["reasons"]))
        notify.registry_event(registry, decision["decision"], decision["version"],
                              previous=decision["production_before"], reasons=decision["reasons"], task_id=self.task_id)
        with self.commit() as tmp:
            write_json(tmp / "decision.json", decision)

    def smoke_test(self, version: str) -> str | None:
        """Held-out rows scored by the live model through predict's code path vs the evaluation."""
        from pipeline.ml.metrics import same_predictions
        from pipeline.scoring import score_frame

        expected = read_frame(self.input()["evaluation"] / "predictions.parquet").set_index("row")
        expected = expected.head(self.smoke_rows)
        rows = read_rows(self.input()["split"], fit_on=model_spec(self.model)["fit_on"], part="test")
        try:
            live, model, card = Registry.for_model(self.dataset, self.model).load_production()
            scored = score_frame(rows.loc[expected.index].drop(columns=[card["target"]]), model, card, "smoke test")
        except Exception as exc:  # noqa: BLE001 - any failure to load or score is the finding
            return f"the production model does not load or score: {type(exc).__name__}: {exc}"
        if live != version:
            return f"production is {live}, not the promoted {version}"
        differ = len(expected) - same_predictions(expected["prediction"], scored["prediction"])
        if differ:
            return f"{differ} of {len(expected)} held-out predictions differ from the candidate's evaluation"
        return None
