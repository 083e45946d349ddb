"""Every run ends by saying what it did, after Luigi's execution summary."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import DAY1, DAY2

pytestmark = pytest.mark.e2e


def block(run) -> list[str]:
    """The lines after Luigi's execution summary."""
    return [line for line in run.output.split("===== Luigi Execution Summary =====")[-1].splitlines() if line.strip()]


def test_the_real_command_ends_with_the_promotion_and_the_report_path(workspace):
    run = workspace.luigi("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    promoted, report = block(run)
    assert promoted == "digits/logreg 2026-01-01: promoted v0001 (balanced_accuracy 0.9777; previous none)"
    path = re.fullmatch(r"    report: (\S+/reports/digits/logreg/2026-01-01/\w+/report\.html)", report).group(1)
    assert open(path).read().startswith("<!DOCTYPE html>")

    again = workspace.run("TrainValidateDeploy", DAY1)
    assert block(again)[0] == "digits/logreg 2026-01-01: already complete: promoted v0001 (balanced_accuracy " \
                              "0.9777; previous none)"


def test_with_parallel_scheduling_the_run_still_says_what_it_did_and_times_its_tasks(workspace):
    run = workspace.run("TrainValidateDeploy", DAY1, "--parallel-scheduling", "--workers", "2")
    assert run.returncode == 0, run.output
    assert block(run)[0].startswith("digits/logreg 2026-01-01: promoted v0001")
    report = workspace.output("reports", "2026-01-01").read_json("run.json")
    assert len(report["durations"]) == 7 and not report["already_complete"]


def test_a_rejection_a_reuse_and_a_batch_scoring_each_say_so(deployed):
    ws = deployed()
    ws.replace_config("C = 1.0 }", "C = 0.0001 }")
    rejected = ws.run("TrainValidateDeploy", DAY2)
    assert block(rejected)[0] == (
        "digits/logreg 2026-01-02: rejected v0002; production stays v0001: balanced_accuracy 0.8062 vs production "
        "v0001 0.9777: beyond tolerance 0.01 (worse by 0.1714)")
    estimator = ws.output("reports", "2026-01-02").read_json("run.json")["model_card"]["estimator"]
    assert estimator["differs"] == ["C"]  # what the reviewer of the rejection reads first
    assert [(row["value"], row["production"]) for row in estimator["params"] if row["param"] == "C"] == \
        [("0.0001", "1.0")]

    ws.replace_config("C = 0.0001 }", "C = 1.0 }")  # the same content as v0001: the model is taken again
    unchanged = ws.run("TrainValidateDeploy", "--date=2026-01-03")
    assert block(unchanged)[0] == "digits/logreg 2026-01-03: unchanged: v0001 (the same model) stays in production"

    from sklearn.datasets import load_digits

    rows = load_digits(as_frame=True).frame.drop(columns=["target"]).head(25)
    ws.store.write_bytes("incoming/digits/2026-01-03.csv", rows.to_csv(index=False).encode())
    scored = ws.run("BatchPredict", "--date=2026-01-03")
    [line] = block(scored)
    path = re.fullmatch(r"digits/logreg 2026-01-03: scored 25 rows with v0001 -> (\S+/predictions\.parquet)", line)
    assert len(pd.read_parquet(path.group(1))) == 25
