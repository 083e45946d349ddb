"""A run with nothing to do: `luigi --module pipeline TrainValidateDeploy` when every output
exists, against `python -c "import luigi"`, alternating, medians of 10. Targets: <= 0.5 s and
<= 3x the bare import. (tests/tasks/test_train_validate_deploy.py checks the behaviour: no
pandas, scikit-learn or matplotlib is imported.)"""
import sys

from harness import Sandbox, median, run, table

REPEATS = 10


def main() -> list[list]:
    box = Sandbox()
    box.luigi("TrainValidateDeploy")
    noop, bare = [], []
    for _ in range(REPEATS):
        result = box.luigi("TrainValidateDeploy")
        assert "complete ones were encountered" in result.output and "ran successfully" not in result.output
        noop.append(result.seconds)
        bare.append(run([sys.executable, "-c", "import luigi"]).seconds)
    box.remove()
    ratio = median(noop) / median(bare)
    met = median(noop) <= 0.5 and ratio <= 3
    return [["no-op: complete TrainValidateDeploy vs `python -c \"import luigi\"`", f"{median(noop):.2f} s",
             f"{median(bare):.2f} s", f"{ratio:.2f}x", "<= 0.5 s and <= 3x", "yes" if met else "no"]]


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
