"""Grid fan-out: 8 grid points, each a CrossValidate task, with --workers 2 against --workers 1.

Both sandboxes first run SplitData; then `luigi TrainModel --workers N` runs the 8 points and
the final fit, and only that is timed. The estimator (a 300-tree random forest, n_jobs = 1) is
single-threaded, so two workers can use two cores. Target: speed-up >= 1.7x on 2 cores."""
import json

from harness import Sandbox, table

SEARCH = """
[models.forest_search]
estimator = "sklearn.ensemble.RandomForestClassifier"
params = { n_estimators = 300, random_state = 0, n_jobs = 1 }
grid = { min_samples_leaf = [1, 2, 3, 4, 5, 6, 7, 8] }
cv_folds = 5
"""


def fan_out(workers: int) -> tuple[float, float]:
    """(wall time of the command, time spent inside the 8 CrossValidate tasks' run())."""
    box = Sandbox(config_extra=SEARCH)
    box.luigi("SplitData")
    (box.data / "runs" / "durations.jsonl").unlink()
    result = box.luigi("TrainModel", "--model", "forest_search", "--workers", str(workers))
    assert "8 CrossValidate(" in result.output, result.output[-2000:]
    inside = sum(json.loads(line)["seconds"] for line in (box.data / "runs" / "durations.jsonl").open()
                 if json.loads(line)["task"] == "CrossValidate")
    box.remove()
    return result.seconds, inside


def main() -> list[list]:
    (one, cv_one), (two, _) = fan_out(1), fan_out(2)
    serial = one - cv_one  # start-up, imports and the final fit: the same in both runs
    speedup, stage = one / two, cv_one / (two - serial)
    return [["fan-out: 8 grid points, --workers 2 vs --workers 1", f"{two:.2f} s", f"{one:.2f} s",
             f"{speedup:.2f}x faster", ">= 1.7x", "yes" if speedup >= 1.7 else "no"],
            ["fan-out: the 8 CrossValidate tasks alone (derived)", f"{two - serial:.2f} s", f"{cv_one:.2f} s",
             f"{stage:.2f}x faster", ">= 1.7x", "yes" if stage >= 1.7 else "no"]]


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
