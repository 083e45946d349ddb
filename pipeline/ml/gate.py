"""The deploy decision as data: candidate metrics and the gate in, a verdict with reasons out.

Imports nothing heavy: settings uses the metric names below to check gates in config.
"""
from __future__ import annotations

# The scalar metrics each problem kind produces (see pipeline.ml.metrics).
METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
    "clustering": ("homogeneity", "completeness", "v_measure", "ari", "ami", "silhouette", "inertia", "n_clusters",
                   "noise_fraction"),
}
ALL_METRICS = frozenset(m for names in METRICS.values() for m in names)
LOWER_IS_BETTER = frozenset({"rmse", "mae", "inertia", "noise_fraction"})
GATE_OPTIONS = ("tolerance", "compare")
# How much better than its baseline a candidate must be (relative to the baseline's size).
BASELINE_MARGIN = 1e-6


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def primary_metric(metrics: dict) -> str:
    """What a candidate is compared on by default: for classification balanced accuracy, which a
    model that always predicts the majority class cannot win (it scores 1 / number of classes);
    unlabelled clusters have no v_measure."""
    kind = metrics["kind"]
    if kind == "clustering":
        return "v_measure" if "v_measure" in metrics else "silhouette"
    return {"classification": "balanced_accuracy", "regression": "rmse"}[kind]


def watched_metrics(gate: dict, compared: str) -> list[dict]:
    """The metrics a report follows across runs, each with the gate's floor and ceiling on it
    ({"metric", "bounds": {"min", "max"} or either or neither}): the compared metric first, then
    every metric the gate bounds."""
    names = [compared] + [metric for metric in gate if metric not in GATE_OPTIONS and metric != compared]
    return [{"metric": metric, "bounds": dict(gate.get(metric) or {})} for metric in names]


def shown_metrics(metrics: dict) -> dict:
    """The named scalar metrics of a metrics.json (not counts such as n_samples, nor the baseline's)."""
    return {k: v for k, v in metrics.items() if k in ALL_METRICS and isinstance(v, (int, float))}


def decide(candidate: dict, gate: dict, production: dict | None = None,
           production_version: str | None = None, candidate_same_rows: dict | None = None) -> dict:
    """Apply metric floors/ceilings to `candidate`, require it to beat its trivial baseline, then
    refuse a regression against production.

    `production` and `candidate_same_rows` are both models' metrics on the same rows (the test
    rows production was not fitted on); without the latter, `candidate` is compared. The
    baseline rule holds whether a gate is configured or not.
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

    metric = gate.get("compare") or primary_metric(candidate)
    if metric not in candidate:
        # a misspelt `compare` must not quietly switch the comparison off
        checks.append({"rule": f"compare on {metric}", "passed": False,
                       "reason": f"compare metric {metric} is not computed for {candidate.get('kind')} models"})
    else:
        baseline = candidate.get("baseline") or {}
        if candidate.get("kind") == "clustering" and candidate.get("n_clusters", 2) < 2:
            checks.append({"rule": "at least 2 clusters", "passed": False, "value": candidate["n_clusters"],
                           "reason": f"found {candidate['n_clusters']} cluster(s)"
                                     + (f" ({candidate['noise_fraction']:.0%} of rows are noise)"
                                        if candidate.get("noise_fraction") else "")
                                     + ": a clustering needs at least 2"})
        if isinstance(baseline.get(metric), (int, float)):
            checks.append(_beats_baseline(metric, candidate[metric], baseline[metric], baseline["model"]))
        if production is not None:
            same_rows = candidate_same_rows or candidate
            checks.append(_no_regression(metric, same_rows[metric], production.get(metric),
                                         gate.get("tolerance", 0.0), production_version))
        elif "tolerance" in gate:
            checks.append({"rule": f"{metric} no worse than production by more than {gate['tolerance']}",
                           "passed": True, "reason": f"no production model yet: tolerance {gate['tolerance']} on "
                                                     f"{metric} applies from the next candidate on"})
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


def _beats_baseline(metric, candidate, baseline, model):
    margin = BASELINE_MARGIN * max(1.0, abs(baseline))  # a heavily regularised model is the mean, up to rounding
    ok = candidate > baseline + margin if higher_is_better(metric) else candidate < baseline - margin
    return {"rule": f"{metric} better than the baseline", "passed": ok, "value": candidate, "baseline": baseline,
            "reason": f"{metric} {candidate:.4f} vs baseline {baseline:.4f} ({model}): "
                      + ("better" if ok else "not better than a model that ignores the features")}


def _no_regression(metric, candidate, production, tolerance, version):
    rule = f"{metric} no worse than production {version} by more than {tolerance}"
    if production is None:
        return {"rule": rule, "passed": True, "value": candidate,
                "reason": f"production {version} has no {metric}: not compared"}
    if higher_is_better(metric):
        ok, worse_by = candidate >= production - tolerance, production - candidate
    else:
        ok, worse_by = candidate <= production + tolerance, candidate - production
    relation = "within" if ok else "beyond"
    return {
        "rule": rule, "passed": ok, "value": candidate, "production": production,
        "reason": f"{metric} {candidate:.4f} vs production {version} {production:.4f}: "
                  f"{relation} tolerance {tolerance}" + (f" (worse by {worse_by:.4f})" if not ok else ""),
    }


# ---------------------------------------------------------------- champion / challenger rows

def comparison_rows(rows, *, production_version: str, production_features, production_train_rows, fit_on: str):
    """(rows, note): the test rows to score production and the candidate on, and how they were chosen.

    The rows production was not fitted on: when the data grows between dates, rows trade sides
    of the split, and production would otherwise be graded on rows it learned. `rows` is None
    when production cannot be compared (the note says why): the gate then applies the floors and the
    baseline rule only.
    """
    from pipeline.ml.data import name_list, unseen_rows

    missing = [c for c in production_features if c not in rows.columns]
    if missing:
        # the columns changed since production was trained: refusing every candidate from now on
        # would leave the pipeline stuck
        return None, f"production {production_version} needs column(s) today's data lacks ({name_list(missing)}): " \
                     "floors and baseline only"
    if fit_on == "all":
        return rows, f"compared with production {production_version} on {len(rows)} rows both models were fitted on " \
                     '(fit_on = "all")'
    if production_train_rows is not None:
        rows = unseen_rows(rows, production_train_rows)
    if rows.empty:
        return None, f"production {production_version} was fitted on every test row: not compared"
    return rows, f"compared with production {production_version} on {len(rows)} test rows it was not fitted on"


# ---------------------------------------------------------------- deployment

def decide_deployment(verdict: dict, candidate: dict, production: dict | None, *,
                      smoke_failure: str | None = None) -> dict:
    """What to do with a registered candidate, given the gate's verdict and what is live.

    `candidate` and `production` are registry cards (version, date). Returns {"action", "reasons"}:
    "promote", "reject" (recorded as rejected; production stays), or "refuse" (nothing changes and
    the deployment fails: this version failed its smoke test once and is promoted only by hand).
    """
    version = candidate["version"]
    live = production["version"] if production else None
    if smoke_failure:
        return {"action": "refuse", "reasons": [f"{version} failed its smoke test before ({smoke_failure})"]}
    reasons = list(verdict["reasons"])
    if not verdict["passed"]:
        if version == live:  # a stricter gate re-ran over the live candidate
            reasons.append(f"{version} is the live version and stays in production; roll back by hand if it should not")
        return {"action": "reject", "reasons": reasons}
    if version == live:
        return {"action": "promote", "reasons": [*reasons, f"{version} (the same model) is already in production"]}
    if production and production["date"] > candidate["date"]:  # a backfill never replaces newer data's model
        return {"action": "reject", "reasons": [f"trained on {candidate['date']} data, older than production {live} "
                                                f"({production['date']}): not promoted automatically"]}
    return {"action": "promote", "reasons": reasons}


def hand_promotion_refusal(version: str, rejected_for: list[str] | None) -> str | None:
    """Why a version should not be promoted by hand without --force (None: nothing against it)."""
    return f"{version} was rejected by the gate ({'; '.join(rejected_for)})" if rejected_for else None


def smoke_check(expected, actual) -> str | None:
    """What is wrong with the live model's predictions of held-out rows, against the evaluation's."""
    from pipeline.ml.metrics import same_predictions

    differ = len(expected) - same_predictions(expected, actual)
    if differ:
        return f"{differ} of {len(expected)} held-out predictions differ from the candidate's evaluation"
    return None
