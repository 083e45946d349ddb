"""Large data: a generated CSV of 1,000,000 rows and 25 columns (numeric and categorical; made
here in a temporary folder, never committed) through IngestData, ValidateData, SplitData,
TrainModel (HistGradientBoosting) and EvaluateModel, each task as its own `luigi` process:
the time inside the task's run() (data_dir/runs/durations.jsonl) and the process's peak memory.

Ingest against a bare `pandas.read_csv(engine="pyarrow")` + `to_parquet` of the same file, both
timed after imports. Target: ratio <= 1.3."""
import json
import sys
import tempfile
from pathlib import Path

from harness import Sandbox, run, table

ROWS = 1_000_000
BARE_INGEST = """
import sys, time
import pandas as pd, pyarrow.csv, pyarrow.parquet
started = time.perf_counter()
pd.read_csv(sys.argv[1], engine="pyarrow").to_parquet(sys.argv[2])
print(time.perf_counter() - started)
"""
CONFIG = """
[datasets.large]
source = "{path}"
target = "label"
problem = "classification"
checks = {{ min_rows = 100000 }}

[models.hgb_large]
estimator = "sklearn.ensemble.HistGradientBoostingClassifier"
params = {{ max_iter = 100, early_stopping = false, random_state = 0 }}

[gates.large]
accuracy = {{ min = 0.5 }}
"""


def make_csv(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """18 float, 1 integer and 5 text columns, and a yes/no label that depends on some of them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(size=rows).round(4) for i in range(18)}
    columns["visits"] = rng.integers(0, 50, size=rows)
    vocab = {f"c{i}": np.array([f"v{i}_{k}" for k in range(4 + 4 * i)]) for i in range(5)}
    codes = {name: rng.integers(0, len(values), size=rows) for name, values in vocab.items()}
    columns |= {name: vocab[name][code] for name, code in codes.items()}
    score = columns["x0"] + 0.5 * columns["x1"] - 0.03 * columns["visits"] + (codes["c0"] == 1)
    score = score + rng.normal(size=rows)
    columns["label"] = np.where(score > 0, "yes", "no")
    pcsv.write_csv(pa.table(columns), path)


def main() -> list[list]:
    box = Sandbox()
    source = box.root / "large.csv"
    make_csv(source)
    box.toml.write_text(box.toml.read_text() + CONFIG.format(path=source))
    size_mb = source.stat().st_size / 2**20

    rows = []
    for task in ("IngestData", "ValidateData", "SplitData", "TrainModel", "EvaluateModel"):
        model = ["--model", "hgb_large"] if task in ("TrainModel", "EvaluateModel") else []
        args = [task, "--dataset", "large", *model]
        result = box.luigi(*args)
        inside = [json.loads(line)["seconds"] for line in (box.data / "runs" / "durations.jsonl").open()
                  if json.loads(line)["task"] == task][-1]
        rows.append([f"large data ({ROWS:,} rows, {size_mb:.0f} MB CSV): {task}", f"{inside:.2f} s",
                     f"{result.seconds:.2f} s process", f"{result.peak_mb:,.0f} MB peak", "report", "-"])

    with tempfile.TemporaryDirectory() as tmp:
        bare = run([sys.executable, "-c", BARE_INGEST, str(source), str(Path(tmp) / "bare.parquet")])
    bare_seconds = float(bare.output.strip().splitlines()[-1])
    ingest = float(rows[0][1].split()[0])
    ratio = ingest / bare_seconds
    rows.insert(1, ["large data: IngestData vs read_csv(engine='pyarrow') + to_parquet", f"{ingest:.2f} s",
                    f"{bare_seconds:.2f} s", f"{ratio:.2f}x", "<= 1.3x", "yes" if ratio <= 1.3 else "no"])
    box.remove()
    return rows


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
