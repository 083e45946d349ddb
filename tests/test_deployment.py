"""Carrying out a deployment decision in a real registry: promote, reject, backfill, smoke test, re-run."""
import pytest

from pipeline.deployment import deploy
from pipeline.errors import RegistryError, SmokeTestFailed

PASS = {"passed": True, "reasons": ["accuracy 0.99 >= 0.95"]}
FAIL = {"passed": False, "reasons": ["accuracy 0.50 < 0.95"]}


def test_a_passing_candidate_is_registered_and_promoted(registry, make_candidate):
    decision = deploy(registry, *make_candidate("run-a"), PASS)
    assert decision == {"decision": "promoted", "version": "v0001", "reasons": PASS["reasons"],
                        "production_before": None, "production_after": "v0001", "verdict": PASS}
    assert [e["event"] for e in registry.history()] == ["registered", "promoted"]
    assert registry.production()["reason"] == "accuracy 0.99 >= 0.95"


def test_a_failing_candidate_is_registered_and_rejected_and_production_stays(registry, make_candidate):
    deploy(registry, *make_candidate("run-a"), PASS)
    decision = deploy(registry, *make_candidate("run-b", C=2.0), FAIL)
    assert (decision["decision"], decision["version"], decision["production_after"]) == ("rejected", "v0002", "v0001")
    assert registry.history()[-1] | {"at": None} == {"at": None, "dataset": "ds", "model": "m", "event": "rejected",
                                                    "version": "v0002", "reasons": FAIL["reasons"]}
    assert registry.statuses() == {"v0001": "production", "v0002": "rejected"}


def test_older_candidate_is_not_promoted_over_newer_production(registry, make_candidate):
    deploy(registry, *make_candidate("today", date="2026-03-10"), PASS)
    decision = deploy(registry, *make_candidate("backfill", C=2.0, date="2026-03-01"), PASS)
    assert decision["decision"] == "rejected"
    assert decision["reasons"] == ["trained on 2026-03-01 data, older than production v0001 (2026-03-10): "
                                   "not promoted automatically"]
    assert registry.production_version() == "v0001"


def test_the_same_model_again_is_already_live_and_nothing_changes(registry, make_candidate):
    deploy(registry, *make_candidate("day-1"), PASS)
    history = registry.history()
    decision = deploy(registry, *make_candidate("day-2"), PASS)  # the same bytes: a model reused on unchanged data
    assert decision["decision"] == "promoted" and decision["production_before"] == "v0001"
    assert decision["reasons"][-1] == "v0001 (the same model) is already in production"
    assert registry.history() == history


def test_a_rerun_after_a_crash_past_the_promotion_makes_the_same_decision(registry, make_candidate):
    deploy(registry, *make_candidate("run-a"), PASS)
    candidate = make_candidate("run-b", C=2.0)
    first = deploy(registry, *candidate, PASS)  # ... killed before decision.json was written
    again = deploy(registry, *candidate, PASS)
    assert again == first and first["production_before"] == "v0001"
    assert [e["event"] for e in registry.history()].count("promoted") == 2


def test_failed_smoke_test_restores_the_previous_version_and_is_not_retried(registry, make_candidate):
    deploy(registry, *make_candidate("run-a"), PASS)
    path, card = make_candidate("run-b", C=2.0)
    with pytest.raises(SmokeTestFailed, match="3 of 10 predictions differ.*rolled back to v0001") as failed:
        deploy(registry, path, card, PASS, smoke_test=lambda version: "3 of 10 predictions differ")
    assert (failed.value.version, failed.value.restored, failed.value.rolled_back) == ("v0002", "v0001", True)
    assert registry.production_version() == "v0001"
    last = registry.history()[-1]
    assert (last["event"], last["version"], last["previous"], last["cause"]) == \
        ("rolled_back", "v0001", "v0002", "smoke_test")
    assert last["reason"] == "smoke test failed: 3 of 10 predictions differ"

    events = len(registry.history())
    with pytest.raises(SmokeTestFailed, match="v0002 failed its smoke test before .*; production stays v0001; "
                                              "promote it by hand once fixed") as again:
        deploy(registry, path, card, PASS, smoke_test=lambda version: None)
    assert again.value.rolled_back is False
    assert registry.production_version() == "v0001" and len(registry.history()) == events
    assert registry.statuses()["v0002"] == "smoke_failed"


def test_failed_smoke_test_of_the_first_version_leaves_no_production(registry, make_candidate):
    with pytest.raises(SmokeTestFailed, match="rolled back to nothing"):
        deploy(registry, *make_candidate("run-a"), PASS, smoke_test=lambda version: "does not load")
    assert registry.production_version() is None
    with pytest.raises(RegistryError, match="no production model yet"):
        registry.load_production()


def test_the_smoke_test_runs_only_after_a_promotion(registry, make_candidate):
    asked = []
    deploy(registry, *make_candidate("run-a"), FAIL, smoke_test=asked.append)
    assert asked == []
    deploy(registry, *make_candidate("run-b", C=2.0), PASS, smoke_test=asked.append)
    assert asked == ["v0002"]


def test_every_registry_change_is_alerted_once_with_what_was_live(registry, make_candidate, webhook):
    deploy(registry, *make_candidate("run-a"), PASS)
    deploy(registry, *make_candidate("run-b", C=2.0), FAIL)
    deploy(registry, *make_candidate("run-c", C=3.0), PASS)
    registry.rollback("complaints from the field")
    with pytest.raises(SmokeTestFailed):
        deploy(registry, *make_candidate("run-d", C=4.0), PASS, smoke_test=lambda version: "does not load")
    assert [(p["event"], p["version"], p["previous"]) for p in webhook.posts] == [
        ("promoted", "v0001", None), ("rejected", "v0002", "v0001"), ("promoted", "v0003", "v0001"),
        ("rolled_back", "v0001", "v0003"), ("promoted", "v0004", "v0001"), ("rolled_back", "v0001", "v0004")]
    assert webhook.posts[3]["reasons"] == ["complaints from the field"]
    assert webhook.posts[-1]["reasons"] == ["smoke test failed: does not load"]
