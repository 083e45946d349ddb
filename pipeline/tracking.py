"""MLflow as a mirror of the registry (optional: pip install -e '.[mlflow]').

The pipeline's registry stays the source of truth (the gate, rollback and the smoke test rely
on it); MLflow shows what it holds, in the tool teams already browse:

- an experiment per dataset, and per registry version a run: the model spec, the grid point and
  the split as params; every evaluation metric, the baseline's and the cross-validation scores
  as metrics; the data fingerprint and source, config key, code version, Luigi task id (and its
  luigid link) as tags; the card, the run report and its plots as artifacts; the model itself
  through `mlflow.sklearn`, with a signature and (when rows are at hand) an input example. A
  search or a choice among models adds one child run per point.
- a registered model per deployment (`{dataset}.{model}`), one version per registry version,
  the alias `champion` on the production one (moved by promotions and rollbacks), and the
  gate's reasons as a tag on a rejected one.

`mirror(registry)` makes MLflow match the registry, whatever it missed: it finds what exists by
its tags, so calling it again adds nothing. DeployModel and RunReport call it, so do the
registry commands and `ml-pipeline mlflow sync`. It never fails a run: with MLflow unreachable
it gives up after one short timeout, logs a warning, alerts once per outage, and the next call
catches up. Nothing here imports mlflow unless a tracking URI is configured.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import urllib.parse
import warnings
from pathlib import Path

import luigi.configuration

from pipeline import settings
from pipeline.formats import ago

logger = logging.getLogger("pipeline")
OUTAGE = "runs/mlflow-outage.json"  # in data_dir: set while MLflow is unreachable (one alert per outage)
RETRY_AFTER = 120.0  # seconds after a failed try before MLflow is tried again
DEFAULTS = {"experiment": "{dataset}", "registered_model": "{dataset}.{model}", "timeout": "5",
            "artifact_location": ""}  # where a new experiment keeps its artifacts ("": MLflow's default)
CHAMPION = "champion"
TYPES = {"numeric": "double", "categorical": "string", "date": "datetime"}  # by kind, for a card without dtypes


def tracking_uri() -> str | None:
    """MLflow's own MLFLOW_TRACKING_URI, else luigi.cfg's [mlflow] tracking_uri; None: no MLflow."""
    return os.environ.get("MLFLOW_TRACKING_URI") or _option("tracking_uri") or None


def _option(name: str) -> str:
    return luigi.configuration.get_config().get("mlflow", name, DEFAULTS.get(name, ""))


def names(dataset: str, model: str) -> tuple[str, str]:
    """(experiment, registered model) of a deployment; ConfigError for a template that is not one."""
    from pipeline.errors import ConfigError

    found = []
    for key in ("experiment", "registered_model"):
        try:
            found.append(_option(key).format(dataset=dataset, model=model))
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"luigi.cfg [mlflow] {key} = {_option(key)!r}: not a name template "
                              f"({type(exc).__name__}: {exc}; use {{dataset}} and {{model}})") from None
    return found[0], found[1]


# ---------------------------------------------------------------- what a version says, as MLflow data

def run_params(card: dict) -> dict[str, str]:
    """The model spec, the grid point it won with and the split, as MLflow params (text)."""
    spec = card.get("model_spec") or {}
    params = {"estimator": spec.get("estimator"), "fit_on": spec.get("fit_on"), "n_train": card.get("n_train")}
    params |= {f"param.{name}": value for name, value in (spec.get("params") or {}).items()}
    params |= {f"search.{name}": value for name, value in ((card.get("search") or {}).get("best") or {}).items()}
    params |= {f"split.{name}": value for name, value in (card.get("split") or {}).items()}
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in params.items()
            if value is not None}


def run_metrics(card: dict) -> dict[str, float]:
    """Every scalar evaluation metric, the baseline's (baseline_*) and the chosen point's CV score."""
    from pipeline.ml.gate import shown_metrics

    scores = card.get("metrics") or {}
    found = dict(shown_metrics(scores))
    found |= {f"baseline_{name}": value for name, value in shown_metrics(scores.get("baseline") or {}).items()}
    search = card.get("search") or {}
    chosen = [p for p in search.get("points") or [] if p.get("point") == search.get("best")
              and p.get("model") in (None, search.get("best_model"))]
    if chosen and chosen[0].get("cv"):
        found |= {f"cv_{stat}": chosen[0]["cv"][stat] for stat in ("mean", "std") if stat in chosen[0]["cv"]}
    found["training_seconds"] = card.get("training_seconds")
    return {name: float(value) for name, value in found.items() if isinstance(value, (int, float))}


def run_tags(registry, version: str, card: dict, status: str) -> dict[str, str]:
    from pipeline import notify

    task = card.get("task") or {}
    data = card.get("data") or {}
    tags = {"pipeline.registry": str(registry), "pipeline.version": version, "pipeline.status": status,
            "pipeline.candidate_id": card.get("candidate_id"), "pipeline.date": card.get("date"),
            "data.fingerprint": data.get("fingerprint"), "data.source": (data.get("source") or {}).get("source"),
            "pipeline.config_key": task.get("config_key"), "pipeline.code_version": card.get("code_version"),
            "luigi.task_id": task.get("id"), "mlflow.runName": f"{registry.model} {version}"}
    if task.get("id"):
        tags["luigid.link"] = notify.task_link(task["id"])
    return {name: str(value) for name, value in tags.items() if value is not None}


def column_type(card: dict, name: str, kind: str) -> str:
    """An input column's MLflow type: from its training dtype (kept in the card's profile), so the
    rows the pipeline scores pass MLflow's checks as they are (int64 stays long, text dates string)."""
    dtype = ((card.get("profile") or {}).get(name) or {}).get("dtype")
    if dtype is None:
        return TYPES.get(kind, "string")
    dtype = dtype.lower()
    if dtype.startswith(("int", "uint")):
        return "long"
    if dtype.startswith("float"):
        return "double"
    if dtype.startswith("bool"):
        return "boolean"
    return "datetime" if dtype.startswith("datetime") else "string"


def signature(card: dict, kind: str):
    """The model's inputs (the card's feature columns and their types) and outputs, for MLflow."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec(column_type(card, name, how), name)
                     for name, how in (card.get("features") or {}).items()])
    labels = (card.get("metrics") or {}).get("confusion_matrix", {}).get("labels") or []
    output = "string" if kind == "classification" and any(isinstance(label, str) for label in labels) else \
        "long" if kind != "regression" else "double"
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec(output)]))


# ---------------------------------------------------------------- the mirror

def mirror(registry, *, example=None, reports: dict | None = None, force: bool = False) -> dict | None:
    """Make MLflow show what `registry` holds; never raises for MLflow's sake (a name template in
    luigi.cfg that is not one is a ConfigError, the user's to fix). `example()`: a few feature rows for
    the models logged now; `reports`: {version: a committed RunReport} to attach. Returns what
    it did ({"runs", "versions", "reports", "champion"}), or None when MLflow is off or unreachable.
    Within RETRY_AFTER of a failed try, MLflow is not tried again (unless `force`): a run with
    many tasks waits for one timeout at most."""
    uri = tracking_uri()
    if not uri:
        return None
    names(registry.dataset, registry.model)  # a mistake in the config is the user's to fix, not an outage
    outage = _outage()
    if outage and not force and time.time() - outage.get("at", 0) < RETRY_AFTER:
        logger.warning("mlflow: %s not mirrored to %s (unreachable %s ago: %s); tried again after %s, or by "
                       "`ml-pipeline mlflow sync`", registry, _safe(uri), ago(time.time() - outage["at"]),
                       outage.get("reason"), ago(RETRY_AFTER))
        return None
    try:
        _knock(uri)
        # one mirror of a registry at a time (a run's tasks, `mlflow sync` from cron): no duplicates
        with settings.store().lock(f"{registry.key}/.mlflow.lock"), _tracking_uri(uri):
            done = _Mirror(uri, registry).sync(example, reports or {})
    except Exception as exc:  # noqa: BLE001 - MLflow must never fail or stall the pipeline
        _unreachable(registry, uri, exc)
        return None
    _reachable(uri)
    if done["runs"] or done["versions"] or done["reports"] or done["champion_moved"]:
        logger.info("mlflow: %s: %d run(s), %d model version(s), %d report(s) logged; %s on %s", registry,
                    len(done["runs"]), len(done["versions"]), len(done["reports"]), CHAMPION,
                    done["champion"] or "no version")
    return done


def _knock(uri: str) -> None:
    """A server that does not answer is found out before MLflow (a second to import) is loaded."""
    import socket

    parts = urllib.parse.urlsplit(uri)
    if parts.scheme in ("http", "https") and not _through_proxy(parts):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        socket.create_connection((parts.hostname, port), timeout=float(_option("timeout"))).close()


def _through_proxy(parts) -> bool:
    """Whether MLflow's requests reach the host through an HTTP(S)_PROXY (then only they can tell)."""
    import urllib.request

    return parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(parts.hostname or "")


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """MLflow's global tracking URI (its fluent API logs the model) for the block only: MLflow also
    puts it in MLFLOW_TRACKING_URI, which would outlive the block and override luigi.cfg's."""
    import mlflow

    saved = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved or "")
        if saved is None:  # after MLflow, which may have set the variable again
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def _unreachable(registry, uri: str, exc: Exception) -> None:
    from pipeline import notify
    from pipeline.errors import first_line

    reason = f"{type(exc).__name__}: {first_line(exc)}".replace(uri, _safe(uri))[:500]
    credentials = urllib.parse.urlsplit(uri).netloc.rpartition("@")[0]
    if credentials:  # an error may quote the address in another form: never the user:password in it
        reason = reason.replace(credentials, "***")
    logger.warning("mlflow: %s not mirrored to %s (%s); the next run or `ml-pipeline mlflow sync` catches up",
                   registry, _safe(uri), reason)
    first = not _outage()
    settings.store().write_json(OUTAGE, {"at": time.time(), "reason": reason})
    if first:
        notify.problem("mlflow_unreachable", f"MLflow at {_safe(uri)} is unreachable ({reason}); the registry "
                       "goes on without it and is mirrored once it is back", dataset=registry.dataset,
                       model=registry.model)


def _outage() -> dict | None:
    """The outage under way ({"at", "reason"}), if MLflow's last try failed."""
    text = (settings.store().read_text(OUTAGE) or "").strip()
    try:
        return json.loads(text) or None if text else None
    except json.JSONDecodeError:
        return None


def _reachable(uri: str) -> None:
    if _outage():
        settings.store().write_json(OUTAGE, {})
        logger.info("mlflow: %s is reachable again", _safe(uri))


def _safe(uri: str) -> str:
    """A tracking URI without credentials (user:password@host)."""
    parts = urllib.parse.urlsplit(uri)
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
    return parts._replace(netloc=host).geturl() if parts.password or parts.username else uri


class _Mirror:
    def __init__(self, uri: str, registry):
        timeout = _option("timeout")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # one try: never stall a run
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", timeout)
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # stdout is the command's
        import mlflow
        from mlflow import MlflowClient

        self.mlflow, self.client, self.registry = mlflow, MlflowClient(uri, registry_uri=uri), registry
        self.experiment_name, self.model_name = names(registry.dataset, registry.model)

    def sync(self, example, reports: dict) -> dict:
        registry, client = self.registry, self.client
        experiment = self.experiment()
        runs = {}
        for run in client.search_runs([experiment], f"tags.`pipeline.registry` = '{registry}' and "
                                      "tags.`pipeline.kind` = 'version'", max_results=5000):
            if "pipeline.model_id" in run.data.tags:
                runs[run.data.tags["pipeline.version"]] = run
            else:  # cut short (MLflow went away while it was logged): made again below, children too
                for child in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"):
                    client.delete_run(child.info.run_id)
                client.delete_run(run.info.run_id)
        statuses = registry.statuses()
        done = {"runs": [], "versions": [], "reports": [], "champion": None, "champion_moved": False}
        for version in registry.versions():
            card = registry.card(version)
            tags = run_tags(registry, version, card, statuses[version])
            if version not in runs:
                runs[version] = self.log_version(experiment, version, card, tags, example)
                done["runs"].append(version)
            elif runs[version].data.tags.get("pipeline.status") != statuses[version]:
                client.set_tag(runs[version].info.run_id, "pipeline.status", statuses[version])
            report = reports.get(version)
            if report is not None and "pipeline.report" not in runs[version].data.tags:
                self.attach_report(runs[version].info.run_id, report)
                done["reports"].append(version)
        done |= self.register(runs, statuses, done)
        return done

    def experiment(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment_name)
        return found.experiment_id if found else self.client.create_experiment(
            self.experiment_name, artifact_location=_option("artifact_location") or None)

    def log_version(self, experiment: str, version: str, card: dict, tags: dict, example):
        client, mlflow = self.client, self.mlflow
        run = client.create_run(experiment, tags={**tags, "pipeline.kind": "version"})
        run_id = run.info.run_id
        client.log_batch(run_id, params=[self._param(k, v) for k, v in run_params(card).items()],
                         metrics=[self._metric(k, v) for k, v in run_metrics(card).items()])
        client.log_dict(run_id, card, "card.json")
        self.log_search(experiment, run_id, card)
        model = self.registry.load(version)
        requirements = [f"{name}=={v}" for name, v in (card.get("packages") or {}).items()
                        if name in ("scikit-learn", "pandas", "numpy", "scipy", "joblib")]
        rows = example() if example is not None else None
        with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's and pandas' deprecations are not the pipeline's news
            info = mlflow.sklearn.log_model(model, name="model", signature=signature(card, card.get("kind")),
                                            input_example=rows, pip_requirements=requirements or None,
                                            skops_trusted_types=_trusted_types(model))
        client.set_tag(run_id, "pipeline.model_uri", info.model_uri)
        client.set_tag(run_id, "pipeline.model_id", info.model_id)
        client.set_terminated(run_id)
        return client.get_run(run_id)

    def log_search(self, experiment: str, parent: str, card: dict) -> None:
        """One child run per grid point or candidate model, with its cross-validation scores."""
        search = card.get("search") or {}
        points = search.get("points") or []
        if len(points) < 2:
            return
        for point in points:
            name = " ".join(filter(None, [point.get("model"), json.dumps(point.get("point") or {})]))
            child = self.client.create_run(experiment, tags={"mlflow.parentRunId": parent, "mlflow.runName": name,
                                                             "pipeline.kind": "search point",
                                                             "pipeline.registry": str(self.registry)})
            cv = point.get("cv") or {}
            params = {"model": point.get("model"), "scoring": search.get("scoring"), "folds": search.get("folds"),
                      **{f"param.{k}": v for k, v in (point.get("point") or {}).items()}}
            metrics = [self._metric(f"cv_{stat}", cv[stat]) for stat in ("mean", "std") if _number(cv.get(stat))]
            metrics += [self._metric("cv_fold_score", score, step=i) for i, score in enumerate(cv.get("scores") or [])
                        if _number(score)]
            self.client.log_batch(child.info.run_id, metrics=metrics,
                                  params=[self._param(k, v) for k, v in params.items() if v is not None])
            self.client.set_terminated(child.info.run_id)

    def attach_report(self, run_id: str, report) -> None:
        """The run report's page and its plots (a committed RunReport output)."""
        with tempfile.TemporaryDirectory() as tmp:
            for name in report.manifest()["files"]:
                if name.endswith((".html", ".svg")):
                    target = Path(tmp) / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes((report / name).read_bytes())
            self.client.log_artifacts(run_id, tmp, "report")
        self.client.set_tag(run_id, "pipeline.report", report.url)

    def register(self, runs: dict, statuses: dict, done: dict) -> dict:
        """A model version per registry version, the champion alias on production, rejections tagged."""
        from mlflow.exceptions import MlflowException

        client, name = self.client, self.model_name
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, tags={"pipeline.registry": str(self.registry)},
                                           description=f"The pipeline's {self.registry} deployment (mirrored).")
        versions = {v.tags.get("pipeline.version"): v for v in client.search_model_versions(f"name = '{name}'")}
        rejections = {e["version"]: e["reasons"] for e in self.registry.history() if e["event"] == "rejected"}
        for version, run in runs.items():
            if version not in versions:
                versions[version] = client.create_model_version(
                    name, run.data.tags["pipeline.model_uri"], run_id=run.info.run_id,
                    tags={"pipeline.version": version}, model_id=run.data.tags["pipeline.model_id"],
                    await_creation_for=0)  # never wait on MLflow
                done["versions"].append(version)
            if versions[version].tags.get("pipeline.status") != statuses[version]:
                client.set_model_version_tag(name, versions[version].version, "pipeline.status", statuses[version])
            if version in rejections and "pipeline.rejected" not in versions[version].tags:
                client.set_model_version_tag(name, versions[version].version, "pipeline.rejected",
                                             "; ".join(rejections[version])[:5000])
            smoke = self.registry.smoke_failure(version)
            if smoke and "pipeline.smoke_failed" not in versions[version].tags:
                client.set_model_version_tag(name, versions[version].version, "pipeline.smoke_failed", smoke[:5000])
        return self.crown(versions)

    def crown(self, versions: dict) -> dict:
        """The champion alias on the production version (none when nothing is in production)."""
        from mlflow.exceptions import MlflowException

        production = self.registry.production_version()
        aliases = self.client.get_registered_model(self.model_name).aliases
        current = aliases.get(CHAMPION)
        wanted = versions[production].version if production in versions else None
        if str(current) == str(wanted):
            return {"champion": production, "champion_moved": False}
        if wanted is None:
            try:
                self.client.delete_registered_model_alias(self.model_name, CHAMPION)
            except MlflowException:
                pass
        else:
            self.client.set_registered_model_alias(self.model_name, CHAMPION, wanted)
        return {"champion": production, "champion_moved": True}

    @staticmethod
    def _param(key, value):
        from mlflow.entities import Param

        return Param(key, str(value)[:6000])

    @staticmethod
    def _metric(key, value, step: int = 0):
        import time

        from mlflow.entities import Metric

        return Metric(key, float(value), int(time.time() * 1000), step)


def _trusted_types(model) -> list[str] | None:
    """The types MLflow's skops format must be told to trust to load this model (the pipeline's
    own transformers, numpy's dtypes): it came from the registry, checked against its sha256."""
    try:
        import skops.io
    except ImportError:  # an MLflow that pickles
        return None
    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
