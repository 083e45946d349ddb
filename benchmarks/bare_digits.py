# ruff: noqa: E402  (the clock starts before the imports)
"""The default run's ML steps and writes as one plain script, without Luigi: the baseline for
benchmarks/overhead.py. Same data, same functions from pipeline/ml, same files written.
Prints the seconds each step took (as JSON), to set beside the pipeline's task durations.

With --freeze, the objects made by the imports are frozen out of the garbage collector, as the
pipeline does after its preload (pipeline/tasks/base.py): the interpreter's exit then does not
walk them."""
import time

STARTED = time.perf_counter()

import json
import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_digits

from pipeline.ml.data import split_frame, validate_frame, xy
from pipeline.ml.metrics import evaluate
from pipeline.ml.models import fit_model
from pipeline.report import render_html

if "--freeze" in sys.argv:
    import gc

    gc.freeze()
steps, mark = {"imports": time.perf_counter() - STARTED}, time.perf_counter()


def step(name: str) -> None:
    global mark
    steps[name] = time.perf_counter() - mark
    mark = time.perf_counter()


out = Path(sys.argv[1])
out.mkdir(parents=True)
frame = load_digits(as_frame=True).frame
frame.to_parquet(out / "data.parquet")
step("ingest")
report = validate_frame(frame, target="target", problem="classification",
                        checks={"min_rows": 1000, "ranges": {"target": {"min": 0, "max": 9}}})
(out / "report.json").write_text(json.dumps(report, default=str))
step("validate")
train, test = split_frame(frame, target="target", problem="classification", test_size=0.25, seed=42)
train.to_parquet(out / "train.parquet")
test.to_parquet(out / "test.parquet")
step("split")
spec = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2000, "C": 1.0}}
model, _ = fit_model(spec, *xy(train, "target"), "classification")
joblib.dump(model, out / "model.joblib")
step("train")
X_test, y_test = xy(test, "target")
metrics, predictions = evaluate(model, X_test, y_test, "classification")
(out / "metrics.json").write_text(json.dumps(metrics, default=str))
predictions.to_parquet(out / "predictions.parquet")
step("evaluate")
run = {"dataset": "digits", "model": "logreg", "date": "today", "kind": "classification", "generated_at": "now",
       "data": {"source": "sklearn:digits", "rows": len(frame), "columns": frame.shape[1], "fingerprint": ""},
       "validation": report, "candidate": {"version": "v0001", "metrics": metrics},
       "production": {"version": None, "metrics": None}, "verdict": {"passed": True, "reasons": []},
       "decision": {"decision": "promoted", "version": "v0001", "reasons": []},
       "outcome": {"y_true": y_test.tolist(), "y_pred": predictions["prediction"].tolist()},
       "versions": [{"version": "v0001", "date": "today", "status": "production", "metric": "accuracy",
                     "value": metrics["accuracy"]}], "durations": []}
(out / "report.html").write_text(render_html(run))
step("report")
print(json.dumps(steps))
