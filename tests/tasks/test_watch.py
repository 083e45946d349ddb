"""Late and missed runs: a late alert while a slow task still runs, and `check` for a cron job
that never started."""
from __future__ import annotations

import datetime as dt
import time

import pytest

pytestmark = pytest.mark.e2e


def test_a_long_fit_says_how_long_it_has_taken_and_is_alerted_as_late_while_it_runs(workspace, webhook):
    workspace.add_cfg("[late_after]\nTrainModel = 1s\nrun = 2s\n[pipeline]\nprogress_every = 1\n")
    with workspace.held("TrainValidateDeploy", "--date=2026-01-01", at="fit") as held:  # the fit waits here
        started = time.time()
        while len([e for e in webhook.events() if e == "late"]) < 2 and time.time() < started + 30:
            time.sleep(0.2)
        late = [post for post in webhook.posts if post["event"] == "late"]
        assert len(late) == 2, webhook.events()
        time.sleep(max(0.0, started + 2.6 - time.time()))  # and long enough for two progress lines
    assert held.run.returncode == 0 and "WARNING pipeline: LATE TrainModel(" in held.run.output
    progress = [line for line in held.run.output.splitlines()
                if "INFO pipeline: TrainModel(dataset=digits, date=2026-01-01, model=logreg): fitting " in line]
    assert len(progress) >= 2, held.run.output[-2000:]  # a line a second while the fit waits
    assert progress[0].endswith("fitting sklearn.linear_model.LogisticRegression on 1347 rows (0m 1s elapsed)")
    texts = sorted(post["text"] for post in late)
    assert texts[0] == ("[luigi-ml-pipeline] late: TrainModel(dataset=digits, date=2026-01-01, model=logreg) has been "
                        "running for more than 0m 1s ([late_after] in luigi.cfg)")
    assert texts[1].startswith("[luigi-ml-pipeline] late: the run `luigi --module pipeline TrainValidateDeploy")
    task_alert = next(post for post in late if post["task_id"])
    assert (task_alert["dataset"], task_alert["model"], task_alert["date"]) == ("digits", "logreg", "2026-01-01")


def test_check_passes_a_fresh_deployment_and_fails_and_alerts_a_stale_or_missing_one(deployed, webhook):
    ws = deployed()
    fresh = ws.main("check", "--max-age", "26h", "--dataset", "digits")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.startswith("ok digits/logreg: last successful run ")

    stale = ws.main("check", "--max-age", "0s")  # every configured deployment
    assert stale.returncode == 1
    lines = stale.stdout.splitlines()
    assert lines[0].startswith("STALE digits/logreg: its last successful run was ") and lines[0].endswith(
        "more than 0m 0s")
    assert lines[1:] == ["STALE breast_cancer/best: no successful run yet; no model in production",
                         "STALE diabetes/best: no successful run yet; no model in production"]
    alerts = [post for post in webhook.posts if post["event"] == "stale"]
    assert len(alerts) == 3
    assert alerts[1]["text"] == ("[luigi-ml-pipeline] stale: breast_cancer/best: no successful run yet; "
                                        "no model in production")

    bad = ws.main("check", "--max-age", "a day")
    assert (bad.returncode, bad.stderr) == (1, "error: --max-age / --max-model-age: 'a day' is not a duration "
                                               "(write it like 26h, 90m, 1d12h or 45s)\n")


def test_a_model_trained_too_long_ago_is_stale_even_when_runs_succeed(deployed):
    from pipeline import freshness

    ws = deployed()
    with ws.configured():
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=9)
        result = freshness.check("digits", "logreg", max_age=10 * 86400, max_model_age=8 * 86400, now=later)
    [reason] = result["stale"]
    assert reason.startswith("production v0001 was trained 9d 0h ago") and reason.endswith("more than 8d 0h")


def test_each_attempt_has_its_log_with_warnings_and_a_failures_traceback(workspace):
    workspace.add_config('[models.short]\nestimator = "sklearn.linear_model.LogisticRegression"\n'
                         'params = { max_iter = 2 }\n')
    assert workspace.run("TrainValidateDeploy", "--model", "short", "--date=2026-01-01").returncode == 0
    shown = workspace.main("logs", "TrainModel", "--model", "short")
    assert shown.returncode == 0, shown.stderr
    assert "ConvergenceWarning: lbfgs failed to converge" in shown.stdout  # scikit-learn's warning, in the log

    (workspace.root / "bad.csv").write_text("a,b\n1,2\n3,4\n")
    workspace.add_config(f'[datasets.bad]\nsource = "{workspace.root / "bad.csv"}"\ntarget = "y"\n'
                         'problem = "classification"\n')
    for _ in range(2):
        assert workspace.run("TrainValidateDeploy", "--dataset", "bad", "--date=2026-01-01").returncode == 30
    listed = workspace.main("logs", "ValidateData", "--dataset", "bad", "--all").stdout.splitlines()
    assert len(listed) == 2  # one file per attempt, both kept
    failed = workspace.main("logs", "ValidateData", "--dataset", "bad").stdout
    assert failed.splitlines()[0] == f"# {listed[-1]}"
    assert "Traceback (most recent call last)" in failed and "DataError: dataset 'bad': column 'y'" in failed

    missing = workspace.main("logs", "TrainModel", "--dataset", "iris")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no logs of TrainModel --dataset iris under ")
