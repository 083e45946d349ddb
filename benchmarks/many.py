"""Many pipelines at once: 12 dataset x model pairs (iris, wine, breast_cancer and digits, each
with logreg, random_forest and hist_gb), each its own deployment in one pipeline.toml.

Pipeline: one `luigi --module pipeline TrainValidateDeployAll --workers 2` (every deployment in
one run, as config/crontab does). Baseline: the same 12 `TrainValidateDeploy --dataset X` run one
after another, each its own `luigi` process (12 cron lines). Both from an empty data dir, BLAS
and OpenMP on one thread. Target: <= 0.6x on 2 cores. Scheduling overhead per task = (wall time
x workers - time inside run()) / tasks: what a worker slot spends outside the tasks' own work.

Then checking complete tasks: a RangeDaily of 1,000 BatchPredict days, made once, run again
when every day is complete, against the same range of one day; the difference per day is what
one more complete task costs a run. Target: < 2 ms per complete task.
"""
import datetime as dt
import json
import re

from harness import Sandbox, table

PAIRS = [(data, model) for data in ("iris", "wine", "breast_cancer", "digits")
         for model in ("logreg", "random_forest", "hist_gb")]
DAYS = 1000
START = dt.date(2023, 1, 1)
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def many_sandbox() -> Sandbox:
    """The shipped config with each pair as a dataset of its own, and no other deployment."""
    box = Sandbox()
    shipped = re.sub(r"(?m)^models = .*\n", "", box.toml.read_text())
    pairs = "".join(f'\n[datasets.{data}_{model}]\nsource = "sklearn:{data}"\ntarget = "target"\n'
                    f'problem = "classification"\nmodels = ["{model}"]\n' for data, model in PAIRS)
    box.toml.write_text(shipped + pairs)
    return box


def inside(box: Sandbox) -> tuple[float, int]:
    """(seconds inside the tasks' run(), tasks that ran) from durations.jsonl."""
    records = [json.loads(line) for line in (box.data / "runs" / "durations.jsonl").open()]
    return sum(r["seconds"] for r in records), len(records)


def pipelines() -> list[list]:
    box = many_sandbox()
    together = box.luigi("TrainValidateDeployAll", "--workers", "2", **THREADS)
    work, tasks = inside(box)
    box.remove()
    box = many_sandbox()
    alone = sum(box.luigi("TrainValidateDeploy", "--dataset", f"{data}_{model}", **THREADS).seconds
                for data, model in PAIRS)
    box.remove()
    ratio = together.seconds / alone
    overhead = (together.seconds * 2 - work) / tasks * 1000
    return [[f"many pipelines: {len(PAIRS)} dataset x model pairs, one run --workers 2 vs {len(PAIRS)} runs "
             "one after another", f"{together.seconds:.2f} s", f"{alone:.2f} s", f"{ratio:.2f}x", "<= 0.6x",
             "yes" if ratio <= 0.6 else "no"],
            [f"many pipelines: scheduling overhead per task ({tasks} tasks, 2 workers)", f"{overhead:.0f} ms",
             f"{work:.2f} s in run()", "-", "report", "-"]]


def complete_checks() -> list[list]:
    from sklearn.datasets import load_digits

    box = Sandbox()
    box.luigi("TrainValidateDeploy", f"--date={START - dt.timedelta(days=1)}", **THREADS)
    rows = load_digits(as_frame=True).frame.drop(columns=["target"])
    for i in range(DAYS):
        path = box.data / "incoming" / "digits" / f"{START + dt.timedelta(days=i)}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.iloc[i % 300: i % 300 + 5].to_csv(path, index=False)

    def backfill(days: int):
        return box.luigi("RangeDaily", "--of", "BatchPredict", "--start", str(START),
                         "--stop", str(START + dt.timedelta(days=days)), "--days-back", "3650",
                         "--task-limit", str(DAYS), **THREADS)

    made = backfill(DAYS)
    assert f"{DAYS} BatchPredict(" in made.output, made.output[-2000:]
    many, one = [], []
    for _ in range(3):
        many.append(backfill(DAYS).seconds)
        one.append(backfill(1).seconds)
    box.remove()
    many_s, one_s = min(many), min(one)
    per_task = (many_s - one_s) / (DAYS - 1) * 1000
    return [[f"checking complete tasks: RangeDaily of {DAYS:,} complete BatchPredict days vs 1 day",
             f"{many_s:.2f} s", f"{one_s:.2f} s", f"{per_task:.2f} ms per complete task", "< 2 ms",
             "yes" if per_task < 2 else "no"]]


def main() -> list[list]:
    return pipelines() + complete_checks()


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
