from pipeline import notify, settings
from pipeline.errors import IntegrityError, RegistryError
from pipeline.formats import write_json
from pipeline.registry import Registry, load_trained
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
        live, served_by, comparison, note = self.compare_with_production(candidate["kind"])
        return {**decide(candidate, self.spec()["gate"], **comparison), "note": note, "production_at_gate": live,
                "served_by": served_by}

    def compare_with_production(self, kind: str) -> tuple[str | None, dict | None, dict, str]:
        """The live version, the model serving the dataset ({"registry", "version"}), both models'
        metrics on the rows the gate compares them on, and how those were chosen. When this
        registry has none yet because the dataset's deployment changed (its `models` were edited),
        the candidate is compared with the model that was serving."""
        registry = self.registry()
        version = registry.production_version()
        if version is not None:
            served_by = {"registry": str(registry), "version": version}
            return (version, served_by, *self.compare_with(registry, version, kind))
        previous = self.previous_deployment()
        if previous is None:
            return None, None, {}, "no production model yet: floors and baseline only"
        version = previous.production_version()
        comparison, note = self.compare_with(previous, version, kind, name=f"{previous} ")
        return None, {"registry": str(previous), "version": version}, comparison, \
            f"{registry} has no production model yet; the dataset was served by {previous}: {note}"

    def previous_deployment(self) -> Registry | None:
        """The registry of this dataset whose production model was set last, if this task is the
        dataset's deployment and that registry is another one."""
        if self.model != settings.default_model(self.dataset):
            return None
        live = [(r.production(), r) for r in Registry.all(self.dataset) if r.model != self.model]
        live = [(pointer, r) for pointer, r in live if pointer and pointer["version"]]
        return max(live, key=lambda found: found[0].get("since", ""))[1] if live else None

    def compare_with(self, registry: Registry, version: str, kind: str, name: str = "") -> tuple[dict, str]:
        """Production's and the candidate's metrics on the same rows, and how those were chosen. A
        production model that cannot be loaded is alerted and not compared: refusing every candidate
        until someone repairs it would stop the pipeline for good."""
        from pipeline.ml.gate import comparison_rows, shown_metrics
        from pipeline.ml.models import can_score_new_rows

        label = f"{name}{version}"
        try:
            _, production, card = registry.load_production()
        except (IntegrityError, RegistryError) as exc:
            notify.production_unusable(registry, version, exc)
            return {}, f"production {label} cannot be loaded ({exc}): floors and baseline only"
        if not can_score_new_rows(production):
            return {"production": shown_metrics(card.get("metrics", {})), "production_version": label}, \
                f"production {label} labels only the rows it was fitted on (no predict): compared on the metrics " \
                "it was registered with"
        rows, note = comparison_rows(self.rows("test"), production_version=label, production_features=card["features"],
                                     production_train_rows=registry.train_rows(version),
                                     fit_on=self.model_spec()["fit_on"])
        if rows is None:
            return {"production_version": label}, note
        candidate, _ = load_trained(self.input()["model"])
        scored = {key: self.score(model, rows, kind)[0]
                  for key, model in (("production", production), ("candidate_same_rows", candidate))}
        return {**scored, "production_version": label}, note
