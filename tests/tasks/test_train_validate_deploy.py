"""End to end: the real `luigi` command, a temporary data dir, the real registry."""
import json

import pytest

pytestmark = pytest.mark.e2e

DAY1, DAY2 = "--date=2026-01-01", "--date=2026-01-02"


def snapshot(paths):
    """(path, mtime, size) of every file under the given output dirs."""
    return sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size)
                  for p in paths for f in p.rglob("*") if f.is_file())


def test_default_run_promotes_v1_and_a_second_run_does_nothing(workspace):
    first = workspace.luigi("TrainValidateDeploy")
    assert first.returncode == 0, first.output
    assert first.ran("TrainModel") and first.ran("DeployModel")

    [row] = workspace.registry_list()
    assert (row["dataset"], row["model"], row["version"]) == ("digits", "logreg", "v0001")
    assert row["production"] is True
    assert row["metrics"]["accuracy"] >= 0.95

    before = snapshot([workspace.data])
    second = workspace.luigi("TrainValidateDeploy")
    assert second.returncode == 0, second.output
    assert "ran successfully" not in second.output
    assert "complete ones were encountered" in second.output
    assert snapshot([workspace.data]) == before

    # Fast start: deciding that nothing needs to run imports none of the heavy libraries.
    traced = workspace.luigi("TrainValidateDeploy", python_flags=("-X", "importtime"))
    assert traced.returncode == 0 and "complete ones were encountered" in traced.output
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.output.splitlines() if "import time:" in line}
    assert "luigi" in imported
    assert not imported & {"pandas", "sklearn", "numpy", "pyarrow", "joblib", "matplotlib"}


def test_failed_training_keeps_earlier_outputs_and_rerun_resumes(workspace):
    workspace.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = -1.0 }")
    failed = workspace.luigi("TrainValidateDeploy", DAY1)
    assert failed.returncode == 30, failed.output  # [retcode] task_failed
    assert "FAILED TrainModel" in failed.output and "'C' parameter" in failed.output
    kept = workspace.outputs("raw") + workspace.outputs("validated") + workspace.outputs("split")
    assert len(kept) == 3 and not workspace.outputs("models")
    before = snapshot(kept)
    assert workspace.production() is None

    workspace.replace_config("C = -1.0", "C = 1.0")
    resumed = workspace.luigi("TrainValidateDeploy", DAY1)
    assert resumed.returncode == 0, resumed.output
    assert not resumed.ran("IngestData") and not resumed.ran("SplitData")
    assert resumed.ran("TrainModel") and resumed.ran("DeployModel")
    assert snapshot(kept) == before
    assert workspace.production() == "v0001"


def test_editing_model_params_retrains_without_reingesting(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    workspace.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = 0.5 }")
    again = workspace.luigi("TrainValidateDeploy", DAY1)
    assert again.returncode == 0, again.output
    assert not again.ran("IngestData") and not again.ran("ValidateData") and not again.ran("SplitData")
    assert again.ran("TrainModel") and again.ran("EvaluateModel") and again.ran("DeployModel")
    assert len(workspace.outputs("models")) == 2 and len(workspace.outputs("raw")) == 1
    assert [r["version"] for r in workspace.registry_list()] == ["v0001", "v0002"]


def test_worse_candidate_is_rejected_and_production_stays(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    # A heavily regularised model: still above the floor, clearly worse than production.
    workspace.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.5 }")
    workspace.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = 0.0001 }")
    worse = workspace.luigi("TrainValidateDeploy", DAY2)
    assert worse.returncode == 0, worse.output
    assert workspace.production() == "v0001"
    rejected = [e for e in workspace.history() if e["event"] == "rejected"]
    assert rejected and rejected[0]["version"] == "v0002"
    assert "vs production v0001" in rejected[0]["reasons"][-1]
    decision = json.loads(next((workspace.data / "decisions").rglob("2026-01-02/*/decision.json")).read_text())
    assert decision["decision"] == "rejected" and decision["production_after"] == "v0001"
    statuses = {r["version"]: r["status"] for r in workspace.registry_list()}
    assert statuses == {"v0001": "production", "v0002": "rejected"}


def test_metric_floor_rejects_first_candidate(workspace):
    workspace.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.9999 }")
    run = workspace.luigi("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    assert workspace.production() is None
    assert "rejected" in run.output and "< 0.9999" in run.output


def test_rollback_restores_previous_version(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    workspace.replace_config("C = 1.0 }", "C = 0.5 }")
    assert workspace.luigi("TrainValidateDeploy", DAY2).returncode == 0
    assert workspace.production() == "v0002"

    proc = workspace.cli("registry", "rollback", "--reason", "bad predictions in the field")
    assert proc.returncode == 0, proc.stderr
    assert "v0002 to v0001" in proc.stdout
    assert workspace.production() == "v0001"
    last = workspace.history()[-1]
    assert (last["event"], last["version"], last["reason"]) == ("rolled_back", "v0001", "bad predictions in the field")

    nothing_left = workspace.cli("registry", "rollback")
    assert nothing_left.returncode == 1 and "no earlier one" in nothing_left.stderr
    assert workspace.production() == "v0001"


def test_unknown_dataset_fails_with_clear_message(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--dataset", "nosuch")
    assert run.returncode == 35, run.output  # [retcode] scheduling_error
    assert "CANNOT SCHEDULE TrainValidateDeploy(dataset=nosuch" in run.output
    assert "no dataset named 'nosuch' (known: breast_cancer, diabetes, digits, iris, wine)" in run.output


@pytest.mark.parametrize("option, name", [("--dataset", "../../etc"), ("--model", "../../../x"),
                                          ("--dataset", "/tmp/abs")])
def test_names_cannot_escape_data_dir(workspace, option, name):
    run = workspace.luigi("TrainValidateDeploy", option, name)
    assert run.returncode == 40, run.output  # refused while parsing the command line
    assert f"name {name!r} is not allowed: use letters, digits, '_' and '-'" in run.output
    assert not workspace.data.exists()
    assert not (workspace.root / "etc").exists()


def test_editing_checks_revalidates_without_resplitting_or_retraining(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    workspace.replace_config("min_rows = 1000", "min_rows = 1001")
    again = workspace.luigi("TrainValidateDeploy", DAY1)
    assert again.returncode == 0, again.output
    assert again.ran("ValidateData")
    assert not again.ran("SplitData") and not again.ran("TrainModel") and not again.ran("DeployModel")
    assert [r["version"] for r in workspace.registry_list()] == ["v0001"]

    workspace.replace_config("min_rows = 1001", "min_rows = 5000")
    failing = workspace.luigi("TrainValidateDeploy", DAY1)
    assert failing.returncode == 30
    assert "dataset 'digits': table: min_rows: 1797 usable rows, at least 5000 required" in failing.output


def test_unparseable_parameter_is_an_unhandled_error(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--date", "yesterday")
    assert run.returncode == 40, run.output  # [retcode] unhandled_exception
    assert "ValueError: time data 'yesterday' does not match format '%Y-%m-%d'" in run.output
    assert not workspace.data.exists()


def test_a_changed_model_file_is_refused_by_every_loader(workspace, tmp_path):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    workspace.replace_config("C = 1.0 }", "C = 0.5 }")
    assert workspace.luigi("TrainValidateDeploy", DAY2).returncode == 0
    model_file = workspace.registry_dir() / "v0002" / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # tampered with after registration

    sample = tmp_path / "rows.csv"
    sample.write_text(",".join(f"pixel_{i}_{j}" for i in range(8) for j in range(8)) + "\n" + ",".join(["0"] * 64))
    predict = workspace.cli("predict", "--input", str(sample), "--output", str(tmp_path / "out.csv"))
    assert predict.returncode == 1 and "differs from its card" in predict.stderr
    assert not (tmp_path / "out.csv").exists()

    workspace.replace_config("C = 0.5 }", "C = 0.7 }")
    gate = workspace.luigi("TrainValidateDeploy", DAY2)
    assert gate.returncode == 30 and "FAILED ValidateModel" in gate.output
    assert "refusing to load a changed model" in gate.output

    assert workspace.cli("registry", "rollback").returncode == 0  # v0001 is intact
    promote = workspace.cli("registry", "promote", "v0002")
    assert promote.returncode == 1 and "refusing to load a changed model" in promote.stderr
    assert workspace.production() == "v0001"
