"""Several workers, started separately as on separate hosts, share one run through one luigid.

Each worker has its own config (own cache dir, own pid-lock dir: nothing local is shared) and
they meet only in luigid and in the S3 bucket. luigid hands each task to one worker at a time.
"""
import collections
import json
import os
import subprocess
import time

import pytest
from conftest import FAULTS, REPO, S3Workspace, running_luigid

pytestmark = pytest.mark.e2e

DAY = "--date=2026-01-01"
POINTS = [0.001, 0.01, 0.1, 0.3]  # small C: quick fits; enough points for both workers
SEARCH = f"""
[models.logreg_search]
estimator = "sklearn.linear_model.LogisticRegression"
params = {{ max_iter = 2000 }}
grid = {{ C = {POINTS} }}
cv_folds = 2
"""
# what a worker host adds to the command line: stay while the shared run has tasks pending, and
# do not count tasks that another worker ran (or is running) as a failure of this one
SCALE_OUT = ("--worker-keep-alive", "--retcode-already-running", "0", "--retcode-not-run", "0")


def host_config(ws: S3Workspace, name: str) -> dict:
    """The environment of a worker on host `name`: the shared settings, its own local dirs."""
    cfg = ws.root / f"{name}.cfg"
    (ws.root / name).mkdir(exist_ok=True)
    cfg.write_text(ws.cfg.read_text().replace(str(ws.root / "cache"), str(ws.root / name / "cache"))
                   .replace(str(ws.root / "locks"), str(ws.root / name / "locks")))
    return {**ws.env, "LUIGI_CONFIG_PATH": str(cfg)}


def start_worker(ws: S3Workspace, name: str, port: int, **extra_env) -> subprocess.Popen:
    command = ws.command("TrainValidateDeploy", "--model", "logreg_search", DAY,
                         "--scheduler-port", str(port), *SCALE_OUT, local=False)
    log = open(ws.root / f"{name}.log", "w")
    return subprocess.Popen(command, cwd=REPO, env={**host_config(ws, name), **extra_env},
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def runs(ws: S3Workspace) -> list[dict]:
    return [json.loads(line) for line in (ws.store.read_text("runs/durations.jsonl") or "").splitlines()]


def result(ws: S3Workspace) -> dict:
    """What a run decided, without the times and places that differ between runs."""
    def one(stage: str):
        [output] = ws.outputs(stage)
        return output

    card = one("models").read_json("card.json")
    return {"search": card["search"], "model_sha256": card["model_sha256"], "params": card["model_spec"]["params"],
            "metrics": one("evaluations").read_json("metrics.json"),
            "decision": one("decisions").read_json("decision.json"),
            "production": ws.production("digits", "logreg_search")}


def test_two_workers_on_one_luigid_share_a_fan_out_run_and_match_one_worker(s3_workspace, s3_env, tmp_path):
    ws = s3_workspace
    ws.add_config(SEARCH)
    pause = ws.root / "paused"
    workers = []
    with running_luigid(ws) as port:
        try:
            # host A takes the first tasks and is held inside its first grid point until host B has done work
            a = start_worker(ws, "host-a", port, PYTHONPATH=FAULTS, PIPELINE_TEST_PAUSE_AT="manifest:search",
                             PIPELINE_TEST_PAUSE_FILE=str(pause))
            workers.append(a)
            deadline = time.time() + 120
            while not pause.exists():
                assert a.poll() is None and time.time() < deadline, (ws.root / "host-a.log").read_text()
                time.sleep(0.1)
            b = start_worker(ws, "host-b", port)
            workers.append(b)
            while not any(r["pid"] == b.pid for r in runs(ws)):
                assert b.poll() is None and time.time() < deadline, (ws.root / "host-b.log").read_text()
                time.sleep(0.2)
            os.remove(pause)
            assert a.wait(timeout=300) == 0, (ws.root / "host-a.log").read_text()
            assert b.wait(timeout=300) == 0, (ws.root / "host-b.log").read_text()
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()

    records = runs(ws)
    counts = collections.Counter(r["task_id"] for r in records)
    assert len(counts) == 9 + len(POINTS) and set(counts.values()) == {1}  # every task, each exactly once
    by_worker = collections.Counter(r["pid"] for r in records)
    assert set(by_worker) == {a.pid, b.pid}, by_worker
    assert all(r["pid"] == a.pid for r in records if r["task"] in ("IngestData", "ValidateData", "SplitData"))
    shown = ws.outputs("reports")[0].read_json("run.json")  # every task of the run, whichever host ran it
    assert len(shown["durations"]) == 7 + len(POINTS) and not shown["already_complete"]
    assert {bool(d["worker"]) for d in shown["durations"]} == {True, False}

    (tmp_path / "alone").mkdir()
    alone = S3Workspace(tmp_path / "alone", s3_env)  # a bucket of its own
    alone.toml.write_text(ws.toml.read_text())
    single = alone.run("TrainValidateDeploy", "--model", "logreg_search", DAY)
    assert single.returncode == 0, single.output
    assert result(ws) == result(alone)
    assert result(ws)["production"] == "v0001"
