"""Carrying out a deployment: register the candidate, decide (pipeline/ml/gate.py), record the decision.

The decision is made and recorded under the registry's lock. After a promotion the smoke test
runs against the live model; if it finds a problem, production goes back to what it was.
"""
from __future__ import annotations

from pipeline.artifacts import ArtifactDir
from pipeline.errors import SmokeTestFailed
from pipeline.ml.gate import decide_deployment
from pipeline.registry import Registry


def deploy(registry: Registry, model_dir: ArtifactDir, card: dict, verdict: dict, smoke_test=None) -> dict:
    """Register a candidate and promote or reject it; the decision as a dict (decision.json).

    `smoke_test(version)` returns a problem description (or None) for the live model. A version
    that failed its smoke test once is not promoted again automatically (SmokeTestFailed).
    """
    with registry.locked(create=True):
        version = registry.register(model_dir, card)
        before = production_before(registry, version, card["candidate_id"])
        decision = decide_deployment(verdict, registry.card(version), registry.card(before) if before else None,
                                     smoke_failure=registry.smoke_failure(version))
        if decision["action"] == "refuse":
            raise SmokeTestFailed(f"{registry} {decision['reasons'][0]}; production stays {before}; "
                                  "promote it by hand once fixed", version=version, restored=before, rolled_back=False)
        if decision["action"] == "promote":
            registry.promote(version, reason="; ".join(decision["reasons"]))
        else:
            registry.reject(version, decision["reasons"])
    problem = smoke_test(version) if smoke_test and decision["action"] == "promote" else None
    if problem:
        restored = registry.retract(version, f"smoke test failed: {problem}")
        raise SmokeTestFailed(f"{registry} {version} failed its smoke test after promotion: {problem}; "
                              f"production rolled back to {restored or 'nothing'}",
                              version=version, restored=restored, rolled_back=True)
    return {"decision": "promoted" if decision["action"] == "promote" else "rejected", "version": version,
            "reasons": decision["reasons"], "production_before": before,
            "production_after": registry.production_version()}


def production_before(registry: Registry, version: str, candidate_id: str) -> str | None:
    """What was live before this deployment. On a re-run after a crash past this candidate's own
    promotion, that is the version it replaced, so the decision is the one the first run made."""
    pointer = registry.production()
    live = pointer["version"] if pointer else None
    if live == version and pointer.get("event", {}).get("event") == "promoted" \
            and registry.card(version)["candidate_id"] == candidate_id:
        return pointer["event"]["previous"]
    return live
