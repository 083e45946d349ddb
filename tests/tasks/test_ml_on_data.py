"""ML that is right on real-shaped data, end to end: clusterers without predict, column roles,
dates, high-cardinality text, the baseline, nested estimators, and one production model per
dataset chosen among model families."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DAY1, DAY2

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------- clustering without predict

def test_dbscan_runs_through_the_real_luigi_command_and_scores_new_rows_inductively(workspace):
    run = workspace.luigi("TrainValidateDeploy", "--model", "dbscan", DAY1)
    assert run.returncode == 0, run.output[-3000:]
    metrics = workspace.read_json("evaluations", "2026-01-01", "metrics.json", "digits", "dbscan")
    assert metrics["kind"] == "clustering" and metrics["n_samples"] == 1797  # fit_on = "all": every row
    assert metrics["v_measure"] > 0.4 and 0 < metrics["noise_fraction"] < 0.6 and metrics["n_clusters"] >= 5
    assert workspace.production("digits", "dbscan") == "v0001"

    # the reference: DBSCAN's own fit_predict on the same scaled rows gives the same labels
    from sklearn.cluster import DBSCAN
    from sklearn.datasets import load_digits
    from sklearn.metrics import v_measure_score
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    labels = DBSCAN(eps=4.0, min_samples=5).fit_predict(StandardScaler().fit_transform(X))
    assert metrics["v_measure"] == pytest.approx(v_measure_score(y, labels), abs=1e-9)
    assert metrics["noise_fraction"] == pytest.approx((labels == -1).mean())

    # new rows: the inductive classifier assigns them to the clusters
    rows = pd.DataFrame(X[:50], columns=[f"pixel_{i // 8}_{i % 8}" for i in range(64)])
    rows.to_csv(workspace.root / "new.csv", index=False)
    scored = workspace.cli("predict", "--model", "dbscan", "--input", str(workspace.root / "new.csv"),
                           "--output", str(workspace.root / "out.parquet"))
    assert scored.returncode == 0, scored.stderr
    predicted = pd.read_parquet(workspace.root / "out.parquet")["prediction"].to_numpy()
    assert (predicted == labels[:50]).mean() > 0.9


AGGLOMERATIVE = """
[models.ward]
estimator = "sklearn.cluster.AgglomerativeClustering"
params = { n_clusters = 10 }
fit_on = "all"

[gates."digits.ward"]
v_measure = { min = 0.5 }
"""


def test_a_clusterer_without_predict_deploys_and_predict_refuses_new_rows_saying_why(workspace):
    workspace.add_config(AGGLOMERATIVE)
    run = workspace.run("TrainValidateDeploy", "--model", "ward", DAY1)
    assert run.returncode == 0, run.output
    metrics = workspace.read_json("evaluations", "2026-01-01", "metrics.json", "digits", "ward")
    assert metrics["n_clusters"] == 10 and metrics["v_measure"] > 0.7 and "noise_fraction" not in metrics

    # the second day is gated against production's registered metrics (it cannot label other rows)
    run = workspace.run("TrainValidateDeploy", "--model", "ward", DAY2)
    assert run.returncode == 0, run.output
    verdict = workspace.read_json("verdicts", "2026-01-02", "verdict.json", "digits", "ward")
    assert "labels only the rows it was fitted on (no predict)" in verdict["note"]

    pd.DataFrame({f"pixel_{i // 8}_{i % 8}": [0.0] for i in range(64)}).to_csv(workspace.root / "new.csv", index=False)
    refused = workspace.main("predict", "--model", "ward", "--input", str(workspace.root / "new.csv"),
                             "--output", str(workspace.root / "out.csv"))
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "AgglomerativeClustering cannot score new rows" in line and "inductive = {" in line
    assert not (workspace.root / "out.csv").exists()


def test_dbscan_fitted_on_the_train_split_without_inductive_is_refused_before_anything_runs(workspace):
    workspace.add_config('[models.dbscan_train]\nestimator = "sklearn.cluster.DBSCAN"\n')
    run = workspace.run("TrainValidateDeploy", "--model", "dbscan_train", DAY1)
    assert run.returncode == 35
    [line] = run.headlines()
    assert "models.dbscan_train.fit_on: 'sklearn.cluster.DBSCAN' has no predict" in line
    assert not workspace.outputs("models")


# ---------------------------------------------------------------- columns: roles, dates, high cardinality

def shop(n=900, seed=0) -> pd.DataFrame:
    """Orders: an id, a free-text note, a store code that is an integer, 120 product names that
    carry most of the signal, an ISO date with a weekly pattern, and an amount to predict."""
    rng = np.random.default_rng(seed)
    products = [f"product-{i:03d}" for i in range(120)]
    effect = dict(zip(products, rng.normal(0, 30, len(products))))
    product = rng.choice(products, n)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    store = rng.choice([11, 12, 31], n)
    amount = 100 + np.array([effect[p] for p in product]) + 15 * (day.day_of_week >= 5) + 8 * (store == 31) \
        + rng.normal(0, 5, n)
    return pd.DataFrame({"order_id": np.arange(10_000, 10_000 + n), "note": rng.choice(["", "gift", "rush"], n),
                         "store": store, "product": product, "ordered": day.strftime("%Y-%m-%d"),
                         "amount": amount.round(2)})


SHOP = """
[datasets.shop]
source = "{path}"
target = "amount"
problem = "regression"
roles = {{ order_id = "id", note = "drop", store = "categorical" }}
models = ["ridge"]
"""


def test_roles_dates_and_a_high_cardinality_column_keep_their_signal_and_the_card_says_how(workspace):
    frame = shop()
    frame.to_csv(workspace.root / "shop.csv", index=False)
    workspace.add_config(SHOP.format(path=workspace.root / "shop.csv"))
    run = workspace.run("TrainValidateDeploy", "--dataset", "shop", DAY1)  # --model: the dataset's one model
    assert run.returncode == 0, run.output
    card = workspace.read_json("models", "2026-01-01", "card.json", "shop", "ridge")
    assert card["features"] == {"store": "categorical", "product": "categorical", "ordered": "date"}
    assert card["ids"] == ["order_id"]
    encoding = card["encoding"]
    assert encoding["product"] == {"kind": "categorical", "encoding": "target", "categories": 120, "chosen_by": "rule"}
    assert encoding["store"]["encoding"] == "onehot" and encoding["store"]["categories"] == 3
    assert encoding["ordered"]["parts"] == ["year", "month", "day", "dayofweek", "dayofyear"]

    metrics = workspace.read_json("evaluations", "2026-01-01", "metrics.json", "shop", "ridge")
    assert metrics["r2"] > 0.9 and metrics["baseline"]["r2"] < 0.01  # one-hot of 29 products gave about 0.5
    predictions = workspace.output("evaluations", "2026-01-01", "shop", "ridge").file("predictions.parquet")
    assert list(pd.read_parquet(predictions).columns[:2]) == ["row", "order_id"]

    report = workspace.output("reports", "2026-01-01", "shop", "ridge").file("report.html").read_text()
    assert "<h3>Features</h3>" in report and "date parts: year, month, day, dayofweek, dayofyear" in report

    new = frame.drop(columns=["amount"]).head(20)
    new.to_csv(workspace.root / "new.csv", index=False)
    scored = workspace.main("predict", "--dataset", "shop", "--input", str(workspace.root / "new.csv"),
                            "--output", str(workspace.root / "out.csv"))
    assert scored.returncode == 0, scored.stderr
    out = pd.read_csv(workspace.root / "out.csv")
    assert out["order_id"].tolist() == new["order_id"].tolist() and out["model_version"].eq("v0001").all()


def test_a_parquet_timestamp_column_becomes_date_parts_with_the_hour(workspace):
    frame = shop()
    frame["ordered"] = pd.to_datetime(frame["ordered"]) + pd.to_timedelta(frame.index % 24, unit="h")
    frame.to_parquet(workspace.root / "shop.parquet", index=False)
    workspace.add_config(SHOP.format(path=workspace.root / "shop.parquet"))
    assert workspace.run("TrainValidateDeploy", "--dataset", "shop", DAY1).returncode == 0
    card = workspace.read_json("models", "2026-01-01", "card.json", "shop", "ridge")
    assert card["encoding"]["ordered"]["parts"] == ["year", "month", "day", "dayofweek", "dayofyear", "hour"]


def test_a_declared_role_that_does_not_fit_the_data_fails_validation_in_one_line(workspace):
    shop().to_csv(workspace.root / "shop.csv", index=False)
    workspace.add_config(SHOP.format(path=workspace.root / "shop.csv").replace(
        'store = "categorical"', 'store = "categorical", product = "date", customer = "id"'))
    run = workspace.run("TrainValidateDeploy", "--dataset", "shop", DAY1)
    assert run.returncode == 30
    [line] = run.headlines()
    assert "column 'product': role: declared date, but 900 value(s) are not dates" in line
    assert "column 'customer': role: declared id column is missing" in line


# ---------------------------------------------------------------- the baseline

def rare_events(n=3000, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    event = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.3, n)) > 2.1  # about 3 %
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "event": event.astype(int)})


RARE = """
[datasets.rare]
source = "{path}"
target = "event"
problem = "classification"

[models.majority]
estimator = "sklearn.dummy.DummyClassifier"
params = {{ strategy = "most_frequent" }}

[gates.rare]
tolerance = 0.01
"""


def test_a_majority_class_model_is_never_promoted_and_the_imbalance_is_reported(workspace):
    rare_events().to_csv(workspace.root / "rare.csv", index=False)
    workspace.add_config(RARE.format(path=workspace.root / "rare.csv"))
    assert workspace.run("TrainValidateDeploy", "--dataset", "rare", "--model", "logreg", DAY1).returncode == 0
    validation = workspace.read_json("validated", "2026-01-01", "report.json", "rare")
    [warning] = validation["warnings"]
    assert warning.startswith("class imbalance: class 1 is 2.9% of 3000 rows (0: 97.1%)")
    assert "compare on balanced_accuracy" in warning
    verdict = workspace.read_json("verdicts", "2026-01-01", "verdict.json", "rare", "logreg")
    assert verdict["compared_metric"] == "balanced_accuracy"
    assert any("vs baseline 0.5000 (DummyClassifier(strategy='prior')): better" in r for r in verdict["reasons"])

    # with no production to compare with, and whatever the gate says, it does not beat the baseline
    run = workspace.run("TrainValidateDeploy", "--dataset", "rare", "--model", "majority", DAY1)
    assert run.returncode == 0
    decision = workspace.read_json("decisions", "2026-01-01", "decision.json", "rare", "majority")
    assert decision["decision"] == "rejected" and workspace.production("rare", "majority") is None
    assert decision["reasons"] == ["balanced_accuracy 0.5000 vs baseline 0.5000 (DummyClassifier(strategy='prior')): "
                                   "not better than a model that ignores the features"]
    text = workspace.main("report", "--dataset", "rare", "--model", "logreg").stdout
    assert "warning: class imbalance" in text and "baseline" in text.split("metrics:")[1].splitlines()[1]


# ---------------------------------------------------------------- labels, nested estimators

def test_integer_class_labels_stay_integers_when_some_targets_are_missing(workspace):
    frame = rare_events(600)
    frame["event"] = frame["event"].astype(object)
    frame.loc[[3, 17, 40], "event"] = None  # the CSV column now reads back as floats
    frame.to_csv(workspace.root / "rare.csv", index=False)
    workspace.add_config(RARE.format(path=workspace.root / "rare.csv"))
    assert workspace.run("TrainValidateDeploy", "--dataset", "rare", "--model", "logreg", DAY1).returncode == 0
    predictions = pd.read_parquet(workspace.output("evaluations", "2026-01-01", "rare", "logreg")
                                  .file("predictions.parquet"))
    assert predictions["actual"].dtype == "int64" and predictions["prediction"].dtype == "int64"
    assert {"proba_0", "proba_1"} <= set(predictions.columns)
    validation = workspace.read_json("validated", "2026-01-01", "report.json", "rare")
    assert set(validation["class_counts"]) == {"0", "1"}


NESTED = """
[models.log_ridge]
estimator = "sklearn.compose.TransformedTargetRegressor"
params.regressor = { estimator = "sklearn.linear_model.Ridge", params = { alpha = 1.0 } }
params.func = { function = "numpy.log1p" }
params.inverse_func = { function = "numpy.expm1" }
"""


def test_a_transformed_target_regressor_is_configured_with_nested_tables_and_checked_by_key(workspace):
    workspace.add_config(NESTED)
    run = workspace.run("TrainValidateDeploy", "--dataset", "diabetes", "--model", "log_ridge", DAY1)
    assert run.returncode == 0, run.output
    metrics = workspace.read_json("evaluations", "2026-01-01", "metrics.json", "diabetes", "log_ridge")
    assert 0.3 < metrics["r2"] < 0.6 and metrics["r2"] > metrics["baseline"]["r2"]

    workspace.replace_config('estimator = "sklearn.linear_model.Ridge"', 'estimator = "sklearn.linear_model.Rigde"')
    run = workspace.run("TrainValidateDeploy", "--dataset", "diabetes", "--model", "log_ridge", DAY2)
    assert run.returncode == 35
    [line] = run.headlines()
    assert "models.log_ridge.params.regressor.estimator: estimator 'sklearn.linear_model.Rigde'" in line
    workspace.replace_config('"sklearn.linear_model.Rigde"', '"sklearn.linear_model.Ridge"')
    workspace.replace_config('"numpy.log1p"', '"os.system"')
    [line] = workspace.run("TrainValidateDeploy", "--dataset", "diabetes", "--model", "log_ridge", DAY2).headlines()
    assert "models.log_ridge.params.func.function: function 'os.system' is not allowed" in line


# ---------------------------------------------------------------- one model per dataset, every deployment at once

FAST_CANDIDATES = """
[models.forest_small]
estimator = "sklearn.ensemble.RandomForestClassifier"
params = { n_estimators = 30, random_state = 0, n_jobs = 1 }
grid = { max_depth = [3, 8] }

[models.gbr_small]
estimator = "sklearn.ensemble.GradientBoostingRegressor"
params = { n_estimators = 50, random_state = 0 }
"""


def test_every_deployment_runs_in_one_luigi_run_and_each_dataset_gets_its_best_model(workspace):
    workspace.add_config(FAST_CANDIDATES)
    workspace.replace_config('models = ["logreg", "random_forest", "hist_gb"]', 'models = ["logreg", "forest_small"]')
    workspace.replace_config('models = ["ridge", "gbr"]', 'models = ["ridge", "gbr_small"]')
    run = workspace.run("TrainValidateDeployAll", DAY1, "--workers", "2")  # Luigi's entry point, forking workers
    assert run.returncode == 0, run.output[-3000:]
    assert {(r["dataset"], r["model"], r["status"]) for r in workspace.registry_list()} == {
        ("digits", "logreg", "production"), ("breast_cancer", "best", "production"),
        ("diabetes", "best", "production")}

    card = workspace.read_json("models", "2026-01-01", "card.json", "breast_cancer", "best")
    points = [(p["model"], p["point"]) for p in card["search"]["points"]]
    assert points == [("logreg", {}), ("forest_small", {"max_depth": 3}), ("forest_small", {"max_depth": 8})]
    best = max(card["search"]["points"], key=lambda p: p["cv"]["mean"])
    assert (card["search"]["best_model"], card["search"]["best"]) == (best["model"], best["point"])
    assert card["model"] == "best" and card["model_spec"]["estimator"] == {
        "logreg": "sklearn.linear_model.LogisticRegression",
        "forest_small": "sklearn.ensemble.RandomForestClassifier"}[best["model"]]
    report = workspace.output("reports", "2026-01-01", "breast_cancer", "best").file("report.html").read_text()
    assert "<h3>Model selection</h3>" in report and "chosen" in report

    # a service asks for the dataset's model, whatever its family
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(5).to_csv(workspace.root / "bc.csv",
                                                                                    index=False)
    scored = workspace.main("predict", "--dataset", "breast_cancer", "--input", str(workspace.root / "bc.csv"),
                            "--output", str(workspace.root / "bc.parquet"))
    assert scored.returncode == 0, scored.stderr
    assert pd.read_parquet(workspace.root / "bc.parquet")["model_version"].eq("v0001").all()

    # the next day's winner is gated against the dataset's production model, whatever its family
    workspace.replace_config('models = ["logreg", "forest_small"]', 'models = ["forest_small", "hist_gb"]')
    assert workspace.run("TrainValidateDeploy", "--dataset", "breast_cancer", DAY2).returncode == 0
    verdict = workspace.read_json("verdicts", "2026-01-02", "verdict.json", "breast_cancer", "best")
    assert verdict["production_version"] == "v0001" and any("vs production v0001" in r for r in verdict["reasons"])
    assert json.loads((workspace.registry_dir("breast_cancer", "best") / "v0002" / "card.json").read_text())[
        "search"]["best_model"] in ("forest_small", "hist_gb")


def test_when_a_datasets_models_change_the_new_deployment_is_gated_against_the_model_that_was_serving(deployed):
    ws = deployed()  # digits/logreg v0001 in production
    ws.add_config(FAST_CANDIDATES)
    ws.replace_config('models = ["logreg"]', 'models = ["logreg", "forest_small"]')
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    verdict = ws.read_json("verdicts", "2026-01-02", "verdict.json", "digits", "best")
    assert verdict["note"].startswith("digits/best has no production model yet; the dataset was served by "
                                      "digits/logreg: compared with production digits/logreg v0001 on ")
    assert any("vs production digits/logreg v0001" in check["reason"] for check in verdict["checks"])
    estimator = ws.output("reports", "2026-01-02", "digits", "best").read_json("run.json")["model_card"]["estimator"]
    assert estimator["production_estimator"] == "sklearn.linear_model.LogisticRegression"


def test_a_candidate_of_the_wrong_kind_is_refused_before_anything_runs(workspace):
    workspace.replace_config('models = ["logreg", "random_forest", "hist_gb"]', 'models = ["logreg", "ridge"]')
    run = workspace.run("TrainValidateDeploy", "--dataset", "breast_cancer", DAY1)
    assert run.returncode == 35
    [line] = run.headlines()
    assert "models.ridge.estimator: estimator 'sklearn.linear_model.Ridge' is not a classifier" in line
