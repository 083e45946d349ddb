"""Carrying out a deployment: register the candidate, decide (pipeline/ml/gate.py), record the decision.

The decision is made and recorded under the registry's lock. After a promotion the smoke test
runs against the live model; if it finds a problem, production goes back to what it was.
"""
from __future__ import annotations

from pipeline.artifacts import ArtifactDir
from pipeline.errors import IntegrityError, RegistryError, SmokeTestFailed
from pipeline.ml.gate import decide_deployment, hand_promotion_refusal
from pipeline.registry import Registry


def deploy(registry: Registry, model_dir: ArtifactDir, card: dict, verdict: dict, smoke_test=None,
           revalidate=None) -> dict:
    """Register a candidate and promote or reject it; the decision as a dict (decision.json).

    The decision is made under the registry's lock against the version live at that moment: if
    that is not the one the gate looked at (another command line deployed or rolled back since),
    `revalidate()` gives the gate's verdict again, against what is live now. `smoke_test(version)`
    returns a problem description (or None) for the live model. A version that failed its smoke
    test once is not promoted again automatically (SmokeTestFailed).
    """
    with registry.locked(create=True):
        version = registry.register(model_dir, card)
        before = production_before(registry, version, card["candidate_id"])
        seen, stale = verdict.get("production_at_gate", verdict.get("production_version")), []
        if revalidate and before not in (seen, version):
            verdict = revalidate()
            stale = [f"the gate compared with {seen or 'no production model'}, but {before or 'no model'} is in "
                     "production now: decided again" + (f" against {before}" if before else "")]
        decision = decide_deployment(verdict, registry.card(version), _card_or_none(registry, before),
                                     smoke_failure=registry.smoke_failure(version))
        decision["reasons"] = stale + decision["reasons"]
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
            "production_after": registry.production_version(), "verdict": verdict}


def describe_decision(decision: dict, metrics: dict) -> str:
    """A decision.json in one line: promoted v0002 (balanced_accuracy 0.9799; previous v0001 0.9777)."""
    verdict = decision.get("verdict", {})
    metric = verdict.get("compared_metric")
    value = metrics.get(metric)
    before, version = decision["production_before"], decision["version"]
    if decision["decision"] == "rejected":
        stays = decision["production_after"] or "none"
        return f"rejected {version}; production stays {stays}: {decision['reasons'][-1]}"
    if before == version:
        return f"unchanged: {version} (the same model) stays in production"
    production = (verdict.get("production_metrics") or {}).get(metric)
    shown = f"{metric} {value:.4f}; " if isinstance(value, float) else ""
    was = f" {production:.4f}" if isinstance(production, float) else ""
    return f"promoted {version} ({shown}previous {before or 'none'}{was})"


def promote_by_hand(registry: Registry, version: str, reason: str, *, force: bool = False) -> str | None:
    """`registry promote`: a version the gate rejected goes live only with `force`; returns the warning then."""
    problem = hand_promotion_refusal(version, registry.rejection(version))
    if problem and not force:
        raise RegistryError(f"{registry}: {problem}; promote it anyway with --force")
    registry.promote(version, reason=f"promoted by hand with --force over the gate's rejection: {reason}"
                     if problem else reason)
    return problem


def _card_or_none(registry: Registry, version: str | None) -> dict | None:
    """The live version's card, or None when there is none or it cannot be read (the gate said so)."""
    try:
        return registry.card(version) if version else None
    except (IntegrityError, RegistryError):
        return None


def production_before(registry: Registry, version: str, candidate_id: str) -> str | None:
    """What was live before this deployment. On a re-run after a crash past this candidate's own
    promotion, that is the version it replaced, so the decision is the one the first run made."""
    pointer = registry.production()
    live = pointer["version"] if pointer else None
    if live == version and pointer.get("event", {}).get("event") == "promoted" \
            and registry.card(version)["candidate_id"] == candidate_id:
        return pointer["event"]["previous"]
    return live
