"""Model cards: what a trained (or reused) model was made from."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from pipeline.ml.card import estimator_params, model_card, reused_card
from pipeline.ml.features import encoding_plan

IDENTITY = {"candidate_id": "churn/logreg/2024-01-02/abc123", "date": "2024-01-02",
            "task": {"id": "TrainModel_churn_2024_01_02", "params": {"date": "2024-01-02"}, "config_key": "abc123"}}
SPEC = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200, "C": 0.1},
        "fit_on": "train", "cv_folds": 3}
SEARCH = {"scoring": "accuracy", "folds": 3, "points": [], "best": {"C": 0.1}}
PROVENANCE = {"packages": {"scikit-learn": "1.9.1", "pandas": "3.1.1"}, "code_version": "0123abcd-dirty"}
SNAPSHOT = {"source": "data/raw/churn.csv", "fingerprint": "f" * 64, "rows": 120, "columns": 4,
            "written_at": "2024-01-02T00:00:00Z"}
DATA_SPEC = {"target": "churned", "split": {"test_size": 0.25, "seed": 42}, "problem": "classification",
             "checks": {"min_rows": 10}}


def train_frame() -> pd.DataFrame:
    return pd.DataFrame({"tenure": [1.0, np.nan, 3.0], "plan": ["a", "b", None], "active": [True, False, None]})


def card(**overrides) -> dict:
    kwargs = dict(identity=IDENTITY, dataset="churn", model="logreg", kind="classification", data_spec=DATA_SPEC,
                  snapshot=SNAPSHOT, spec=SPEC, plan=encoding_plan(train_frame()), n_train=len(train_frame()),
                  model_sha256="e" * 64, search=SEARCH,
                  provenance=PROVENANCE, trained_at="2024-01-02T03:04:05Z", seconds=1.23456)
    return model_card(**{**kwargs, **overrides})


# ---------------------------------------------------------------- model_card

def test_card_carries_the_candidate_identity():
    c = card()
    assert c["candidate_id"] == "churn/logreg/2024-01-02/abc123"
    assert c["date"] == "2024-01-02"
    assert c["task"] == IDENTITY["task"]


def test_card_names_the_dataset_model_kind_and_target():
    c = card()
    assert (c["dataset"], c["model"], c["kind"], c["target"]) == ("churn", "logreg", "classification", "churned")


def test_card_lists_the_feature_schema_and_training_row_count():
    c = card()
    assert c["features"] == {"tenure": "numeric", "plan": "categorical", "active": "categorical"}
    assert c["n_train"] == 3
    assert "churned" not in c["features"]


def test_card_records_how_each_feature_was_encoded():
    c = card()
    assert c["encoding"] == {
        "tenure": {"kind": "numeric", "encoding": "scaled"},
        "plan": {"kind": "categorical", "encoding": "onehot", "categories": 2, "chosen_by": "rule"},
        "active": {"kind": "categorical", "encoding": "onehot", "categories": 2, "chosen_by": "rule"},
    }
    assert c["ids"] == []


def test_card_features_follow_the_plan_and_ids_follow_the_roles():
    roles = {"customer": "id", "tenure": "categorical", "note": "drop", "ref": "id"}
    plan = encoding_plan(train_frame(), roles=roles, overrides={"plan": "ordinal"})
    c = card(plan=plan, n_train=120, data_spec={**DATA_SPEC, "roles": roles})
    assert c["features"] == {"tenure": "categorical", "plan": "categorical", "active": "categorical"}
    assert c["encoding"]["plan"] == {"kind": "categorical", "encoding": "ordinal", "categories": 2,
                                     "chosen_by": "config"}
    assert c["ids"] == ["customer", "ref"]  # in the order the roles declare them; dropped columns are not ids
    assert c["n_train"] == 120


def test_card_records_the_snapshot_source_fingerprint_and_rows_only():
    c = card()
    assert c["data"] == {"source": "data/raw/churn.csv", "fingerprint": "f" * 64, "rows": 120}


def test_card_records_the_split_spec_and_model_hash():
    c = card()
    assert c["split"] == {"test_size": 0.25, "seed": 42}
    assert c["model_spec"] == SPEC
    assert c["model_spec"]["params"]["C"] == 0.1  # the search's winning point, as fitted
    assert c["model_sha256"] == "e" * 64


def test_card_records_the_search_or_none_without_one():
    assert card()["search"] == SEARCH
    assert card(search=None)["search"] is None


def test_card_takes_packages_and_code_version_from_provenance():
    c = card()
    assert c["packages"] == {"scikit-learn": "1.9.1", "pandas": "3.1.1"}
    assert c["code_version"] == "0123abcd-dirty"
    assert card(provenance={"packages": {}, "code_version": None})["code_version"] is None


def test_card_records_when_and_how_long_training_took_to_a_millisecond():
    c = card()
    assert c["trained_at"] == "2024-01-02T03:04:05Z"
    assert c["training_seconds"] == 1.235
    assert card(seconds=0.0004)["training_seconds"] == 0.0
    assert card(seconds=12.0)["training_seconds"] == 12.0


def test_fresh_card_has_exactly_the_documented_fields_and_no_reused_from():
    assert sorted(card()) == sorted([
        "candidate_id", "date", "task", "dataset", "model", "kind", "target", "features", "encoding", "ids",
        "n_train", "data",
        "split", "model_spec", "model_sha256", "search", "packages", "code_version", "trained_at",
        "training_seconds", "profile"])


def test_card_does_not_change_its_inputs():
    spec, identity = copy.deepcopy(SPEC), copy.deepcopy(IDENTITY)
    card()
    assert SPEC == spec
    assert IDENTITY == identity


# ---------------------------------------------------------------- reused_card

NEW_IDENTITY = {"candidate_id": "churn/logreg/2024-01-03/abc123", "date": "2024-01-03",
                "task": {"id": "TrainModel_churn_2024_01_03", "params": {"date": "2024-01-03"},
                         "config_key": "abc123"}}
EARLIER_OUTPUT = "file:///data/models/churn/logreg/2024-01-02/abc123"


def test_reused_card_takes_the_new_identity():
    reused = reused_card(card(), NEW_IDENTITY, EARLIER_OUTPUT)
    assert reused["candidate_id"] == "churn/logreg/2024-01-03/abc123"
    assert reused["date"] == "2024-01-03"
    assert reused["task"] == NEW_IDENTITY["task"]


def test_reused_card_keeps_the_earlier_models_fields():
    earlier = card()
    reused = reused_card(earlier, NEW_IDENTITY, EARLIER_OUTPUT)
    for field in ("dataset", "model", "kind", "target", "features", "encoding", "ids", "n_train", "data", "split",
                  "model_spec",
                  "model_sha256", "search", "packages", "code_version", "trained_at", "training_seconds"):
        assert reused[field] == earlier[field], field
    assert reused["trained_at"] == "2024-01-02T03:04:05Z"  # when the model was really fitted


def test_reused_from_names_the_earlier_candidate_and_output():
    reused = reused_card(card(), NEW_IDENTITY, EARLIER_OUTPUT)
    assert reused["reused_from"] == {"candidate_id": "churn/logreg/2024-01-02/abc123",
                                     "output": EARLIER_OUTPUT, "trained_at": "2024-01-02T03:04:05Z"}


def test_reusing_a_reused_card_points_at_the_card_it_was_taken_from():
    once = reused_card(card(), NEW_IDENTITY, EARLIER_OUTPUT)
    third = {**NEW_IDENTITY, "candidate_id": "churn/logreg/2024-01-04/abc123", "date": "2024-01-04"}
    twice = reused_card(once, third, "file:///data/models/churn/logreg/2024-01-03/abc123")
    assert twice["candidate_id"] == "churn/logreg/2024-01-04/abc123"
    assert twice["reused_from"]["candidate_id"] == "churn/logreg/2024-01-03/abc123"
    assert twice["reused_from"]["output"] == "file:///data/models/churn/logreg/2024-01-03/abc123"
    assert twice["reused_from"]["trained_at"] == "2024-01-02T03:04:05Z"


def test_reused_card_leaves_the_earlier_card_alone():
    earlier = card()
    before = copy.deepcopy(earlier)
    reused_card(earlier, NEW_IDENTITY, EARLIER_OUTPUT)
    assert earlier == before


def test_estimator_params_lists_every_param_beside_productions_and_names_what_differs():
    production = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 200}}
    compared = estimator_params(SPEC, production)
    assert (compared["estimator"], compared["production_estimator"]) == (SPEC["estimator"], production["estimator"])
    assert compared["differs"] == ["C"]
    rows = {row["param"]: row for row in compared["params"]}
    assert rows["C"] == {"param": "C", "value": "0.1", "production": "1.0", "configured": True, "differs": True}
    assert rows["max_iter"] | {"configured": None} == {"param": "max_iter", "value": "200", "production": "200",
                                                       "configured": None, "differs": False}
    assert rows["penalty"]["configured"] is False and rows["penalty"]["value"] == rows["penalty"]["production"]

    nested = {"estimator": "sklearn.compose.TransformedTargetRegressor",
              "params": {"regressor": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 2.0}},
                         "func": {"function": "numpy.log1p"}, "inverse_func": {"function": "numpy.expm1"}}}
    other = estimator_params(nested, {"estimator": "sklearn.ensemble.RandomForestRegressor"})
    assert other["differs"] == ["estimator"]  # another class: not a list of every param of both
    rows = {row["param"]: row for row in other["params"]}
    assert (rows["regressor"]["value"], rows["func"]["value"]) == ("Ridge(alpha=2.0)", "numpy.log1p")
    assert rows["n_estimators"]["value"] is None and rows["n_estimators"]["production"] == "100"

    alone = estimator_params(SPEC)
    assert alone["production_estimator"] is None and alone["differs"] == []
    assert all(row["production"] is None and not row["differs"] for row in alone["params"])


def test_estimator_params_compare_values_deep_inside_and_the_inductive_classifier():
    def stack(leaf):
        forests = [{"estimator": "sklearn.ensemble.RandomForestRegressor",
                    "params": {"min_samples_leaf": leaf if i == 2 else 1, "n_estimators": 10 + i}} for i in range(6)]
        return {"estimator": "sklearn.ensemble.StackingRegressor", "params": {"estimators": forests}}
    deep = estimator_params(stack(3), stack(7))  # past scikit-learn's 700-character repr
    assert deep["differs"] == ["estimators"] and "..." not in deep["params"][0]["value"]

    assert estimator_params({"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1}},
                            {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}})["differs"] == []

    def dbscan(trees):
        return {"estimator": "sklearn.cluster.DBSCAN", "fit_on": "all", "inductive": {
            "estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": trees}}}
    inductive = estimator_params(dbscan(10), dbscan(100))
    assert inductive["differs"] == ["inductive.n_estimators"]
    assert {row["param"]: row["value"] for row in inductive["params"]}["inductive.estimator"] == \
        "'sklearn.ensemble.RandomForestClassifier'"

    other = estimator_params({"estimator": "sklearn.ensemble.RandomForestClassifier"},
                             {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 0.25}})
    rows = {row["param"]: row for row in other["params"]}
    assert other["differs"] == ["estimator"] and not any(row["differs"] for row in other["params"])
    assert (rows["C"]["value"], rows["C"]["production"]) == (None, "0.25")  # not a param of the candidate's
    assert (rows["max_depth"]["value"], rows["max_depth"]["production"]) == ("None", None)
