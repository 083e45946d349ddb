"""Grid fan-out on Luigi workers, and reuse of a fitted model when the content has not changed."""
import json

import pandas as pd
import pytest
from conftest import FAULTS

pytestmark = pytest.mark.e2e

DAY1, DAY2 = "--date=2026-01-01", "--date=2026-01-02"

SEARCH = """
[models.logreg_search]
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 2000 }
grid = { C = [0.0003, 0.03, 3.0] }
cv_folds = 3
"""


def card(workspace, date: str, model: str = "logreg") -> dict:
    return json.loads(next((workspace.data / "models" / "digits" / model / date).glob("*/card.json")).read_text())


def test_grid_points_run_as_tasks_on_two_workers_and_the_best_cv_score_wins(workspace):
    workspace.add_config(SEARCH)
    run = workspace.luigi("TrainValidateDeploy", "--model", "logreg_search", DAY1, "--workers", "2")
    assert run.returncode == 0, run.output
    assert "3 CrossValidate(dataset=digits, date=2026-01-01, model=logreg_search, point=" in run.output
    assert "Worker(salt=" in run.output and "workers=2" in run.output

    search = card(workspace, "2026-01-01", "logreg_search")["search"]
    assert [p["point"] for p in search["points"]] == [{"C": 0.0003}, {"C": 0.03}, {"C": 3.0}]
    assert search["scoring"] == "accuracy" and search["folds"] == 3

    # the same 3-fold search, by hand, on the training split only
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.read_parquet(next((workspace.data / "split" / "digits").rglob("train.parquet")))
    X, y = train.drop(columns=["target"]), train["target"]
    folds = StratifiedKFold(3, shuffle=True, random_state=42)
    expected = {C: cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)),
                                   X, y, cv=folds).mean() for C in (0.0003, 0.03, 3.0)}
    assert {p["point"]["C"]: p["cv"]["mean"] for p in search["points"]} == pytest.approx(expected, abs=1e-9)
    best = max(expected, key=expected.get)
    assert search["best"] == {"C": best}
    assert card(workspace, "2026-01-01", "logreg_search")["model_spec"]["params"] == {"max_iter": 2000, "C": best}
    assert workspace.production("digits", "logreg_search") == "v0001"


def test_unchanged_content_reuses_the_fitted_model_instead_of_fitting(workspace):
    assert workspace.luigi("TrainValidateDeploy", DAY1).returncode == 0
    # any fit in the second run would kill it: it must not fit at all
    same = workspace.luigi("TrainValidateDeploy", DAY2, env={"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": "fit"})
    assert same.returncode == 0, same.output
    assert same.ran("IngestData") and same.ran("TrainModel")
    reused = card(workspace, "2026-01-02")
    first = card(workspace, "2026-01-01")
    assert reused["reused_from"]["candidate_id"] == first["candidate_id"]
    assert reused["date"] == "2026-01-02" and reused["model_sha256"] == first["model_sha256"]
    assert [r["version"] for r in workspace.registry_list()] == ["v0001"]  # the same model, not a new version
    decision = json.loads(next((workspace.data / "decisions").rglob("2026-01-02/*/decision.json")).read_text())
    assert decision["production_after"] == "v0001" and "already in production" in decision["reasons"][-1]


@pytest.mark.parametrize("change", ["params", "split seed", "package version", "data"])
def test_reuse_stops_when_anything_in_the_content_changes(workspace, tmp_path, change):
    from samples import CUSTOMERS_BLOCK, customers

    source = tmp_path / "customers.csv"
    customers().to_csv(source, index=False)
    workspace.add_config(CUSTOMERS_BLOCK.format(path=source))
    args = ("TrainValidateDeploy", "--dataset", "customers")
    assert workspace.luigi(*args, DAY1).returncode == 0
    env = {}
    if change == "params":
        workspace.replace_config("C = 1.0 }", "C = 0.5 }")
    elif change == "split seed":
        workspace.add_config('[datasets.customers.split]\nseed = 7')
    elif change == "package version":
        env = {"PYTHONPATH": FAULTS, "PIPELINE_TEST_PACKAGE_VERSION": "scikit-learn=0.0"}
    else:
        customers(seed=3).to_csv(source, index=False)
    again = workspace.luigi(*args, DAY2, env=env)
    assert again.returncode == 0, again.output
    refit = json.loads(next((workspace.data / "models" / "customers").rglob("2026-01-02/*/card.json")).read_text())
    assert "reused_from" not in refit
