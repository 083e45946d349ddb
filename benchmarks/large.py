"""Large data: a generated 1,000,000-row CSV (made here in a temporary folder, never committed) with
12 float and 2 integer columns, 4 low-cardinality text categoricals (4 to 40 values), one skewed
high-cardinality one (10,000 merchants), 2 ISO date columns, missing values in 4 columns, and a
yes/no label that depends on numbers, a categorical, the merchant and a date.

Pipeline: IngestData, ValidateData, SplitData, TrainModel and EvaluateModel (HistGradientBoosting,
max_iter = 100, no early stopping), DeployModel (with its ValidateModel) and BatchPredict of the
1,000,000 rows, each as its own `luigi` process: the time inside the task's run()
(data_dir/runs/durations.jsonl) and the process's peak RSS.
Hand-written: benchmarks/bare_large.py, the same step in plain pandas/scikit-learn, each step its
own process too: the step's time after the imports and the process's peak RSS. Its model is the
best practice: the same HistGradientBoosting params on native categories (pandas `category`
dtype), the merchant TargetEncoder'd (as the pipeline's rule does beyond 255 categories), dates
as year/month/day/dayofweek/dayofyear, missing values left to the model.

Both sides on one BLAS/OpenMP thread. The frame's size is the ingested frame's
`memory_usage(deep=True)`. Targets: every task's peak RSS <= 3x the frame; TrainModel <= 1.3x the
hand-written fit (which uses native categorical support); the rest is reported.
"""
import json
import os
import sys

from harness import REPO, Sandbox, run, table

ROWS = 1_000_000
DATE = "2025-01-02"
TARGET, HIGH_CARD, MIN_ROWS = "label", "merchant", 100_000
LOW_CARD = {"channel": 4, "plan": 12, "region": 25, "device": 40}
DATES = ("signup", "last_seen")
THREADS = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def config(source) -> str:
    return f"""
[datasets.large]
source = "{source}"
target = "{TARGET}"
problem = "classification"
checks = {{ min_rows = {MIN_ROWS} }}

[models.hgb_large]
estimator = "sklearn.ensemble.HistGradientBoostingClassifier"
params = {{ max_iter = 100, early_stopping = false, random_state = 0 }}

[gates.large]
accuracy = {{ min = 0.5 }}
"""


# (pipeline task, the task families its `luigi` process runs, the hand-written step)
TASKS = [("IngestData", ["IngestData"], "ingest"), ("ValidateData", ["ValidateData"], "validate"),
         ("SplitData", ["SplitData"], "split"), ("TrainModel", ["TrainModel"], "train"),
         ("EvaluateModel", ["EvaluateModel"], "evaluate"), ("DeployModel", ["ValidateModel", "DeployModel"], None),
         ("BatchPredict", ["BatchPredict"], "predict")]


def make_table(rows: int = ROWS, seed: int = 0):
    """The generated table (pyarrow), label last."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(size=rows).round(4) for i in range(12)}
    columns |= {"visits": rng.integers(0, 50, size=rows), "age": rng.integers(18, 90, size=rows)}
    codes = {name: rng.integers(0, n, size=rows) for name, n in LOW_CARD.items()}
    weights = 1 / np.arange(1, 10_001) ** 1.1  # a few merchants have most rows, thousands have a handful
    codes[HIGH_CARD] = rng.choice(len(weights), size=rows, p=weights / weights.sum())
    missing = {"x3": 0.05, "x7": 0.01, "plan": 0.02, "last_seen": 0.01}
    mask = {name: rng.random(rows) < share for name, share in missing.items()}
    for name in ("x3", "x7"):
        columns[name][mask[name]] = np.nan
    for name, code in codes.items():
        vocab = pa.array([f"{name}_{k}" for k in range(code.max() + 1)])
        columns[name] = pa.DictionaryArray.from_arrays(pa.array(code, mask=mask.get(name)), vocab).cast(pa.string())
    days = {"signup": rng.integers(0, 3650, size=rows), "last_seen": rng.integers(0, 365, size=rows)}
    epochs = {"signup": np.datetime64("2015-01-01"), "last_seen": np.datetime64("2024-01-01")}
    stamps = {name: epochs[name] + days[name] for name in DATES}
    columns |= {name: pa.array(stamps[name], mask=mask.get(name)) for name in DATES}
    weekend = np.isin(stamps["last_seen"].view("int64") % 7, (2, 3))  # 1970-01-01 was a Thursday
    score = (columns["x0"] + 0.7 * columns["x1"] - 0.03 * (columns["visits"] - 25) + 0.3 * (codes["plan"] % 3 - 1)
             + rng.normal(scale=0.8, size=10_000)[codes[HIGH_CARD]] + 0.6 * (weekend & ~mask["last_seen"])
             + 0.8 * (days["signup"] / 3650 - 0.5) + rng.normal(size=rows) - 0.3)
    columns[TARGET] = np.where(score > 0, "yes", "no")
    return pa.table(columns)


def inside(box: Sandbox, families) -> float:
    """Seconds inside run() of the last recorded run of each task family, summed."""
    lines = [json.loads(line) for line in (box.data / "runs" / "durations.jsonl").open()]
    return sum([e["seconds"] for e in lines if e["task"] == family][-1] for family in families)


def by_hand(box: Sandbox, step: str, *args: str) -> tuple[dict, float]:
    """(what bare_large.py STEP printed, its process's peak RSS in MB)."""
    done = run([sys.executable, str(REPO / "benchmarks" / "bare_large.py"), step, *args], box.env(**THREADS))
    if done.returncode:
        raise SystemExit(f"bare_large.py {step} exited {done.returncode}:\n{done.output[-3000:]}")
    return json.loads(done.output.strip().splitlines()[-1]), done.peak_mb


def measure(box: Sandbox, source, incoming) -> dict:
    """{task: (seconds inside run(), peak MB, (hand-written step's output, its peak MB) or None)}."""
    results, bare = {}, box.root / "bare"
    bare.mkdir()
    for name, families, step in TASKS:
        print(f"  {name} ...", file=sys.stderr, flush=True)
        model = [] if name in ("IngestData", "ValidateData", "SplitData") else ["--model", "hgb_large"]
        process = box.luigi(name, "--dataset", "large", "--date", DATE, *model, **THREADS)
        csv = {"ingest": [str(source)], "predict": [str(incoming)]}.get(step, [])
        results[name] = (inside(box, families), process.peak_mb, by_hand(box, step, str(bare), *csv) if step else None)
    return results


def main() -> list[list]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    box = Sandbox()
    try:
        source, incoming = box.root / "large.csv", box.data / "incoming" / "large" / f"{DATE}.csv"
        incoming.parent.mkdir(parents=True)
        data = make_table()
        pcsv.write_csv(data, source)
        pcsv.write_csv(data.drop_columns([TARGET]), incoming)  # BatchPredict scores the same rows, unlabelled
        del data
        pa.default_memory_pool().release_unused()  # this process stays small: see harness.run
        box.toml.write_text(box.toml.read_text() + config(source))
        results = measure(box, source, incoming)
        metrics = json.loads(next((box.data / "evaluations").rglob("metrics.json")).read_text())
    finally:
        box.remove()

    frame_mb = results["IngestData"][2][0]["frame_mb"]
    what = f"large data ({ROWS:,} rows, {frame_mb:.0f} MB frame)"

    def mb(value: float) -> str:
        return f"{value:,.0f} MB ({value / frame_mb:.1f}x frame)"

    rows = []
    for name, (seconds, peak, bare) in results.items():
        time_row = [f"{what}: {name} time", f"{seconds:.2f} s", "-", "-", "report", "-"]
        fits = peak <= 3 * frame_mb
        rss_row = [f"{what}: {name} peak RSS", mb(peak), "-", "-", "<= 3x frame", "yes" if fits else "no"]
        if bare:
            (out, bare_peak), ratio = bare, seconds / bare[0]["seconds"]
            time_row[2:4] = f"{out['seconds']:.2f} s", f"{ratio:.2f}x"
            rss_row[2:4] = mb(bare_peak), f"{peak / bare_peak:.2f}x"
        if name == "TrainModel":
            time_row[4:] = "<= 1.3x", "yes" if ratio <= 1.3 else "no"
        rows += [time_row, rss_row]
    bare_metrics = results["EvaluateModel"][2][0]
    rows.append([f"{what}: test accuracy (balanced accuracy)",
                 f"{metrics['accuracy']:.4f} ({metrics['balanced_accuracy']:.4f})",
                 f"{bare_metrics['accuracy']:.4f} ({bare_metrics['balanced_accuracy']:.4f})", "-", "report", "-"])
    return rows


if __name__ == "__main__":
    load = os.getloadavg()[0]
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
    print(f"\n1-minute load average {load:.2f} -> {os.getloadavg()[0]:.2f}")
