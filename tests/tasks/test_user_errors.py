"""A user's mistake is said in one line, with no traceback; a real bug keeps its traceback."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def lines_of(run) -> list[str]:
    """The output without Luigi's INFO chatter and its execution summary."""
    body = run.output.split("===== Luigi Execution Summary =====")[0]
    return [line for line in body.splitlines() if line.strip() and " INFO " not in line]


@pytest.mark.parametrize("args, code, line", [
    (("TrainValidateDeploy", "--dataset", "digts"), 35,
     "CANNOT SCHEDULE TrainValidateDeploy(dataset=digts, date=2026-01-01, model=logreg): {toml}: no dataset named "
     "'digts'; did you mean 'digits'? (known: breast_cancer, diabetes, digits, iris, wine)"),
    (("TrainValidateDeploy", "--model", "logrge"), 35,
     "CANNOT SCHEDULE TrainValidateDeploy(dataset=digits, date=2026-01-01, model=logrge): {toml}: no model named "
     "'logrge'; did you mean 'logreg'? (known: dbscan, gbr, hist_gb, kmeans, logreg, random_forest, ridge)"),
])
def test_a_mistyped_name_is_one_line_with_a_suggestion_and_no_traceback(workspace, args, code, line):
    run = workspace.run(*args, "--date=2026-01-01")  # Luigi's own entry point, in this process
    assert run.returncode == code
    assert "Traceback" not in run.output
    [said] = lines_of(run)
    assert said.endswith(line.format(toml=workspace.toml))


def test_a_bad_date_and_a_mistyped_task_are_one_line_each(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--date", "2026-13-01")
    assert run.returncode == 40 and "Traceback" not in run.output
    [said] = lines_of(run)
    assert said.endswith("error: time data '2026-13-01' does not match format '%Y-%m-%d'")

    run = workspace.luigi("TrainValidateDeploi")
    assert run.returncode == 1 and "Traceback" not in run.output
    assert run.output.strip().splitlines()[-1] == \
        "error: No task TrainValidateDeploi. Did you mean: TrainValidateDeploy, TrainValidateDeployAll"


def test_bad_data_fails_in_one_line_without_a_traceback(workspace):
    (workspace.root / "bad.csv").write_text("a,b\n1,2\n3,4\n")
    workspace.add_config(f'[datasets.bad]\nsource = "{workspace.root / "bad.csv"}"\ntarget = "y"\n'
                         'problem = "classification"\n')
    run = workspace.run("TrainValidateDeploy", "--dataset", "bad", "--date=2026-01-01")
    assert run.returncode == 30 and "Traceback" not in run.output
    assert run.headlines() == [next(line for line in run.output.splitlines() if "FAILED ValidateData" in line)]


def test_a_real_bug_keeps_its_traceback(workspace):
    workspace.add_config('[models.buggy]\nestimator = "samples.BuggyClassifier"\n')
    run = workspace.run("TrainValidateDeploy", "--model", "buggy", "--date=2026-01-01")
    assert run.returncode == 30
    assert "Traceback (most recent call last)" in run.output and "KeyError: 'missing'" in run.output
