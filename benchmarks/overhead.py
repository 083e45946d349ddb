"""Orchestration overhead: the full TrainValidateDeploy on digits against a bare script doing the
same ML steps and writes (benchmarks/bare_digits.py). Both are fresh processes on a fresh data
dir; runs alternate, and the median of each is compared. Target: ratio <= 1.10."""
import sys
import tempfile
from pathlib import Path

from harness import REPO, Sandbox, median, run, table

REPEATS = 5


def main() -> list[list]:
    pipeline_times, bare_times = [], []
    for _ in range(REPEATS):
        box = Sandbox()
        pipeline_times.append(box.luigi("TrainValidateDeploy").seconds)
        box.remove()
        with tempfile.TemporaryDirectory() as tmp:
            bare = run([sys.executable, str(REPO / "benchmarks" / "bare_digits.py"), str(Path(tmp) / "out")])
            assert bare.returncode == 0, bare.output
            bare_times.append(bare.seconds)
    ratio = median(pipeline_times) / median(bare_times)
    return [["overhead: TrainValidateDeploy vs bare script (digits)", f"{median(pipeline_times):.2f} s",
             f"{median(bare_times):.2f} s", f"{ratio:.2f}x", "<= 1.10x", "yes" if ratio <= 1.10 else "no"]]


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
