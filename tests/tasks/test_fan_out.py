"""Grid fan-out on Luigi workers, and reuse of a fitted model when the content has not changed."""
import pandas as pd
import pytest
from conftest import DAY1, DAY2

pytestmark = pytest.mark.e2e


SEARCH = """
[models.logreg_search]
estimator = "sklearn.linear_model.LogisticRegression"
params = { max_iter = 2000 }
grid = { C = [0.0003, 0.03, 3.0] }
cv_folds = 3
"""


def card(workspace, date: str, model: str = "logreg", dataset: str = "digits") -> dict:
    return workspace.read_json("models", date, "card.json", dataset, model)


def test_grid_points_run_as_tasks_on_two_workers_and_the_best_cv_score_wins(workspace):
    workspace.add_config(SEARCH)
    run = workspace.luigi("TrainValidateDeploy", "--model", "logreg_search", DAY1, "--workers", "2")
    assert run.returncode == 0, run.output
    assert "3 CrossValidate(dataset=digits, date=2026-01-01, model=logreg_search, point=" in run.output
    assert "Worker(salt=" in run.output and "workers=2" in run.output

    search = card(workspace, "2026-01-01", "logreg_search")["search"]
    assert [p["point"] for p in search["points"]] == [{"C": 0.0003}, {"C": 0.03}, {"C": 3.0}]
    assert search["scoring"] == "balanced_accuracy" and search["folds"] == 3  # what the gate compares on

    # the same 3-fold search, by hand, on the training split only
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = pd.read_parquet(next((workspace.data / "split" / "digits").rglob("train.parquet")))
    X, y = train.drop(columns=["target"]), train["target"]
    folds = StratifiedKFold(3, shuffle=True, random_state=42)
    expected = {C: cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)),
                                   X, y, cv=folds, scoring="balanced_accuracy").mean() for C in (0.0003, 0.03, 3.0)}
    assert {p["point"]["C"]: p["cv"]["mean"] for p in search["points"]} == pytest.approx(expected, abs=1e-9)
    best = max(expected, key=expected.get)
    assert search["best"] == {"C": best}
    assert card(workspace, "2026-01-01", "logreg_search")["model_spec"]["params"] == {"max_iter": 2000, "C": best}
    assert workspace.production("digits", "logreg_search") == "v0001"


def test_unchanged_content_reuses_the_fitted_model_instead_of_fitting(deployed, monkeypatch):
    ws = deployed()

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted although the content did not change")

    monkeypatch.setattr("pipeline.ml.models.fit_model", no_fit)
    same = ws.run("TrainValidateDeploy", DAY2)
    assert same.returncode == 0, same.output
    assert same.ran("IngestData") and same.ran("TrainModel")
    reused = card(ws, "2026-01-02")
    first = card(ws, "2026-01-01")
    assert reused["reused_from"] == {"candidate_id": first["candidate_id"], "trained_at": first["trained_at"],
                                     "output": ws.output("models", "2026-01-01").url}
    assert reused["date"] == "2026-01-02" and reused["model_sha256"] == first["model_sha256"]
    assert reused["candidate_id"] != first["candidate_id"]
    assert [r["version"] for r in ws.registry_list()] == ["v0001"]  # the same model, not a new version
    decision = ws.read_json("decisions", "2026-01-02", "decision.json")
    assert decision["production_after"] == "v0001" and "already in production" in decision["reasons"][-1]


@pytest.mark.parametrize("change", ["params", "split seed", "package version", "data"])
def test_reuse_stops_when_anything_in_the_content_changes(deployed, monkeypatch, change):
    from samples import customers

    ws = deployed("customers")
    if change == "params":
        ws.replace_config("C = 1.0 }", "C = 0.5 }")
    elif change == "split seed":
        ws.add_config('[datasets.customers.split]\nseed = 7')
    elif change == "package version":
        from pipeline import provenance

        real = provenance.package_versions()
        monkeypatch.setattr(provenance, "package_versions", lambda: {**real, "scikit-learn": "0.0"})
    else:
        customers(seed=3).to_csv(ws.root / "customers.csv", index=False)
    again = ws.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert again.returncode == 0, again.output
    assert again.ran("TrainModel")
    assert "reused_from" not in card(ws, "2026-01-02", dataset="customers")
