"""DAG size: a RangeDaily backfill of 365 days of BatchPredict on tiny inputs (5 rows a day).

Scheduling overhead per task = (wall time - time inside the tasks' run()) / tasks, where the
time inside run() comes from data_dir/runs/durations.jsonl. Also the no-op re-run of the same
range: what checking one complete day costs."""
import datetime as dt
import json

from harness import Sandbox, table

DAYS = 365
START = dt.date(2025, 1, 1)


def main() -> list[list]:
    from sklearn.datasets import load_digits

    box = Sandbox()
    box.luigi("TrainValidateDeploy", f"--date={START - dt.timedelta(days=1)}")
    rows = load_digits(as_frame=True).frame.drop(columns=["target"])
    for i in range(DAYS):
        path = box.data / "incoming" / "digits" / f"{START + dt.timedelta(days=i)}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.iloc[i % 300: i % 300 + 5].to_csv(path, index=False)
    (box.data / "runs" / "durations.jsonl").unlink()

    backfill = ("RangeDaily", "--of", "BatchPredict", "--start", str(START),
                "--stop", str(START + dt.timedelta(days=DAYS)), "--days-back", "3650", "--task-limit", "1000")
    run = box.luigi(*backfill)
    assert f"{DAYS} BatchPredict(" in run.output, run.output[-2000:]
    inside = sum(json.loads(line)["seconds"] for line in (box.data / "runs" / "durations.jsonl").open()
                 if json.loads(line)["task"] == "BatchPredict")
    noop = box.luigi(*backfill)
    box.remove()
    per_task = (run.seconds - inside) / DAYS * 1000
    return [[f"DAG size: RangeDaily of {DAYS} BatchPredict days", f"{run.seconds:.2f} s",
             f"{inside:.2f} s in run()", f"{per_task:.1f} ms/task overhead", "report", "-"],
            ["DAG size: the same range again, all complete", f"{noop.seconds:.2f} s", "-",
             f"{noop.seconds / DAYS * 1000:.1f} ms/day", "report", "-"]]


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
