"""kill -9 of the real `luigi` process at points inside every task and inside promotion, on both stores.

After each kill: every committed output still matches its manifest and production (if any)
loads. A plain re-run then completes, and the registry ends exactly as after a run that was
never interrupted (the shared digits deployment of DAY1).
"""
import signal
import subprocess

import pytest
from conftest import DAY1, FAULTS, REPO, S3Workspace, Workspace

pytestmark = pytest.mark.e2e

KILL_POINTS = [
    "manifest:raw",            # IngestData: snapshot written, manifest not yet
    "manifest:validated",      # ValidateData
    "committing:split",        # SplitData: manifest written, not yet renamed into place
    "fit",                     # TrainModel, mid-training
    "manifest:models",         # TrainModel: model written
    "manifest:evaluations",    # EvaluateModel
    "manifest:verdicts",       # ValidateModel
    "committing:registry",     # DeployModel: registering the new version
    "history:registered",      # DeployModel: version committed, its history line not yet
    "history:promoted",        # DeployModel: production.json replaced, its history line not yet
    "manifest:decisions",      # DeployModel: promoted, decision not yet recorded
    "manifest:reports",        # RunReport
]
S3_KILL_POINTS = {
    "uploading:models": "TrainModel",         # the model's files are uploaded, its manifest is not
    "committing:evaluations": "EvaluateModel",
    "history:promoted": "DeployModel",        # production.json written, its history line not
}


def registry_state(ws: Workspace) -> dict:
    from pipeline.registry import Registry

    with ws.configured():
        registry = Registry.for_model("digits", "logreg")
        versions = registry.versions()
        return {"production": registry.production_version(), "versions": versions,
                "decision": ws.read_json("decisions", "2026-01-01", "decision.json"),
                "history": [(e["event"], e["version"]) for e in registry.history()],
                "model_sha256": {v: registry.card(v)["model_sha256"] for v in versions}}


def assert_nothing_damaged(ws: Workspace):
    from pipeline.artifacts import ArtifactDir
    from pipeline.registry import Registry

    store = ws.store  # on S3, with a cache of its own: every file is downloaded and checked again
    for key in store.keys(""):
        if key.endswith("/manifest.json"):
            output = ArtifactDir(store, key.rsplit("/", 1)[0])
            for name in output.manifest()["files"]:
                output / name
    with ws.configured():
        registry = Registry.for_model("digits", "logreg")
        if registry.production_version():
            registry.load_production()  # checks the model's sha256 against its card


@pytest.fixture(scope="module")
def uninterrupted(_templates) -> dict:
    return registry_state(_templates("digits"))


@pytest.mark.parametrize("any_store, point", [("local", p) for p in KILL_POINTS] +
                         [("s3", p) for p in S3_KILL_POINTS], indirect=["any_store"])
def test_kill_9_then_rerun_ends_like_an_uninterrupted_run(any_store, uninterrupted, point):
    ws = any_store
    killed = ws.luigi("TrainValidateDeploy", DAY1, env={"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.output
    assert_nothing_damaged(ws)
    if point == "uploading:models":
        assert ws.outputs("models") == []
        assert any(key.endswith("/model.joblib") for key in ws.store.keys("models"))  # not an output

    if isinstance(ws, S3Workspace):
        import shutil

        shutil.rmtree(ws.root / "cache", ignore_errors=True)  # the re-run may as well be on another host
    rerun = ws.run("TrainValidateDeploy", DAY1)
    assert rerun.returncode == 0, rerun.output
    if point in S3_KILL_POINTS and isinstance(ws, S3Workspace):
        assert rerun.ran(S3_KILL_POINTS[point]) and not rerun.ran("IngestData")
    assert registry_state(ws) == uninterrupted
    assert_nothing_damaged(ws)
    leftovers = [p for p in ws.data.rglob(".*") if p.name.startswith((".tmp-", ".production.json."))]
    assert leftovers == []


@pytest.mark.parametrize("sent, workers, point", [
    ("TERM", 1, "fit"), ("INT", 1, "manifest:evaluations"), ("INT", 1, "history:promoted"),
    ("TERM", 2, "manifest:models"), ("INT", 2, "committing:registry"), ("TERM", 2, "history:promoted"),
])
def test_sigterm_or_sigint_to_the_run_then_rerun_ends_like_an_uninterrupted_run(workspace, uninterrupted,
                                                                                   sent, workers, point):
    """What Ctrl-C or a service manager's stop does: the signal reaches the whole process group,
    the worker and the task processes it forked for --workers 2."""
    stopped = subprocess.run(workspace.command("TrainValidateDeploy", DAY1, "--workers", str(workers)), cwd=REPO,
                             env={**workspace.env, "PYTHONPATH": FAULTS, "PIPELINE_TEST_SIGNAL_AT": point,
                                  "PIPELINE_TEST_SIGNAL": sent},
                             capture_output=True, text=True, timeout=300, start_new_session=True)
    assert stopped.returncode != 0, stopped.stdout + stopped.stderr
    assert workspace.production() in (None, "v0001")
    assert_nothing_damaged(workspace)

    rerun = workspace.run("TrainValidateDeploy", DAY1)
    assert rerun.returncode == 0, rerun.output
    assert registry_state(workspace) == uninterrupted
    assert_nothing_damaged(workspace)


def test_second_identical_run_exits_already_running_and_does_no_work(workspace):
    with workspace.held("TrainValidateDeploy", DAY1, at="fit") as first:
        before = sorted(str(p) for p in workspace.data.rglob("*"))
        second = workspace.luigi("TrainValidateDeploy", DAY1)
        assert second.returncode == 10, second.output  # [retcode] already_running
        assert "already running" in second.output
        assert "Informed scheduler" not in second.output  # it scheduled nothing
        assert sorted(str(p) for p in workspace.data.rglob("*")) == before
    assert first.run.returncode == 0, first.run.output
    assert workspace.production() == "v0001"


def test_batch_scoring_killed_while_writing_scores_the_day_once_on_rerun(deployed):
    import pandas as pd
    from sklearn.datasets import load_digits

    ws = deployed()
    incoming = ws.data / "incoming" / "digits" / "2026-03-01.csv"
    incoming.parent.mkdir(parents=True)
    load_digits(as_frame=True).frame.drop(columns=["target"]).head(40).to_csv(incoming, index=False)

    kill = {"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": "manifest:predictions"}
    killed = ws.luigi("BatchPredict", "--date=2026-03-01", env=kill)
    assert killed.returncode == -signal.SIGKILL and not ws.outputs("predictions")
    rerun = ws.run("BatchPredict", "--date=2026-03-01")
    assert rerun.returncode == 0, rerun.output
    [out] = ws.outputs("predictions")
    assert len(pd.read_parquet(out / "predictions.parquet")) == 40
    assert not [p for p in ws.data.rglob(".tmp-*")]
