"""Running it in production: luigid with task history, batch scoring, backfills, reports, invalidate."""
import base64
import datetime as dt
import json
import re
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from conftest import FAULTS, REPO, free_port, running_luigid, tool

pytestmark = pytest.mark.e2e

DAY = "--date=2026-03-01"
PIPELINE_FAMILIES = {"TrainValidateDeploy", "RunReport", "DeployModel", "ValidateModel", "EvaluateModel",
                     "TrainModel", "SplitData", "ValidateData", "IngestData"}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def api(port: int, method: str, **params) -> dict:
    query = urllib.parse.quote(json.dumps(params))
    with NO_PROXY.open(f"http://127.0.0.1:{port}/api/{method}?data={query}", timeout=10) as response:
        return json.loads(response.read())["response"]


@pytest.fixture
def luigid(workspace):
    with running_luigid(workspace) as port:
        yield port


def digits_rows(n: int, seed: int) -> pd.DataFrame:
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.drop(columns=["target"])
    return frame.sample(n, random_state=seed)


def test_run_against_luigid_is_visible_in_its_api_and_task_history(workspace, luigid):
    pause = workspace.root / "paused"
    run = subprocess.Popen(workspace.command("TrainValidateDeploy", DAY, "--scheduler-port", str(luigid), local=False),
                           cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env={**workspace.env, "PYTHONPATH": FAULTS, "PIPELINE_TEST_PAUSE_AT": "fit",
                                "PIPELINE_TEST_PAUSE_FILE": str(pause)})
    try:
        deadline = time.time() + 120
        while not pause.exists():
            assert run.poll() is None and time.time() < deadline
            time.sleep(0.05)
        # while it trains, the visualizer shows its progress and status message
        [(task_id, running)] = api(luigid, "task_list", status="RUNNING", upstream_status="").items()
        assert running["name"] == "TrainModel" and running["progress_percentage"] == 10
        assert running["status_message"].startswith("fitting sklearn.linear_model.LogisticRegression on 1347 rows")
        status = workspace.cli("scheduler", "status")
        assert status.returncode == 0 and "1 running" in status.stdout
    finally:
        pause.unlink(missing_ok=True)
        output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output

    done = api(luigid, "task_list", status="DONE", upstream_status="")
    assert {task["name"] for task in done.values()} == PIPELINE_FAMILIES
    [root] = [task_id for task_id, task in done.items() if task["name"] == "TrainValidateDeploy"]
    graph = api(luigid, "dep_graph", task_id=root)
    edges = {(graph[t]["name"], graph[d]["name"]) for t in graph for d in graph[t]["deps"]}
    assert edges == {("TrainValidateDeploy", "RunReport"), ("RunReport", "DeployModel"),
                     ("RunReport", "ValidateModel"), ("RunReport", "EvaluateModel"), ("RunReport", "ValidateData"),
                     ("RunReport", "SplitData"), ("RunReport", "IngestData"), ("DeployModel", "ValidateModel"),
                     ("DeployModel", "TrainModel"), ("DeployModel", "EvaluateModel"), ("DeployModel", "SplitData"),
                     ("ValidateModel", "EvaluateModel"), ("ValidateModel", "TrainModel"),
                     ("ValidateModel", "SplitData"), ("EvaluateModel", "TrainModel"), ("EvaluateModel", "SplitData"),
                     ("TrainModel", "SplitData"), ("SplitData", "IngestData"), ("SplitData", "ValidateData"),
                     ("ValidateData", "IngestData")}

    with sqlite3.connect(workspace.data / "luigid" / "history.db") as db:
        rows = db.execute("SELECT t.name, e.event_name, e.ts FROM task_events e JOIN tasks t ON e.task_id = t.id"
                          " ORDER BY e.id").fetchall()
    events = {}
    for name, event, ts in rows:
        events.setdefault(name, {})[event] = dt.datetime.fromisoformat(ts)
    assert set(events) == PIPELINE_FAMILIES
    ran = {name: e["DONE"] - e["RUNNING"] for name, e in events.items() if name != "TrainValidateDeploy"}
    assert len(ran) == 8 and all(duration >= dt.timedelta(0) for duration in ran.values())
    assert ran["TrainModel"] > dt.timedelta(seconds=0.05)  # it was paused mid-fit above

    with NO_PROXY.open(f"http://127.0.0.1:{luigid}/history", timeout=10) as page:
        assert "TrainModel" in page.read().decode()

    recorded = [json.loads(line) for line in (workspace.data / "runs" / "durations.jsonl").read_text().splitlines()]
    assert {r["task"] for r in recorded} == PIPELINE_FAMILIES


def test_batch_predict_waits_for_its_file_then_scores_it_with_the_live_version(workspace):
    nothing = workspace.luigi("BatchPredict", DAY)
    assert nothing.returncode == 20, nothing.output  # no model in production, no input
    assert "MISSING DATA ProductionModel(dataset=digits, model=logreg): no model in production" in nothing.output
    assert workspace.luigi("TrainValidateDeploy", "--date=2026-02-28").returncode == 0

    waiting = workspace.luigi("BatchPredict", DAY)
    assert waiting.returncode == 20, waiting.output
    incoming = workspace.data / "incoming" / "digits" / "2026-03-01.csv"
    assert f"MISSING DATA IncomingData(dataset=digits, date=2026-03-01): {incoming} has not arrived" in waiting.output
    assert "ran successfully" not in waiting.output and not (workspace.data / "predictions").exists()

    incoming.parent.mkdir(parents=True)
    digits_rows(25, seed=1).to_csv(incoming, index=False)
    scored = workspace.luigi("BatchPredict", DAY)
    assert scored.returncode == 0, scored.output
    [out] = workspace.outputs("predictions")
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert len(predictions) == 25 and set(predictions["model_version"]) == {"v0001"}
    assert predictions["prediction"].between(0, 9).all()
    assert json.loads((out / "manifest.json").read_text())["model_version"] == "v0001"

    as_csv = workspace.luigi("BatchPredict", DAY, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.output
    assert len(pd.read_csv(next((workspace.data / "predictions").rglob("predictions.csv")))) == 25


def test_range_daily_backfills_thirty_days_of_batch_scoring(workspace):
    assert workspace.luigi("TrainValidateDeploy", "--date=2026-01-01").returncode == 0
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    for i, day in enumerate(days):
        path = workspace.data / "incoming" / "digits" / f"{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        digits_rows(5, seed=i).to_csv(path, index=False)

    backfill = ("RangeDaily", "--of", "BatchPredict", "--start", "2026-01-01", "--stop", "2026-01-31",
                "--days-back", "3650")
    run = workspace.luigi(*backfill)
    assert run.returncode == 0, run.output
    assert len(workspace.outputs("predictions")) == 30
    assert re.search(r"ran successfully:\s+- 30 BatchPredict\(dataset=digits, date=2026-01-01...2026-01-30",
                     run.output), run.output

    again = workspace.luigi(*backfill)
    assert again.returncode == 0 and "BatchPredict" not in again.output.split("Execution Summary")[1]


def test_default_run_writes_an_html_report_and_report_prints_it(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY).returncode == 0
    [out] = workspace.outputs("reports")
    html = (out / "report.html").read_text()
    for heading in ("Dataset", "Metrics", "Gate decision", "Plots", "Task durations"):
        assert f"<h2>{heading}</h2>" in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2  # confusion matrix, accuracy across versions
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    run = json.loads((out / "run.json").read_text())
    assert run["decision"]["decision"] == "promoted" and run["candidate"]["version"] == "v0001"
    assert {d["task"] for d in run["durations"]} == PIPELINE_FAMILIES - {"TrainValidateDeploy", "RunReport"}

    proc = workspace.cli("report")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digits/logreg run of 2026-03-01")
    assert "decision: promoted v0001" in proc.stdout and "registry history" in proc.stdout
    assert f"full report: {out / 'report.html'}" in proc.stdout


def test_invalidate_moves_a_task_and_its_downstream_outputs_and_the_next_run_redoes_them(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY).returncode == 0
    registry_before = {p: p.read_bytes() for p in workspace.registry_dir().rglob("*") if p.is_file()}
    kept = workspace.outputs("raw") + workspace.outputs("validated") + workspace.outputs("split")

    proc = workspace.cli("invalidate", "TrainModel", "--date", "2026-03-01")
    assert proc.returncode == 0, proc.stderr
    moved = [line.split(" -> ")[0].split()[-1] for line in proc.stdout.splitlines()]
    assert [m.split("/data/")[1].split("/")[0] for m in moved] == \
        ["models", "evaluations", "verdicts", "decisions", "reports"]
    assert all((workspace.data / "trash").rglob(f"{stage}/digits/logreg/2026-03-01/*/manifest.json")
               for stage in ("models", "reports"))
    assert workspace.outputs("raw") + workspace.outputs("validated") + workspace.outputs("split") == kept
    assert {p: p.read_bytes() for p in workspace.registry_dir().rglob("*") if p.is_file()} == registry_before

    rerun = workspace.luigi("TrainValidateDeploy", DAY)
    assert rerun.returncode == 0, rerun.output
    assert rerun.ran("TrainModel") and rerun.ran("RunReport") and not rerun.ran("SplitData")
    assert [r["version"] for r in workspace.registry_list()] == ["v0001"]  # the same candidate, not a new version

    unknown = workspace.cli("invalidate", "Training", "--date", "2026-03-01")
    assert unknown.returncode == 1 and "no task 'Training' in a run" in unknown.stderr


def test_luigi_deps_tree_shows_what_would_run(workspace):
    proc = subprocess.run([tool("luigi-deps-tree"), "--module", "pipeline", "TrainValidateDeploy", DAY],
                          cwd=REPO, env=workspace.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    tree = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # without the colours
    assert "└─--[TrainValidateDeploy-{'dataset': 'digits', 'date': '2026-03-01', 'model': 'logreg'} (PENDING)]" in tree
    assert "[TrainModel-{'dataset': 'digits', 'date': '2026-03-01', 'model': 'logreg'} (PENDING)]" in tree


def test_scheduler_commands_ignore_a_stale_pid_and_refuse_a_busy_port(workspace, http_server):
    other = subprocess.Popen(["sleep", "60"])  # what a recorded pid may belong to after a reboot
    try:
        (workspace.data / "luigid").mkdir(parents=True)
        (workspace.data / "luigid" / "server.json").write_text(
            json.dumps({"pid": other.pid, "address": "127.0.0.1", "port": free_port()}))
        status = workspace.cli("scheduler", "status")
        assert status.returncode == 3 and status.stdout.strip() == "luigid is not running"
        assert workspace.cli("scheduler", "stop").stdout.strip() == "luigid is not running"
        assert other.poll() is None  # not signalled
    finally:
        other.kill()
        other.wait()

    with http_server(lambda path: (200, b"")) as (base_url, _):
        port = base_url.rsplit(":", 1)[1]
        busy = workspace.cli("scheduler", "start", "--port", port)
    assert busy.returncode == 1
    assert busy.stderr.strip() == f"error: 127.0.0.1:{port} is already in use by another program; choose another --port"


def test_batch_predict_reads_incoming_files_like_the_source_and_invalidate_rescores(workspace, tmp_path):
    from samples import CUSTOMERS_BLOCK, customers

    source = tmp_path / "customers.csv"
    customers().to_csv(source, index=False, sep=";")
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source).replace('problem = "classification"',
                                                                     'problem = "classification"\nsep = ";"'))
    assert workspace.luigi("TrainValidateDeploy", "--dataset", "customers", "--date=2026-02-28").returncode == 0
    incoming = workspace.data / "incoming" / "customers" / "2026-03-01.csv"
    incoming.parent.mkdir(parents=True)
    customers(n=30, seed=5).drop(columns=["churned"]).to_csv(incoming, index=False, sep=";")
    for fmt in ("parquet", "csv"):
        run = workspace.luigi("BatchPredict", "--dataset", "customers", DAY, "--format", fmt)
        assert run.returncode == 0, run.output
    assert len(workspace.outputs("predictions")) == 2

    proc = workspace.cli("invalidate", "BatchPredict", "--dataset", "customers", "--date", "2026-03-01")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("moved ") == 2 and not workspace.outputs("predictions")
    assert workspace.luigi("BatchPredict", "--dataset", "customers", DAY).returncode == 0
    assert len(workspace.outputs("predictions")) == 1
