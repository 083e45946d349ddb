"""MLflow as a mirror of the registry: a sqlite:/// store, and a real `mlflow server` that goes down."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from conftest import DAY2, PROXY_VARIABLES, free_port

from pipeline.tracking import _tracking_uri, run_metrics, run_params

pytestmark = pytest.mark.e2e
DAY3 = "--date=2026-01-03"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def mlflow_db(tmp_path_factory):
    """An MLflow SQLite store whose tables are made once per session: each test takes a copy."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def store_copy(mlflow_db, root) -> str:
    """A fresh store in `root`; its URI."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_db, root / "mlflow.db")
    return f"sqlite:///{root}/mlflow.db"


def use_store(ws, mlflow_db) -> str:
    """The workspace tracks to a fresh store of its own, artifacts beside it (MLflow's default,
    ./mlruns, would be the checkout the tests run in)."""
    uri = store_copy(mlflow_db, ws.root)
    ws.add_cfg(f"[mlflow]\ntracking_uri = {uri}\nartifact_location = {ws.root / 'mlartifacts'}\n")
    return uri


def mirrored(uri: str, dataset: str = "digits", name: str = "digits.logreg") -> dict:
    """What MLflow at `uri` holds for a deployment: runs and model versions by registry version, the champion."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(dataset)
    runs = client.search_runs([experiment.experiment_id], "tags.`pipeline.kind` = 'version'")
    versions = {v.tags["pipeline.version"]: v for v in client.search_model_versions(f"name = '{name}'")}
    champion = client.get_registered_model(name).aliases.get("champion")
    return {"client": client, "runs": {run.data.tags["pipeline.version"]: run for run in runs}, "versions": versions,
            "champion": next((tag for tag, v in versions.items() if str(v.version) == str(champion)), None)}


@contextlib.contextmanager
def mlflow_server(root, port: int):
    """`mlflow server` on 127.0.0.1:port with a SQLite backend and a local artifact root, started
    at once; yields a function that waits until it answers and gives its URL."""
    env = {**{k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES},
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner to start: no jobs here
    with open(root / "server.log", "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "1", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
                                   "--artifacts-destination", str(root / "artifacts")],
                                  stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 120

    def ready() -> str:
        while True:
            with contextlib.suppress(OSError), NO_PROXY.open(f"{url}/health", timeout=1):
                return url
            assert server.poll() is None and time.time() < deadline, (root / "server.log").read_text()[-2000:]
            time.sleep(0.2)
    try:
        yield ready
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_params_and_metrics_come_from_the_card():
    card = {"model_spec": {"estimator": "sklearn.linear_model.LogisticRegression", "fit_on": "train",
                           "params": {"C": 0.5, "class_weight": {"a": 2}}},
            "split": {"test_size": 0.25, "seed": 42}, "n_train": 1347, "training_seconds": 0.2,
            "search": {"scoring": "balanced_accuracy", "best": {"C": 0.5}, "best_model": None,
                       "points": [{"point": {"C": 0.5}, "cv": {"mean": 0.97, "std": 0.01}},
                                  {"point": {"C": 5.0}, "cv": {"mean": 0.95, "std": 0.02}}]},
            "metrics": {"kind": "classification", "accuracy": 0.98, "n_samples": 450,
                        "baseline": {"model": "DummyClassifier", "accuracy": 0.1}}}
    assert run_params(card) == {"estimator": "sklearn.linear_model.LogisticRegression", "fit_on": "train",
                                "n_train": "1347", "param.C": "0.5", "param.class_weight": '{"a": 2}',
                                "search.C": "0.5", "split.test_size": "0.25", "split.seed": "42"}
    assert run_metrics(card) == {"accuracy": 0.98, "baseline_accuracy": 0.1, "cv_mean": 0.97, "cv_std": 0.01,
                                 "training_seconds": 0.2}  # not n_samples: a count


def test_a_sqlite_store_gets_every_version_its_model_the_report_and_the_champion_alias(deployed, mlflow_db):
    import mlflow

    ws = deployed()  # v0001 went live before MLflow was configured: the next mirror catches up
    uri = use_store(ws, mlflow_db)
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    live = ws.production()
    state = mirrored(uri)
    assert sorted(state["runs"]) == sorted(state["versions"]) == ["v0001", "v0002"]
    assert state["champion"] == live

    card = json.loads((ws.registry_dir() / "v0002" / "card.json").read_text())
    mine = state["runs"]["v0002"]
    assert mine.data.params["param.C"] == "0.5" and mine.data.params["split.seed"] == "42"
    assert mine.data.metrics["balanced_accuracy"] == pytest.approx(card["metrics"]["balanced_accuracy"])
    assert mine.data.metrics["baseline_balanced_accuracy"] == pytest.approx(0.1)
    tags = mine.data.tags
    assert (tags["data.fingerprint"], tags["luigi.task_id"], tags["pipeline.config_key"]) == \
        (card["data"]["fingerprint"], card["task"]["id"], card["task"]["config_key"])
    assert tags["pipeline.status"] == ("production" if live == "v0002" else "rejected")
    artifacts = {a.path for a in state["client"].list_artifacts(mine.info.run_id, "report")}
    assert {"report/report.html", "report/confusion_matrix.svg", "report/metrics_over_dates.svg"} <= artifacts

    with _tracking_uri(uri):
        model = mlflow.sklearn.load_model(tags["pipeline.model_uri"])  # the very model the registry holds
        info = mlflow.models.get_model_info(tags["pipeline.model_uri"])
    rows = pd.read_parquet(ws.output("split", "2026-01-02") / "test.parquet").drop(columns=["target"]).head(20)
    evaluated = pd.read_parquet(ws.output("evaluations", "2026-01-02") / "predictions.parquet").set_index("row")
    assert list(model.predict(rows)) == list(evaluated["prediction"].loc[rows.index])
    assert [c.name for c in info.signature.inputs.inputs][:2] == ["pixel_0_0", "pixel_0_1"]

    rolled = ws.main("registry", "rollback", "--to", "v0001") if live == "v0002" else \
        ws.main("registry", "promote", "v0002", "--force")
    assert rolled.returncode == 0, rolled.stderr
    assert mirrored(uri)["champion"] == ws.production() != live  # the alias follows a change by hand

    synced = ws.main("mlflow", "sync")  # v0001's report, made before MLflow was configured
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout == f"digits/logreg -> digits.logreg: 0 run(s), 0 model version(s), 1 report(s) logged; " \
                            f"champion: {ws.production()}\n"
    again = ws.main("mlflow", "sync")  # and nothing twice
    assert again.stdout.startswith("digits/logreg -> digits.logreg: 0 run(s), 0 model version(s), 0 report(s)")
    assert len(mirrored(uri)["runs"]) == 2


def test_a_search_is_a_parent_run_with_a_child_per_point(workspace, mlflow_db):
    uri = use_store(workspace, mlflow_db)
    workspace.add_config('[models.logreg_search]\nestimator = "sklearn.linear_model.LogisticRegression"\n'
                         "params = { max_iter = 2000 }\ngrid = { C = [0.03, 3.0] }\ncv_folds = 3\n")
    run = workspace.run("TrainValidateDeploy", "--model", "logreg_search", DAY2)
    assert run.returncode == 0, run.output
    state = mirrored(uri, name="digits.logreg_search")
    [parent] = state["runs"].values()
    children = state["client"].search_runs([parent.info.experiment_id],
                                           f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(child.data.params["param.C"] for child in children) == ["0.03", "3.0"]
    assert all(len(state["client"].get_metric_history(child.info.run_id, "cv_fold_score")) == 3 for child in children)
    best = max(children, key=lambda child: child.data.metrics["cv_mean"])
    assert parent.data.params["search.C"] == best.data.params["param.C"]


def test_a_run_goes_on_without_mlflow_and_a_real_mlflow_server_then_catches_up(deployed, webhook, tmp_path,
                                                                              mlflow_db):
    ws = deployed()
    store_copy(mlflow_db, tmp_path / "mlflow")
    with mlflow_server(tmp_path / "mlflow", free_port()) as ready:  # it boots while MLflow is "down" elsewhere
        gone = f"http://127.0.0.1:{free_port()}"
        ws.add_cfg(f"[mlflow]\ntracking_uri = {gone}\n")
        ws.replace_config("C = 1.0 }", "C = 0.5 }")  # MLflow is not there: the run goes on, says so, alerts once
        down = ws.run("TrainValidateDeploy", DAY2)
        assert down.returncode == 0, down.output
        # DeployModel tries once; RunReport does not wait on it again
        assert down.output.count(f"mlflow: digits/logreg not mirrored to {gone} (") == 2
        assert down.output.count(f"mlflow: digits/logreg not mirrored to {gone} (unreachable ") == 1
        assert webhook.events().count("mlflow_unreachable") == 1
        synced = ws.main("mlflow", "sync")
        assert synced.returncode == 1 and "digits/logreg: not mirrored: MLflow is unreachable" in synced.stdout

        url = ready()
        ws.add_cfg(f"[mlflow]\ntracking_uri = {url}\n")
        synced = ws.main("mlflow", "sync")  # back: every version, its report, the champion
        assert synced.returncode == 0, synced.stderr
        assert synced.stdout == "digits/logreg -> digits.logreg: 2 run(s), 2 model version(s), 2 report(s) logged; " \
                                f"champion: {ws.production()}\n"
        ws.replace_config("C = 0.5 }", "C = 0.7 }")
        run = ws.run("TrainValidateDeploy", DAY3)
        assert run.returncode == 0, run.output
        state = mirrored(url)
        assert sorted(state["runs"]) == sorted(state["versions"]) == ["v0001", "v0002", "v0003"]
        assert state["champion"] == ws.production()
        assert state["runs"]["v0003"].data.tags["pipeline.report"] == ws.output("reports", "2026-01-03").url
        assert webhook.events().count("mlflow_unreachable") == 1  # one alert for the outage, none after


def test_a_name_template_that_is_not_one_is_a_config_error_not_an_outage(deployed, webhook):
    from pipeline.errors import ConfigError
    from pipeline.registry import Registry
    from pipeline.tracking import mirror

    ws = deployed()
    ws.add_cfg("[mlflow]\ntracking_uri = sqlite:///never.db\nregistered_model = {datset}.{model}\n")
    with ws.configured(), pytest.raises(ConfigError) as error:
        mirror(Registry.for_model("digits", "logreg"))
    assert str(error.value) == "luigi.cfg [mlflow] registered_model = '{datset}.{model}': not a name template " \
                               "(KeyError: 'datset'; use {dataset} and {model})"
    assert "mlflow_unreachable" not in webhook.events()


def test_credentials_in_the_tracking_uri_never_reach_a_log_line_or_an_alert(deployed, webhook, caplog):
    from pipeline.registry import Registry
    from pipeline.tracking import mirror

    ws = deployed()
    port = free_port()
    ws.add_cfg(f"[mlflow]\ntracking_uri = http://bob:s3cret@127.0.0.1:{port}\n")
    with ws.configured():
        assert mirror(Registry.for_model("digits", "logreg")) is None
    assert f"mlflow: digits/logreg not mirrored to http://127.0.0.1:{port} (" in caplog.text
    assert webhook.events().count("mlflow_unreachable") == 1
    assert "s3cret" not in caplog.text and "s3cret" not in json.dumps(webhook.posts)


def test_two_mirrors_at_once_log_each_version_once_and_the_model_takes_rows_as_the_pipeline_has_them(deployed,
                                                                                                   mlflow_db):
    import threading

    import mlflow
    from samples import customers

    from pipeline.registry import Registry
    from pipeline.tracking import mirror

    ws = deployed("customers")  # integers, text and gaps: the logged model must take them as they come
    uri = use_store(ws, mlflow_db)
    done = []
    with ws.configured():  # two mirrors of one registry at once, as a run's task and a cron `mlflow sync` would
        from pipeline.tracking import tracking_uri

        assert tracking_uri() == uri  # Luigi's config read here, not by two threads at once
        mirrors = [threading.Thread(target=lambda: done.append(mirror(Registry.for_model("customers", "logreg"))))
                   for _ in range(2)]
        for thread in mirrors:
            thread.start()
        for thread in mirrors:
            thread.join(timeout=300)
    assert sorted(len(result["runs"]) for result in done) == [0, 1]  # one did it, the other found it done
    state = mirrored(uri, dataset="customers", name="customers.logreg")
    assert list(state["runs"]) == ["v0001"] and list(state["versions"]) == ["v0001"] and state["champion"] == "v0001"

    rows = customers(n=20, seed=9).drop(columns=["churned"])
    with _tracking_uri(uri):
        served = mlflow.pyfunc.load_model("models:/customers.logreg@champion").predict(rows)
    assert len(served) == 20


def test_behind_a_proxy_only_mlflow_can_tell_whether_the_server_answers(monkeypatch):
    from pipeline.tracking import _knock

    with pytest.raises(OSError):  # direct: a host that does not resolve is found out at once
        _knock("http://mlflow.invalid:5000")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _knock("http://mlflow.invalid:5000")  # through the proxy: left to MLflow's requests and their timeout
