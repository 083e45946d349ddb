"""An s3:// data_dir, end to end, against a real S3-compatible server (moto) started on 127.0.0.1.

The runs find the endpoint in luigi.cfg [s3] and each has its own local cache dir; deleting
that cache between runs is what another host would see.
"""
import shutil
import signal

import pandas as pd
import pytest
from conftest import FAULTS

from pipeline.artifacts import ArtifactDir

pytestmark = pytest.mark.e2e

DAY1, DAY2 = "--date=2026-01-01", "--date=2026-01-02"
STAGES = ("raw", "validated", "split", "models", "evaluations", "verdicts", "decisions", "reports")


def test_train_validate_deploy_keeps_every_artifact_and_the_registry_in_s3(s3_workspace):
    ws = s3_workspace
    run = ws.luigi("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    assert {stage: len(ws.outputs(stage)) for stage in STAGES} == dict.fromkeys(STAGES, 1)
    assert ws.production() == "v0001"
    assert [e["event"] for e in ws.history()] == ["registered", "promoted"]
    assert not ws.data.exists()  # nothing went to a local data dir
    assert ws.store.read_text("runs/durations.jsonl").count("\n") == 9

    [row] = ws.registry_list()
    assert (row["version"], row["status"]) == ("v0001", "production")
    report = ws.cli("report")
    assert report.returncode == 0, report.stderr
    assert "v0001" in report.stdout and "full report:" in report.stdout

    shutil.rmtree(ws.root / "cache")  # as seen from another host: everything is in the bucket
    again = ws.luigi("TrainValidateDeploy", DAY1)
    assert again.returncode == 0 and "ran successfully" not in again.output, again.output


@pytest.mark.parametrize("point, redone", [
    ("uploading:models", "TrainModel"),     # the model's files are uploaded, its manifest is not
    ("committing:evaluations", "EvaluateModel"),
    ("history:promoted", "DeployModel"),    # production.json written, its history line not
])
def test_a_killed_run_resumes_from_what_was_committed(s3_workspace, point, redone):
    ws = s3_workspace
    killed = ws.luigi("TrainValidateDeploy", DAY1, env={"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.output
    if point == "uploading:models":
        assert ws.outputs("models") == []
        assert any(key.endswith("/model.joblib") for key in ws.store.keys("models"))  # not an output
    shutil.rmtree(ws.root / "cache", ignore_errors=True)

    rerun = ws.luigi("TrainValidateDeploy", DAY1)
    assert rerun.returncode == 0, rerun.output
    assert rerun.ran(redone) and not rerun.ran("IngestData")
    assert ws.production() == "v0001"
    assert [e["event"] for e in ws.history()] == ["registered", "promoted"]
    assert {stage: len(ws.outputs(stage)) for stage in STAGES} == dict.fromkeys(STAGES, 1)


def test_rollback_in_s3(s3_workspace):
    ws = s3_workspace
    assert ws.luigi("TrainValidateDeploy", DAY1).returncode == 0
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    assert ws.luigi("TrainValidateDeploy", DAY2).returncode == 0
    assert ws.production() == "v0002"

    proc = ws.cli("registry", "rollback", "--reason", "bad predictions in the field")
    assert proc.returncode == 0, proc.stderr
    assert "v0002 to v0001" in proc.stdout
    assert ws.production() == "v0001"
    assert ws.history()[-1] | {"at": None} == {
        "at": None, "dataset": "digits", "model": "logreg", "event": "rolled_back", "version": "v0001",
        "previous": "v0002", "reason": "bad predictions in the field"}


def test_invalidate_moves_outputs_to_the_trash_in_s3_and_the_next_run_redoes_them(s3_workspace):
    ws = s3_workspace
    assert ws.luigi("TrainValidateDeploy", DAY1).returncode == 0
    model_key = ws.outputs("models")[0]
    registry_before = {key: ws.store.read_bytes(key) for key in ws.store.keys("registry")}
    proc = ws.cli("invalidate", "EvaluateModel", "--date", "2026-01-01")
    assert proc.returncode == 0, proc.stderr
    assert [ws.outputs(stage) for stage in ("evaluations", "verdicts", "decisions", "reports")] == [[]] * 4
    assert len([key for key in ws.store.keys("trash") if key.endswith("/manifest.json")]) == 4
    assert ws.outputs("models") == [model_key]
    assert {key: ws.store.read_bytes(key) for key in ws.store.keys("registry")} == registry_before

    rerun = ws.luigi("TrainValidateDeploy", DAY1)
    assert rerun.returncode == 0, rerun.output
    assert rerun.ran("EvaluateModel") and not rerun.ran("TrainModel")
    assert [r["version"] for r in ws.registry_list()] == ["v0001"]


def test_batch_predict_and_predict_read_and_write_s3(s3_workspace, tmp_path):
    ws = s3_workspace
    assert ws.luigi("TrainValidateDeploy", DAY1).returncode == 0
    waiting = ws.luigi("BatchPredict", DAY2)
    incoming = f"{ws.url}/incoming/digits/2026-01-02.csv"
    assert waiting.returncode == 20, waiting.output
    assert f"{incoming} has not arrived" in waiting.output

    from sklearn.datasets import load_digits

    rows = load_digits(as_frame=True).frame.drop(columns=["target"]).sample(30, random_state=3)
    ws.store.write_bytes("incoming/digits/2026-01-02.csv", rows.to_csv(index=False).encode())
    scored = ws.luigi("BatchPredict", DAY2)
    assert scored.returncode == 0, scored.output
    [key] = ws.outputs("predictions")
    output = ArtifactDir(ws.store, key)
    predictions = pd.read_parquet(output / "predictions.parquet")
    assert len(predictions) == 30 and set(predictions["model_version"]) == {"v0001"}
    assert output.manifest()["input"]["source"] == incoming

    by_hand = ws.cli("predict", "--input", incoming, "--output", str(tmp_path / "out.csv"))
    assert by_hand.returncode == 0, by_hand.stderr
    assert pd.read_csv(tmp_path / "out.csv")["prediction"].tolist() == predictions["prediction"].tolist()


def test_a_dataset_source_can_be_an_s3_object(s3_workspace):
    ws = s3_workspace
    source = f"s3://{ws.bucket}/exports/iris.csv"
    ws.add_config(f'[datasets.iris_s3]\nsource = "{source}"\ntarget = "target"\nproblem = "classification"\n')
    waiting = ws.luigi("TrainValidateDeploy", "--dataset", "iris_s3", DAY1)
    assert waiting.returncode == 20, waiting.output
    assert f"MISSING DATA SourceFile(path={source}): {source} does not exist (yet?)" in waiting.output

    from sklearn.datasets import load_iris

    csv = load_iris(as_frame=True).frame.to_csv(index=False).encode()
    from pipeline.storage import locate

    store, key = locate(source)  # the bucket, outside the pipeline's prefix
    store.write_bytes(key, csv)
    run = ws.luigi("TrainValidateDeploy", "--dataset", "iris_s3", DAY1)
    assert run.returncode == 0, run.output
    [raw] = ws.outputs("raw")
    manifest = ArtifactDir(ws.store, raw).manifest()
    assert manifest["source"]["source"] == source and manifest["rows"] == 150
    assert ws.production("iris_s3", "logreg") == "v0001"
