"""Orchestration overhead: the full TrainValidateDeploy on digits against a bare script doing the
same ML steps and writes (benchmarks/bare_digits.py). Both are fresh processes on a fresh data
dir; runs alternate, and the median of each is compared. Target: ratio <= 1.10.

Also reported: the same bare script with the imports' objects frozen out of the garbage
collector (--freeze), as the pipeline freezes them after its preload. The interpreter's exit
then skips its walk over them, a few tenths of a second a plain script pays."""
import json
import sys
import tempfile
from pathlib import Path

from harness import REPO, Sandbox, median, run, table

REPEATS = 7


BARE_STEP = {"IngestData": "ingest", "ValidateData": "validate", "SplitData": "split", "TrainModel": "train",
             "EvaluateModel": "evaluate", "ValidateModel": None, "DeployModel": None, "RunReport": "report"}


def bare(*flags: str):
    with tempfile.TemporaryDirectory() as tmp:
        result = run([sys.executable, str(REPO / "benchmarks" / "bare_digits.py"), str(Path(tmp) / "out"), *flags])
    assert result.returncode == 0, result.output
    return result.seconds, json.loads(result.output.strip().splitlines()[-1])


def main(profile: bool = False) -> list[list]:
    pipeline_times, bare_times, frozen_times, tasks, steps = [], [], [], [], []
    for _ in range(REPEATS):
        box = Sandbox()
        pipeline_times.append(box.luigi("TrainValidateDeploy").seconds)
        tasks.append({json.loads(line)["task"]: json.loads(line)["seconds"]
                      for line in (box.data / "runs" / "durations.jsonl").open()})
        box.remove()
        seconds, step = bare()
        bare_times.append(seconds)
        steps.append(step)
        frozen_times.append(bare("--freeze")[0])
    if profile:
        print(where_the_time_goes(tasks, steps, median(pipeline_times), median(bare_times)))
    took, ratio, frozen = median(pipeline_times), median(pipeline_times) / median(bare_times), median(frozen_times)
    return [["overhead: TrainValidateDeploy vs bare script (digits)", f"{took:.2f} s", f"{median(bare_times):.2f} s",
             f"{ratio:.2f}x", "<= 1.10x", "yes" if ratio <= 1.10 else "no"],
            ["overhead: TrainValidateDeploy vs bare script with gc.freeze() (digits)", f"{took:.2f} s",
             f"{frozen:.2f} s", f"{took / frozen:.2f}x", "report", "-"]]


def where_the_time_goes(tasks: list[dict], steps: list[dict], pipeline: float, bare: float) -> str:
    """Median seconds per task beside the bare script's matching step; the rest is start-up."""
    rows = []
    for task, step in BARE_STEP.items():
        rows.append([task, median([t[task] for t in tasks]), median([s[step] for s in steps]) if step else 0.0])
    inside, bare_inside = sum(r[1] for r in rows), sum(r[2] for r in rows)
    rows.append(["outside the tasks: interpreter, imports, Luigi scheduling", pipeline - inside, bare - bare_inside])
    rows.append(["total (wall)", pipeline, bare])
    return table(["where the time goes (s)", "pipeline", "bare script"], rows)


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main(profile=True)))
