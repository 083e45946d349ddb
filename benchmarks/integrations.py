"""What the optional integrations cost a run, each against a baseline in the same script:

- MLflow: TrainValidateDeploy of a first version (digits, every task runs) with `[mlflow] tracking_uri`
  set to a sqlite:/// store, against the same run without MLflow; and with MLflow unreachable
  (a port nothing listens on), which must cost one short try, not a stall.
- Drift: comparing 1,000,000 rows (8 numeric, 4 categorical columns) with a training profile,
  against scoring the same rows with a fitted HistGradientBoosting pipeline.

Medians of 3 (1 for the large data); BLAS/OpenMP pinned to one thread. Prints a table.
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import socket  # noqa: E402
import time  # noqa: E402

from harness import Sandbox, machine, median, table  # noqa: E402

REPEATS = 3


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def mlflow_runs() -> list[list]:
    plain, tracked, down = [], [], []
    for _ in range(REPEATS):
        for times, cfg in ((plain, ""), (tracked, "sqlite"), (down, "down")):
            box = Sandbox(cfg_extra="")
            if cfg == "sqlite":
                box.cfg.write_text(box.cfg.read_text() + f"\n[mlflow]\ntracking_uri = sqlite:///{box.root}/mlflow.db\n"
                                   f"artifact_location = {box.root / 'mlartifacts'}\n")
            elif cfg == "down":
                box.cfg.write_text(box.cfg.read_text() + f"\n[mlflow]\ntracking_uri = http://127.0.0.1:{_closed_port()}\n")
            result = box.luigi("TrainValidateDeploy", "--date", "2026-11-30")  # every task, a new version
            times.append(result.seconds)
            if cfg == "sqlite":
                assert "mlflow: digits/logreg: 1 run(s), 1 model version(s)" in result.output, result.output[-2000:]
            if cfg == "down":
                assert "not mirrored to" in result.output, result.output[-2000:]
            box.remove()
    base = median(plain)
    unreachable = median(down) / base
    return [["TrainValidateDeploy, MLflow on a sqlite:/// store", f"{median(tracked):.2f} s", f"{base:.2f} s",
             f"{median(tracked) / base:.2f}x", "- (opt-in)", "-"],
            ["TrainValidateDeploy, MLflow unreachable", f"{median(down):.2f} s", f"{base:.2f} s",
             f"{unreachable:.2f}x", "<= 1.10x", "yes" if unreachable <= 1.10 else "no"]]


def drift_cost() -> list[list]:
    import numpy as np
    import pandas as pd

    from pipeline.ml.drift import compare, profile
    from pipeline.ml.models import fit_model

    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, n) for i in range(8)}
                         | {f"c{i}": rng.choice([f"v{j}" for j in range(20 * (i + 1))], n) for i in range(4)})
    y = (frame["x0"] + (frame["c0"] == "v1") > 0.5).astype(int)
    kinds = {name: "numeric" if name.startswith("x") else "categorical" for name in frame.columns}
    train = frame.sample(50_000, random_state=0)
    model, _ = fit_model({"estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
                          "params": {"max_iter": 50}}, train, y.loc[train.index], "classification")
    started = time.perf_counter()
    reference = profile(train, kinds)
    profiled = time.perf_counter() - started
    started = time.perf_counter()
    drift = compare(reference, frame)
    compared = time.perf_counter() - started
    started = time.perf_counter()
    model.predict(frame)
    scored = time.perf_counter() - started
    assert drift["max_psi"] < 0.01, drift["max_psi"]  # the same distribution
    return [["drift: compare 1,000,000 rows x 12 features", f"{compared:.2f} s", f"{scored:.2f} s (predict)",
             f"{compared / scored:.2f}x", "<= 0.25x of scoring", "yes" if compared <= 0.25 * scored else "no"],
            ["drift: profile of 50,000 training rows", f"{profiled:.2f} s", "-", "-", "-", "-"]]


def main(large: bool = True) -> list[list]:
    return mlflow_runs() + (drift_cost() if large else [])


if __name__ == "__main__":
    print(f"{machine()}; load {os.getloadavg()[0]:.2f}; BLAS/OpenMP 1 thread")
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
