"""The daily job end to end: the real `luigi` command where the command itself is the point,
Luigi's own entry point in-process elsewhere, on a temporary data dir with the real registry."""
import shutil

import pytest
from conftest import DAY1, DAY2, S3Workspace

pytestmark = pytest.mark.e2e

STAGES = ("raw", "validated", "split", "models", "evaluations", "verdicts", "decisions", "reports")


def snapshot(paths):
    """(path, mtime, size) of every file under the given dirs."""
    return sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size)
                  for p in paths for f in p.rglob("*") if f.is_file())


def test_the_readme_command_promotes_v1_and_a_second_run_does_nothing_and_imports_nothing_heavy(workspace):
    first = workspace.luigi("TrainValidateDeploy")
    assert first.returncode == 0, first.output
    assert first.ran("TrainModel") and first.ran("DeployModel")
    [row] = workspace.registry_list()
    assert (row["dataset"], row["model"], row["version"], row["production"]) == ("digits", "logreg", "v0001", True)
    assert row["metrics"]["accuracy"] >= 0.95

    # Fast start: deciding that nothing needs to run imports none of the heavy libraries, and writes nothing.
    before = snapshot([workspace.data])
    traced = workspace.luigi("TrainValidateDeploy", python_flags=("-X", "importtime"))
    assert traced.returncode == 0, traced.output
    assert "ran successfully" not in traced.output and "complete ones were encountered" in traced.output
    assert snapshot([workspace.data]) == before
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.output.splitlines() if "import time:" in line}
    assert "luigi" in imported
    assert not imported & {"pandas", "sklearn", "numpy", "pyarrow", "joblib", "matplotlib"}


def test_a_full_run_commits_every_stage_and_the_registry_on_either_store(any_store):
    ws = any_store
    run = ws.run("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    assert {stage: len(ws.outputs(stage)) for stage in STAGES} == dict.fromkeys(STAGES, 1)
    assert ws.production() == "v0001"
    assert [e["event"] for e in ws.history()] == ["registered", "promoted"]
    assert ws.store.read_text("runs/durations.jsonl").count("\n") == 9
    [row] = ws.registry_list()
    assert (row["version"], row["status"]) == ("v0001", "production")
    report = ws.main("report")
    assert report.returncode == 0 and "decision: promoted v0001" in report.stdout, report.stderr

    if isinstance(ws, S3Workspace):  # as seen from another host: everything is in the bucket
        assert not ws.data.exists()
        shutil.rmtree(ws.root / "cache")
    again = ws.run("TrainValidateDeploy", DAY1)
    assert again.returncode == 0 and "ran successfully" not in again.output, again.output


def test_failed_training_keeps_earlier_outputs_and_the_rerun_resumes(workspace):
    workspace.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = -1.0 }")
    failed = workspace.luigi("TrainValidateDeploy", DAY1)  # the real command: its exit code and its one line
    assert failed.returncode == 30, failed.output  # [retcode] task_failed
    [headline] = failed.headlines()
    assert "FAILED TrainModel(dataset=digits, date=2026-01-01, model=logreg)" in headline
    assert "'C' parameter" in headline
    kept = [workspace.data / o.key for stage in ("raw", "validated", "split") for o in workspace.outputs(stage)]
    assert len(kept) == 3 and not workspace.outputs("models")
    before = snapshot(kept)
    assert workspace.production() is None

    workspace.replace_config("C = -1.0", "C = 1.0")
    resumed = workspace.run("TrainValidateDeploy", DAY1)
    assert resumed.returncode == 0, resumed.output
    assert not resumed.ran("IngestData") and not resumed.ran("SplitData")
    assert resumed.ran("TrainModel") and resumed.ran("DeployModel")
    assert snapshot(kept) == before
    assert workspace.production() == "v0001"


def test_editing_model_params_retrains_without_reingesting(deployed):
    ws = deployed()
    ws.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = 0.5 }")
    again = ws.run("TrainValidateDeploy", DAY1)
    assert again.returncode == 0, again.output
    assert not again.ran("IngestData") and not again.ran("ValidateData") and not again.ran("SplitData")
    assert again.ran("TrainModel") and again.ran("EvaluateModel") and again.ran("DeployModel")
    assert len(ws.outputs("models")) == 2 and len(ws.outputs("raw")) == 1
    assert [r["version"] for r in ws.registry_list()] == ["v0001", "v0002"]


def test_editing_checks_revalidates_without_resplitting_or_retraining(deployed):
    ws = deployed()
    ws.replace_config("min_rows = 1000", "min_rows = 1001")
    again = ws.run("TrainValidateDeploy", DAY1)
    assert again.returncode == 0, again.output
    assert again.ran("ValidateData")
    assert not again.ran("SplitData") and not again.ran("TrainModel") and not again.ran("DeployModel")
    assert [r["version"] for r in ws.registry_list()] == ["v0001"]

    ws.replace_config("min_rows = 1001", "min_rows = 5000")
    failing = ws.run("TrainValidateDeploy", DAY1)
    assert failing.returncode == 30
    [headline] = failing.headlines()
    assert "dataset 'digits': table: min_rows: 1797 usable rows, at least 5000 required" in headline


def test_worse_candidate_is_rejected_and_production_stays(deployed):
    ws = deployed()
    # A heavily regularised model: still above the floor, clearly worse than production.
    ws.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.5 }")
    ws.replace_config("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = 0.0001 }")
    worse = ws.run("TrainValidateDeploy", DAY2)
    assert worse.returncode == 0, worse.output
    assert ws.production() == "v0001"
    [rejected] = [e for e in ws.history() if e["event"] == "rejected"]
    assert rejected["version"] == "v0002"
    reason = rejected["reasons"][-1]
    assert reason.startswith("balanced_accuracy 0.") and "vs production v0001 0.9777: beyond tolerance 0.01" in reason
    decision = ws.read_json("decisions", "2026-01-02", "decision.json")
    assert (decision["decision"], decision["production_before"], decision["production_after"]) == \
        ("rejected", "v0001", "v0001")
    assert "digits/logreg v0002 rejected, production stays v0001: " in worse.output
    assert {r["version"]: r["status"] for r in ws.registry_list()} == {"v0001": "production", "v0002": "rejected"}


def test_metric_floor_rejects_the_first_candidate(workspace):
    workspace.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.9999 }")
    run = workspace.run("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    assert workspace.production() is None
    verdict = workspace.read_json("verdicts", "2026-01-01", "verdict.json")
    assert not verdict["passed"] and verdict["reasons"][0].endswith("< 0.9999")
    assert verdict["note"] == "no production model yet: floors and baseline only"


def test_rollback_restores_the_previous_version_on_either_store(any_store):
    ws = any_store
    assert ws.run("TrainValidateDeploy", DAY1).returncode == 0
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0
    assert ws.production() == "v0002"

    proc = ws.main("registry", "rollback", "--reason", "bad predictions in the field")
    assert (proc.returncode, proc.stdout.strip()) == (0, "digits/logreg: rolled back from v0002 to v0001"), proc.stderr
    assert ws.production() == "v0001"
    assert ws.history()[-1] | {"at": None} == {
        "at": None, "dataset": "digits", "model": "logreg", "event": "rolled_back", "version": "v0001",
        "previous": "v0002", "reason": "bad predictions in the field"}

    nothing_left = ws.main("registry", "rollback")
    assert nothing_left.returncode == 1
    assert nothing_left.stderr.strip() == ("error: digits/logreg: v0001 is the first production version; "
                                          "there is no earlier one to roll back to")
    assert ws.production() == "v0001"


def test_unknown_dataset_fails_with_clear_message(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--dataset", "nosuch")
    assert run.returncode == 35, run.output  # [retcode] scheduling_error
    [headline] = run.headlines()
    assert "CANNOT SCHEDULE TrainValidateDeploy(dataset=nosuch" in headline
    assert "no dataset named 'nosuch' (known: breast_cancer, diabetes, digits, iris, wine)" in headline


@pytest.mark.parametrize("option, name", [("--dataset", "../../etc"), ("--model", "../../../x"),
                                          ("--dataset", "/tmp/abs")])
def test_names_cannot_escape_data_dir(workspace, option, name):
    run = workspace.luigi("TrainValidateDeploy", option, name)
    assert run.returncode == 40, run.output  # refused while parsing the command line
    assert f"name {name!r} is not allowed: use letters, digits, '_' and '-'" in run.output
    assert not workspace.data.exists()
    assert not (workspace.root / "etc").exists()


def test_unparseable_parameter_is_an_unhandled_error_said_in_one_line(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--date", "yesterday")
    assert run.returncode == 40, run.output  # [retcode] unhandled_exception
    assert "error: time data 'yesterday' does not match format '%Y-%m-%d'" in run.output
    assert "Traceback" not in run.output
    assert not workspace.data.exists()


def test_a_changed_model_file_is_refused_by_every_loader(deployed, tmp_path):
    ws = deployed()
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0
    model_file = ws.registry_dir() / "v0002" / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[-20] ^= 0xFF
    model_file.write_bytes(bytes(data))  # tampered with after registration, same size

    sample = tmp_path / "rows.csv"
    sample.write_text(",".join(f"pixel_{i}_{j}" for i in range(8) for j in range(8)) + "\n" + ",".join(["0"] * 64))
    predict = ws.main("predict", "--input", str(sample), "--output", str(tmp_path / "out.csv"))
    assert predict.returncode == 1 and f"{model_file}: sha256 " in predict.stderr
    assert "differs from its manifest" in predict.stderr and "refusing to load a changed model" in predict.stderr
    assert not (tmp_path / "out.csv").exists()

    promote = ws.main("registry", "promote", "v0001")  # the intact version goes live by hand ...
    assert promote.returncode == 0, promote.stderr
    back = ws.main("registry", "rollback")  # ... and rolling back to the changed one is refused
    assert back.returncode == 1 and "refusing to load a changed model" in back.stderr
    assert ws.production() == "v0001"

    # the gate never loads it either: a candidate is compared with the live, intact v0001
    ws.replace_config("C = 0.5 }", "C = 0.7 }")
    gate = ws.run("TrainValidateDeploy", "--date=2026-01-03")
    assert gate.returncode == 0, gate.output
    assert ws.read_json("verdicts", "2026-01-03", "verdict.json")["production_version"] == "v0001"
