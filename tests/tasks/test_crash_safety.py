"""kill -9 of the real `luigi` process at points inside every task and inside promotion.

After each kill: no committed output is damaged and production (if any) names a model that
passes its sha256 check. A plain re-run then completes, and the registry ends exactly as after
a run that was never interrupted.
"""
import hashlib
import json
import signal
import subprocess
import time

import pytest
from conftest import FAULTS, REPO, Workspace

pytestmark = pytest.mark.e2e

DAY = "--date=2026-03-01"

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


def registry_state(ws: Workspace) -> dict:
    root = ws.registry_dir()
    versions = sorted(p.name for p in root.glob("v*") if (p / "manifest.json").exists())
    [decision] = [json.loads(p.read_text()) for p in ws.data.glob("decisions/*/*/*/*/decision.json")]
    return {"production": ws.production(), "versions": versions, "decision": decision,
            "history": [(e["event"], e["version"]) for e in ws.history()],
            "model_sha256": {v: json.loads((root / v / "card.json").read_text())["model_sha256"] for v in versions}}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_nothing_damaged(ws: Workspace):
    for manifest in ws.data.rglob("manifest.json"):
        for name, entry in json.loads(manifest.read_text())["files"].items():
            assert sha256(manifest.parent / name) == entry["sha256"], manifest.parent / name
    live = ws.production()
    if live:
        card = json.loads((ws.registry_dir() / live / "card.json").read_text())
        assert sha256(ws.registry_dir() / live / "model.joblib") == card["model_sha256"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    ws = Workspace(tmp_path_factory.mktemp("reference"))
    run = ws.luigi("TrainValidateDeploy", DAY)
    assert run.returncode == 0, run.output
    return registry_state(ws)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_then_rerun_ends_like_an_uninterrupted_run(workspace, uninterrupted, point):
    killed = workspace.luigi("TrainValidateDeploy", DAY,
                             env={"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.output
    assert_nothing_damaged(workspace)

    rerun = workspace.luigi("TrainValidateDeploy", DAY)
    assert rerun.returncode == 0, rerun.output
    assert registry_state(workspace) == uninterrupted
    assert_nothing_damaged(workspace)
    leftovers = [p for p in workspace.data.rglob(".*") if p.name.startswith((".tmp-", ".production.json."))]
    assert leftovers == []


def test_second_identical_run_exits_already_running_and_does_no_work(workspace):
    pause = workspace.root / "paused"
    first = subprocess.Popen(workspace.command("TrainValidateDeploy", DAY), cwd=REPO, text=True,
                             env={**workspace.env, "PYTHONPATH": FAULTS, "PIPELINE_TEST_PAUSE_AT": "fit",
                                  "PIPELINE_TEST_PAUSE_FILE": str(pause)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while not pause.exists():
            assert first.poll() is None and time.time() < deadline, "the first run never reached training"
            time.sleep(0.05)
        before = sorted(str(p) for p in workspace.data.rglob("*"))

        second = workspace.luigi("TrainValidateDeploy", DAY)
        assert second.returncode == 10, second.output  # [retcode] already_running
        assert "already running" in second.output
        assert "Informed scheduler" not in second.output  # it scheduled nothing
        assert sorted(str(p) for p in workspace.data.rglob("*")) == before
    finally:
        pause.unlink(missing_ok=True)
        output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert workspace.production() == "v0001"


def test_batch_scoring_killed_while_writing_scores_the_day_once_on_rerun(workspace):
    import pandas as pd
    from sklearn.datasets import load_digits

    assert workspace.luigi("TrainValidateDeploy", "--date=2026-02-28").returncode == 0
    incoming = workspace.data / "incoming" / "digits" / "2026-03-01.csv"
    incoming.parent.mkdir(parents=True)
    load_digits(as_frame=True).frame.drop(columns=["target"]).head(40).to_csv(incoming, index=False)

    kill = {"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": "manifest:predictions"}
    killed = workspace.luigi("BatchPredict", DAY, env=kill)
    assert killed.returncode == -signal.SIGKILL and not workspace.outputs("predictions")
    rerun = workspace.luigi("BatchPredict", DAY)
    assert rerun.returncode == 0, rerun.output
    [out] = workspace.outputs("predictions")
    assert len(pd.read_parquet(out / "predictions.parquet")) == 40
    assert not [p for p in workspace.data.rglob(".tmp-*")]
