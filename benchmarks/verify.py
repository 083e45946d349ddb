"""What verifying every read costs: the time a run spends in sha256 checks of the committed files
it reads (each file hashed once per process, on both stores), against the run's wall time.

Runs TrainValidateDeploy on the default digits job and on a generated 200,000-row CSV
(HistGradientBoosting), each as one `luigi` process, with benchmarks/instrument on PYTHONPATH.
A full run hashes each file once, when it stages it, and its own reads of it are then free;
so each job is also re-run from EvaluateModel on (after `invalidate EvaluateModel`), a new
process that reads the model and the split another process wrote: the cold cost."""
import json
import sys
import tempfile
from pathlib import Path

from harness import REPO, Sandbox, run, table
from large import config, make_table

INSTRUMENT = str(REPO / "benchmarks" / "instrument")
ROWS = 200_000


def measured(box: Sandbox, *args: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "verify.json"
        result = box.luigi("TrainValidateDeploy", *args, PYTHONPATH=INSTRUMENT, PIPELINE_BENCH_VERIFY_LOG=str(log))
        return result.seconds, json.loads(log.read_text())


def box_cli(box: Sandbox, *args: str) -> None:
    import datetime as dt

    result = run([sys.executable, "-m", "pipeline", *args, "--date", str(dt.date.today())], box.env())
    if result.returncode:
        raise SystemExit(result.output)


def main() -> list[list]:
    rows = []
    box = Sandbox()
    import pyarrow.csv as pcsv

    source = box.root / "rows.csv"
    pcsv.write_csv(make_table(rows=ROWS), source)
    box.toml.write_text(box.toml.read_text() + config(source).replace("100000", "1000"))
    for label, args in (("digits, logreg", ()), (f"{ROWS:,} rows, hist_gb", ("--dataset", "large", "--model",
                                                                            "hgb_large"))):
        for which in ("full run", "re-run from EvaluateModel"):
            if which != "full run":
                dataset = args[1] if args else "digits"
                model = args[3] if args else "logreg"
                box_cli(box, "invalidate", "EvaluateModel", "--dataset", dataset, "--model", model)
            seconds, verify = measured(box, *args)
            rows.append([f"verified reads, {label}, {which}: {verify['checks']} checks of "
                         f"{verify['bytes'] / 2**20:.1f} MB", f"{verify['seconds']:.3f} s", f"{seconds:.2f} s run",
                         f"{verify['seconds'] / seconds:.1%} of the run", "report", "-"])
    box.remove()
    return rows


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
