"""Resume: a run that fails in DeployModel (an injected error after the candidate is registered),
then the re-run, against a full uninterrupted run. Only DeployModel and what follows it
(RunReport) run again."""
from harness import FAULTS, Sandbox, median, table

REPEATS = 3


def main() -> list[list]:
    full, resumed = [], []
    for _ in range(REPEATS):
        box = Sandbox()
        full.append(box.luigi("TrainValidateDeploy").seconds)
        box.remove()
        box = Sandbox()
        box.luigi("TrainValidateDeploy", expect=30, PYTHONPATH=str(FAULTS),
                  PIPELINE_TEST_FAIL_AT="history:registered")
        rerun = box.luigi("TrainValidateDeploy")
        ran = rerun.output.split("ran successfully:")[1].split("\n\n")[0]
        assert "DeployModel(" in ran and "TrainModel(" not in ran and "IngestData(" not in ran, ran
        resumed.append(rerun.seconds)
        box.remove()
    ratio = median(resumed) / median(full)
    return [["resume: re-run after a failure in DeployModel vs a full run", f"{median(resumed):.2f} s",
             f"{median(full):.2f} s", f"{ratio:.2f}x", "only the failed task and after", "yes"]]


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
