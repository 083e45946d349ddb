"""Any ordinary CSV trains by config alone; bad data fails loudly and touches nothing."""
import json

import pandas as pd
import pytest
from samples import CUSTOMERS_BLOCK, customers

pytestmark = pytest.mark.e2e


def test_csv_with_text_columns_and_missing_values_trains_and_deploys(workspace, tmp_path):
    source = tmp_path / "customers.csv"
    customers().to_csv(source, index=False)
    source_bytes = source.read_bytes()
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source))

    for model in ("logreg", "random_forest"):
        run = workspace.run("TrainValidateDeploy", "--dataset", "customers", "--model", model)
        assert run.returncode == 0, run.output
        assert workspace.production("customers", model) == "v0001"
    assert source.read_bytes() == source_bytes  # the source is never modified

    report = json.loads(next((workspace.data / "validated").rglob("report.json")).read_text())
    assert report["rows_dropped_missing_target"] == 5 and report["rows_usable"] == 395
    manifest = json.loads(next((workspace.data / "raw").rglob("manifest.json")).read_text())
    assert manifest["rows"] == 400 and manifest["source"]["source"] == str(source)
    assert len(manifest["source"]["sha256"]) == 64

    new = customers(n=25, seed=1).drop(columns=["churned"])
    new.to_csv(tmp_path / "new.csv", index=False)
    proc = workspace.main("predict", "--dataset", "customers", "--model", "logreg",
                         "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "scored.parquet"))
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == 25 and set(scored["prediction"]) <= {"yes", "no"}
    assert (scored["model_version"] == "v0001").all()

    missing = workspace.main("predict", "--dataset", "customers", "--model", "logreg",
                            "--input", str(tmp_path / "new.csv"), "--output", str(tmp_path / "x.csv"))
    assert missing.returncode == 0
    new.drop(columns=["plan"]).to_csv(tmp_path / "noplan.csv", index=False)
    bad = workspace.main("predict", "--dataset", "customers", "--model", "logreg",
                        "--input", str(tmp_path / "noplan.csv"), "--output", str(tmp_path / "y.csv"))
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"error: {tmp_path / 'noplan.csv'}: missing column(s) the model needs: plan"
    assert not (tmp_path / "y.csv").exists()


@pytest.mark.parametrize("dataset, model, metric, floor", [
    ("diabetes", "ridge", "r2", 0.3),
    ("digits", "kmeans", "v_measure", 0.6),
    ("iris", "random_forest", "accuracy", 0.85),
])
def test_each_problem_kind_deploys(workspace, dataset, model, metric, floor):
    run = workspace.run("TrainValidateDeploy", "--dataset", dataset, "--model", model)
    assert run.returncode == 0, run.output
    [row] = workspace.registry_list()
    assert row["production"] and row["metrics"][metric] >= floor


def test_parquet_over_http_is_snapshotted_and_trains(workspace, http_files, tmp_path):
    base_url, files = http_files
    customers().to_parquet(tmp_path / "c.parquet", index=False)
    files["/exports/customers.parquet"] = (tmp_path / "c.parquet").read_bytes()
    workspace.add_config(CUSTOMERS_BLOCK.format(path=f"{base_url}/exports/customers.parquet"))

    run = workspace.run("TrainValidateDeploy", "--dataset", "customers")
    assert run.returncode == 0, run.output
    assert workspace.production("customers") == "v0001"
    manifest = json.loads(next((workspace.data / "raw").rglob("manifest.json")).read_text())
    assert manifest["source"]["bytes"] == len(files["/exports/customers.parquet"])


def test_schema_change_is_gated_on_floors_when_production_cannot_score(workspace, tmp_path):
    source = tmp_path / "customers.csv"
    customers().to_csv(source, index=False)
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source).replace(', plan = "string"', ""))
    assert workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-01").returncode == 0

    customers().drop(columns=["region"]).to_csv(source, index=False)  # an upstream export dropped a column
    run = workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-02")
    assert run.returncode == 0, run.output
    verdict = json.loads(next((workspace.data / "verdicts").rglob("2026-01-02/*/verdict.json")).read_text())
    assert verdict["passed"]
    assert verdict["note"] == "production v0001 needs column(s) today's data lacks (region): floors and baseline only"
    assert workspace.production("customers") == "v0002"


def test_gate_compares_on_test_rows_production_was_not_fitted_on(workspace, tmp_path):
    """When the data grows, rows trade sides between dates; production's training rows are left out."""
    source = tmp_path / "customers.csv"
    everyone = customers(n=600)
    everyone.iloc[:400].to_csv(source, index=False)
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source))
    assert workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-01").returncode == 0

    everyone.to_csv(source, index=False)
    run = workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-02")
    assert run.returncode == 0, run.output

    def split(date, part):
        return pd.read_parquet(next((workspace.data / "split" / "customers" / date).glob(f"*/{part}.parquet")))

    def as_text(frame):  # each row's values as one string; NaN reads "nan" on both days
        return frame[list(everyone.columns)].apply(lambda row: repr(row.tolist()), axis=1)

    seen = as_text(split("2026-01-01", "train"))
    test = as_text(split("2026-01-02", "test"))
    unseen = int((~test.isin(set(seen))).sum())
    assert 0 < unseen < len(test)  # the reshuffle put some of yesterday's training rows in today's test
    verdict = json.loads(next((workspace.data / "verdicts").rglob("2026-01-02/*/verdict.json")).read_text())
    assert verdict["note"] == f"compared with production v0001 on {unseen} test rows it was not fitted on"
    assert verdict["production_metrics"]["n_samples"] == unseen


def test_a_dataset_source_can_be_an_s3_object(s3_workspace):
    ws = s3_workspace
    source = f"s3://{ws.bucket}/exports/iris.csv"
    ws.add_config(f'[datasets.iris_s3]\nsource = "{source}"\ntarget = "target"\nproblem = "classification"\n')
    waiting = ws.run("TrainValidateDeploy", "--dataset", "iris_s3", "--date=2026-01-01")
    assert waiting.returncode == 20, waiting.output
    assert f"MISSING DATA SourceFile(path={source}): {source} does not exist (yet?)" in waiting.output

    from sklearn.datasets import load_iris

    from pipeline.storage import locate

    store, key = locate(source)  # the bucket, outside the pipeline's prefix
    store.write_bytes(key, load_iris(as_frame=True).frame.to_csv(index=False).encode())
    run = ws.run("TrainValidateDeploy", "--dataset", "iris_s3", "--date=2026-01-01")
    assert run.returncode == 0, run.output
    [raw] = ws.outputs("raw")
    assert raw.manifest()["source"]["source"] == source and raw.manifest()["rows"] == 150
    assert ws.production("iris_s3", "logreg") == "v0001"
