from pipeline import notify
from pipeline.errors import IntegrityError, RegistryError
from pipeline.formats import write_json
from pipeline.registry import load_trained
from pipeline.settings import gate_spec
from pipeline.tasks.evaluate import EvaluateModel
from pipeline.tasks.model import ModelTask
from pipeline.tasks.train import TrainModel


class ValidateModel(ModelTask):
    """candidate metrics -> verdicts/.../verdict.json: pass or reject, with reasons.

    The gate (pipeline/ml/gate.py): the metric floors configured for the dataset (or dataset +
    model) on the whole test split, and no regression beyond `tolerance` against the production
    model, both scored on the test rows production was not fitted on.
    """

    stage = "verdicts"
    VERDICT = "verdict.json"

    def requires(self):
        return {"evaluation": EvaluateModel(dataset=self.dataset, model=self.model, date=self.date),
                "model": TrainModel(dataset=self.dataset, model=self.model, date=self.date),
                "split": self.split()}

    def spec(self):
        return {"gate": gate_spec(self.dataset, self.model)}

    def run(self):
        with self.commit() as tmp:
            write_json(tmp / self.VERDICT, self.verdict())

    def verdict(self) -> dict:
        """The gate's verdict against the production model live now (DeployModel asks again when
        production changed since this task ran)."""
        from pipeline.ml.gate import decide

        candidate = self.input()["evaluation"].read_json(EvaluateModel.METRICS)
        live, comparison, note = self.compare_with_production(candidate["kind"])
        return {**decide(candidate, self.spec()["gate"], **comparison), "note": note, "production_at_gate": live}

    def compare_with_production(self, kind: str) -> tuple[str | None, dict, str]:
        """The live version, both models' metrics on the rows the gate compares them on, and how
        those were chosen. A production model that cannot be loaded is alerted and not compared:
        refusing every candidate until someone repairs it would stop the pipeline for good."""
        from pipeline.ml.gate import comparison_rows, shown_metrics
        from pipeline.ml.models import can_score_new_rows

        registry = self.registry()
        version = registry.production_version()
        if version is None:
            return None, {}, "no production model yet: floors and baseline only"
        try:
            _, production, card = registry.load_production()
        except (IntegrityError, RegistryError) as exc:
            notify.production_unusable(registry, version, exc)
            return version, {}, f"production {version} cannot be loaded ({exc}): floors and baseline only"
        if not can_score_new_rows(production):
            return version, {"production": shown_metrics(card.get("metrics", {})), "production_version": version}, \
                f"production {version} labels only the rows it was fitted on (no predict): compared on the metrics " \
                "it was registered with"
        rows, note = comparison_rows(self.rows("test"), production_version=version,
                                     production_features=card["features"],
                                     production_train_rows=registry.train_rows(version),
                                     fit_on=self.model_spec()["fit_on"])
        if rows is None:
            return version, {"production_version": version}, note
        candidate, _ = load_trained(self.input()["model"])
        scored = {name: self.score(model, rows, kind)[0]
                  for name, model in (("production", production), ("candidate_same_rows", candidate))}
        return version, {**scored, "production_version": version}, note
