"""The deploy decision as data: candidate metrics and the gate in, a verdict with reasons out."""
from __future__ import annotations

from pipeline.ml.metrics import PRIMARY_METRIC, higher_is_better

GATE_OPTIONS = ("tolerance", "compare")


def decide(candidate: dict, gate: dict, production: dict | None = None,
           production_version: str | None = None) -> dict:
    """Apply metric floors/ceilings, then refuse a regression against production.

    `candidate` and `production` are metric dicts computed on the same rows.
    """
    checks = []
    for metric, bounds in gate.items():
        if metric in GATE_OPTIONS:
            continue
        value = candidate.get(metric)
        if not isinstance(value, (int, float)):
            checks.append({"rule": f"{metric} is measured", "passed": False,
                           "reason": f"{metric} is not computed for {candidate.get('kind')} models"})
            continue
        if "min" in bounds:
            ok = value >= bounds["min"]
            checks.append({"rule": f"{metric} >= {bounds['min']}", "passed": ok, "value": value,
                           "reason": f"{metric} {value:.4f} {'>=' if ok else '<'} {bounds['min']}"})
        if "max" in bounds:
            ok = value <= bounds["max"]
            checks.append({"rule": f"{metric} <= {bounds['max']}", "passed": ok, "value": value,
                           "reason": f"{metric} {value:.4f} {'<=' if ok else '>'} {bounds['max']}"})

    metric = gate.get("compare") or PRIMARY_METRIC[candidate["kind"]]
    if metric not in candidate:
        # a misspelt `compare` must not quietly switch the comparison off
        checks.append({"rule": f"compare on {metric}", "passed": False,
                       "reason": f"compare metric {metric} is not computed for {candidate.get('kind')} models"})
    elif production is not None and metric in production:
        checks.append(_no_regression(metric, candidate[metric], production[metric],
                                     gate.get("tolerance", 0.0), production_version))
    if not checks:
        checks.append({"rule": "gate configured", "passed": True,
                       "reason": "no gate configured and no production model to compare with: nothing checked"})
    failed = [c for c in checks if not c["passed"]]
    return {
        "passed": not failed,
        # a rejection names what failed; a pass names everything that was checked
        "reasons": [c["reason"] for c in (failed or checks)],
        "checks": checks,
        "compared_metric": metric,
        "production_version": production_version,
        "production_metrics": production,
    }


def _no_regression(metric, candidate, production, tolerance, version):
    if higher_is_better(metric):
        ok, worse_by = candidate >= production - tolerance, production - candidate
    else:
        ok, worse_by = candidate <= production + tolerance, candidate - production
    relation = "within" if ok else "beyond"
    return {
        "rule": f"{metric} no worse than production {version} by more than {tolerance}",
        "passed": ok, "value": candidate, "production": production,
        "reason": f"{metric} {candidate:.4f} vs production {version} {production:.4f}: "
                  f"{relation} tolerance {tolerance}" + (f" (worse by {worse_by:.4f})" if not ok else ""),
    }
