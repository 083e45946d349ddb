"""Running it in production: luigid with task history, batch scoring, backfills, reports, invalidate."""
import base64
import datetime as dt
import json
import re
import sqlite3
import subprocess
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from conftest import REPO, running_luigid, tool

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
    with workspace.held("TrainValidateDeploy", DAY, "--scheduler-port", str(luigid), at="fit", local=False) as run:
        # while it trains, the visualizer shows its progress and status message
        [(task_id, running)] = api(luigid, "task_list", status="RUNNING", upstream_status="").items()
        assert running["name"] == "TrainModel" and running["progress_percentage"] == 10
        assert running["status_message"].startswith("fitting sklearn.linear_model.LogisticRegression on 1347 rows")
        status = workspace.cli("scheduler", "status")
        assert status.returncode == 0 and "1 running" in status.stdout
    assert run.run.returncode == 0, run.run.output

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


def test_batch_predict_waits_for_its_file_then_scores_it_with_the_live_version(any_store, tmp_path):
    ws = any_store
    nothing = ws.run("BatchPredict", DAY)
    assert nothing.returncode == 20, nothing.output  # no model in production, no input
    assert "MISSING DATA ProductionModel(dataset=digits, model=logreg): no model in production" in nothing.output
    assert ws.run("TrainValidateDeploy", "--date=2026-02-28").returncode == 0

    waiting = ws.run("BatchPredict", DAY)
    assert waiting.returncode == 20, waiting.output
    incoming = ws.store.url("incoming/digits/2026-03-01.csv")
    assert f"MISSING DATA IncomingData(dataset=digits, date=2026-03-01): {incoming} has not arrived" in waiting.output
    assert "ran successfully" not in waiting.output and not ws.outputs("predictions")

    rows = digits_rows(25, seed=1)
    ws.store.write_bytes("incoming/digits/2026-03-01.csv", rows.to_csv(index=False).encode())
    scored = ws.run("BatchPredict", DAY)
    assert scored.returncode == 0, scored.output
    [out] = ws.outputs("predictions")
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert len(predictions) == 25 and set(predictions["model_version"]) == {"v0001"}
    assert predictions["prediction"].between(0, 9).all()
    assert (out.manifest()["model_version"], out.manifest()["rows"]) == ("v0001", 25)
    assert out.manifest()["input"]["source"] == incoming

    as_csv = ws.run("BatchPredict", DAY, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.output
    [csv_out] = [o for o in ws.outputs("predictions") if o.listed("predictions.csv")]
    assert pd.read_csv(csv_out / "predictions.csv")["prediction"].tolist() == predictions["prediction"].tolist()

    by_hand = ws.main("predict", "--input", incoming, "--output", str(tmp_path / "out.csv"))
    assert by_hand.returncode == 0, by_hand.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == predictions["prediction"].tolist()


def test_range_daily_backfills_thirty_days_of_batch_scoring(deployed):
    ws = deployed()
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    for i, day in enumerate(days):
        path = ws.data / "incoming" / "digits" / f"{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        digits_rows(5, seed=i).to_csv(path, index=False)

    backfill = ("RangeDaily", "--of", "BatchPredict", "--start", "2026-01-01", "--stop", "2026-01-31",
                "--days-back", "3650")
    run = ws.run(*backfill)
    assert run.returncode == 0, run.output
    assert len(ws.outputs("predictions")) == 30
    assert re.search(r"ran successfully:\s+- 30 BatchPredict\(dataset=digits, date=2026-01-01...2026-01-30",
                     run.output), run.output

    again = ws.run(*backfill)
    assert again.returncode == 0 and "BatchPredict" not in again.output.split("Execution Summary")[1]


def test_the_run_report_shows_what_the_run_decided_and_report_prints_it(deployed, page):
    ws = deployed()
    [out] = ws.outputs("reports")
    html = (out / "report.html").read_text()
    sections = ["Dataset", "Metrics", "Gate decision", "Plots", "Task durations"]
    positions = [html.index(f"<h2>{heading}</h2>") for heading in sections]
    assert positions == sorted(positions)
    metrics = ws.read_json("evaluations", "2026-01-01", "metrics.json")
    assert f"{metrics['accuracy']:.4f}" in html and "sklearn:digits" in html and "1797" in html
    images = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert len(images) == 2  # confusion matrix, accuracy across versions, also beside the page as files
    assert [base64.b64decode(image).decode() for image in images] == \
        [(out / name).read_text() for name in ("confusion_matrix.svg", "metrics_over_dates.svg")]

    run = out.read_json("run.json")
    assert run["decision"] == ws.read_json("decisions", "2026-01-01", "decision.json")
    assert (run["decision"]["decision"], run["candidate"]["version"]) == ("promoted", "v0001")
    assert run["candidate"]["metrics"] == metrics and run["production"] == {"version": None, "metrics": None}
    assert run["data"] | {"fingerprint": None} == {"source": "sklearn:digits", "rows": 1797, "columns": 65,
                                                   "fingerprint": None}
    assert [v["version"] for v in run["versions"]] == ["v0001"] and run["versions"][0]["status"] == "production"
    assert {d["task"] for d in run["durations"]} == PIPELINE_FAMILIES - {"TrainValidateDeploy", "RunReport"}
    assert all(d["seconds"] >= 0 for d in run["durations"])

    # opened from disk in a browser (no luigid: a cron run), its plots load and its log links open
    page.goto((out / "report.html").as_uri())
    assert page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)") == [500, 650]
    logs = page.eval_on_selector_all("a:text-is('log')", "links => links.map(a => a.href)")
    assert len(logs) == 7 and all(link.startswith(ws.data.as_uri() + "/runs/logs/") for link in logs)
    page.click("tr:has-text('TrainModel') >> a:text-is('log')")
    assert "INFO pipeline: digits/logreg: fitted sklearn.linear_model.LogisticRegression" in page.inner_text("body")
    assert page.errors == []

    proc = ws.main("report")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("digits/logreg run of 2026-01-01")
    assert "decision: promoted v0001" in proc.stdout and "registry history" in proc.stdout
    assert f"full report: {out / 'report.html'}" in proc.stdout


def test_invalidate_moves_a_task_and_its_downstream_outputs_and_the_next_run_redoes_them(any_store):
    ws = any_store
    assert ws.run("TrainValidateDeploy", DAY).returncode == 0
    registry_before = {key: ws.store.read_bytes(key) for key in ws.store.keys("registry")}
    kept = {stage: [o.key for o in ws.outputs(stage)] for stage in ("raw", "validated", "split")}

    proc = ws.main("invalidate", "TrainModel", "--date", "2026-03-01")
    assert proc.returncode == 0, proc.stderr
    moved = [line.split(" -> ")[0].split()[-1] for line in proc.stdout.splitlines()]
    assert [m.split("/data/")[1].split("/")[0] for m in moved] == \
        ["models", "evaluations", "verdicts", "decisions", "reports"]
    assert [ws.outputs(stage) for stage in ("models", "evaluations", "verdicts", "decisions", "reports")] == [[]] * 5
    assert len([key for key in ws.store.keys("trash") if key.endswith("/manifest.json")]) == 5
    assert {stage: [o.key for o in ws.outputs(stage)] for stage in kept} == kept
    assert {key: ws.store.read_bytes(key) for key in ws.store.keys("registry")} == registry_before

    rerun = ws.run("TrainValidateDeploy", DAY)
    assert rerun.returncode == 0, rerun.output
    assert rerun.ran("TrainModel") and rerun.ran("RunReport") and not rerun.ran("SplitData")
    report = ws.outputs("reports")[0].read_json("run.json")  # this run's tasks, not the first run's
    assert [d["task"] for d in report["durations"]] == ["TrainModel", "EvaluateModel", "ValidateModel", "DeployModel"]
    assert sorted(report["already_complete"]) == ["IngestData", "SplitData", "ValidateData"]
    assert max(d["seconds"] for d in report["durations"]) <= report["wall_seconds"]
    assert [r["version"] for r in ws.registry_list()] == ["v0001"]  # the same model bytes, not a new version

    unknown = ws.main("invalidate", "Training", "--date", "2026-03-01")
    assert unknown.returncode == 1 and "no task 'Training' in a run" in unknown.stderr


def test_luigi_deps_tree_shows_what_would_run(workspace):
    proc = subprocess.run([tool("luigi-deps-tree"), "--module", "pipeline", "TrainValidateDeploy", DAY],
                          cwd=REPO, env=workspace.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    tree = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # without the colours
    assert "└─--[TrainValidateDeploy-{'dataset': 'digits', 'date': '2026-03-01', 'model': 'logreg'} (PENDING)]" in tree
    assert "[TrainModel-{'dataset': 'digits', 'date': '2026-03-01', 'model': 'logreg'} (PENDING)]" in tree


def test_batch_predict_reads_incoming_files_like_the_source_and_invalidate_rescores(workspace, tmp_path):
    from samples import CUSTOMERS_BLOCK, customers

    source = tmp_path / "customers.csv"
    customers().to_csv(source, index=False, sep=";")
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source).replace('problem = "classification"',
                                                                     'problem = "classification"\nsep = ";"'))
    assert workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-02-28").returncode == 0
    incoming = workspace.data / "incoming" / "customers" / "2026-03-01.csv"
    incoming.parent.mkdir(parents=True)
    customers(n=30, seed=5).drop(columns=["churned"]).to_csv(incoming, index=False, sep=";")
    for fmt in ("parquet", "csv"):
        run = workspace.run("BatchPredict", "--dataset", "customers", DAY, "--format", fmt)
        assert run.returncode == 0, run.output
    assert len(workspace.outputs("predictions")) == 2
    [scored] = [o for o in workspace.outputs("predictions") if o.listed("predictions.parquet")]
    assert set(pd.read_parquet(scored / "predictions.parquet")["prediction"]) <= {"yes", "no"}

    proc = workspace.main("invalidate", "BatchPredict", "--dataset", "customers", "--date", "2026-03-01")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("moved ") == 2 and not workspace.outputs("predictions")
    assert workspace.run("BatchPredict", "--dataset", "customers", DAY).returncode == 0
    assert len(workspace.outputs("predictions")) == 1


def tracking_links(page, luigid: int, dataset: str = "digits") -> dict[str, str]:
    """{task family: its link} for a dataset's tasks, from the "Track Progress" buttons of luigid's
    task list, in a browser."""
    page.goto(f"http://127.0.0.1:{luigid}/")
    page.wait_for_selector('a[title="Track Progress"]', timeout=20000)
    rows = page.eval_on_selector_all('a[title="Track Progress"]', "links => links.map(a => [a.closest('tr').innerText, "
                                                                  "a.href])")
    # a row reads "DONE  TrainModel  dataset=digits, date=..."
    return {text.split()[1]: href for text, href in rows if f"dataset={dataset}," in text}


def opens(page, href: str) -> str:
    response = page.goto(href)
    assert response.status == 200, href
    return page.inner_text("body")


def test_luigid_links_each_task_to_its_log_and_report_and_keeps_a_failure_failed_with_its_reason(workspace, luigid,
                                                                                                  page):
    run = workspace.luigi("TrainValidateDeploy", DAY, "--workers", "2", "--scheduler-port", str(luigid), local=False)
    assert run.returncode == 0, run.output[-2000:]
    done = api(luigid, "task_list", status="DONE", upstream_status="")
    links = {task["name"]: task["tracking_url"] for task in done.values()}
    assert links["TrainModel"].startswith(f"http://localhost:{luigid}/pipeline/runs/logs/TrainModel/digits/logreg/"
                                          f"{DAY.split('=')[1]}/")
    with NO_PROXY.open(links["TrainModel"].replace("localhost", "127.0.0.1"), timeout=10) as response:
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        log = response.read().decode()
    assert "INFO pipeline: digits/logreg: fitted sklearn.linear_model.LogisticRegression" in log
    assert links["RunReport"].endswith("/report.html") and "/pipeline/reports/digits/logreg/" in links["RunReport"]
    with NO_PROXY.open(links["RunReport"].replace("localhost", "127.0.0.1"), timeout=10) as response:
        assert response.read().decode().startswith("<!DOCTYPE html>")
    with pytest.raises(urllib.error.HTTPError) as outside:  # nothing but logs and reports
        NO_PROXY.open(f"http://127.0.0.1:{luigid}/pipeline/runs/logs/../../registry/digits/logreg/production.json",
                      timeout=10)
    assert outside.value.code in (403, 404)

    # in a real browser: luigid's task list links every task; the report renders, its plots load,
    # and its links open the log of each task this run ran (through luigid, relative to the report)
    assert tracking_links(page, luigid) == {name: link for name, link in links.items() if link}  # not the wrapper
    assert opens(page, links["RunReport"]).startswith(f"Run report: digits/logreg {DAY.split('=')[1]}")
    assert page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)") == [500, 650]
    ran = page.eval_on_selector_all("a", "links => links.map(a => [a.closest('tr').cells[0].innerText, a.href])")
    assert [task for task, _ in ran] == ["IngestData", "ValidateData", "SplitData", "TrainModel", "EvaluateModel",
                                         "ValidateModel", "DeployModel"]
    assert ran[3][1] == links["TrainModel"]
    for task, href in ran:
        assert f"INFO pipeline: attempt of {task}(dataset=digits" in opens(page, href)
    assert page.errors == []

    # a failure stays FAILED (retry_delay: a day), its one-line reason first in the error pop-up
    (workspace.root / "bad.csv").write_text("a,b\n1,2\n3,4\n")
    workspace.add_config(f'[datasets.bad]\nsource = "{workspace.root / "bad.csv"}"\ntarget = "y"\n'
                         'problem = "classification"\n')
    run = workspace.luigi("TrainValidateDeploy", "--dataset", "bad", DAY, "--scheduler-port", str(luigid), local=False)
    assert run.returncode == 30
    [(task_id, failed)] = api(luigid, "task_list", status="FAILED", upstream_status="").items()
    assert failed["name"] == "ValidateData"
    error = json.loads(api(luigid, "fetch_error", task_id=task_id)["error"])  # Luigi sends on_failure as JSON
    assert error.startswith("DataError: dataset 'bad': column 'y': target_present: target column not found "
                            "(columns: a, b)\n\nRuntime error:\nTraceback")
    assert workspace.cli("scheduler", "status").stdout.split(": ", 1)[1].startswith("0 running, 7 pending, 1 failed")

    # luigid's Prometheus /metrics: Luigi's task counters and the pipeline's gauges
    with NO_PROXY.open(f"http://127.0.0.1:{luigid}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        metrics = response.read().decode()
    assert 'luigi_task_done_total{family="TrainModel"} 1.0' in metrics
    assert 'luigi_task_failed_total{family="ValidateData"} 1.0' in metrics
    assert 'ml_pipeline_last_run_success{dataset="digits",model="logreg"} 1.0' in metrics
    assert 'ml_pipeline_last_run_success{dataset="bad",model="logreg"} 0.0' in metrics
    age = re.search(r'ml_pipeline_production_age_seconds\{dataset="digits",model="logreg",version="v0001"\} (\S+)',
                    metrics)
    assert age and 0 <= float(age.group(1)) < 600
    assert re.search(r'ml_pipeline_last_run_duration_seconds\{dataset="digits",model="logreg"\} \d', metrics)
    damaged = workspace.data / "registry" / "aaa" / "m" / "production.json"  # listed first: must not hide the rest
    damaged.parent.mkdir(parents=True)
    damaged.write_text("{broken")
    with NO_PROXY.open(f"http://127.0.0.1:{luigid}/metrics", timeout=10) as response:
        assert 'ml_pipeline_production_age_seconds{dataset="digits",model="logreg",version="v0001"}' in \
            response.read().decode()

    # its link opens a page of the violations, which links the failed attempt's log
    failed_page = tracking_links(page, luigid, "bad")["ValidateData"]
    assert failed_page.endswith(f"/pipeline/reports/bad/_validation/{DAY.split('=')[1]}/report.html")
    text = opens(page, failed_page)
    assert text.startswith(f"Validation report: bad {DAY.split('=')[1]}")
    assert "column\trule\tdetail\ny\ttarget_present\ttarget column not found (columns: a, b)" in text
    page.click("a:text-is('log')")
    assert "pipeline.ml.errors.DataError: dataset 'bad': column 'y': target_present" in page.inner_text("body")
    assert f"validation failed; report: {workspace.data / 'reports/bad/_validation'}" in run.output
    said = workspace.main("report", "--dataset", "bad")  # the latest run of the dataset stopped there
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith(f"bad: validation failed on {DAY.split('=')[1]} (at ")
    assert "  - y: target_present: target column not found (columns: a, b)\n" in said.stdout
    page_path = workspace.data / "reports/bad/_validation/2026-03-01/report.html"
    assert said.stdout.rstrip().endswith(f"full report: {page_path}")

