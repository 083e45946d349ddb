"""Drift beside every batch score and every training day, against the production model's training rows."""
from __future__ import annotations

import pytest
from conftest import DAY2

pytestmark = pytest.mark.e2e
DAY = "--date=2026-03-01"


def incoming(ws, frame, date="2026-03-01"):
    ws.store.write_bytes(f"incoming/digits/{date}.csv", frame.to_csv(index=False).encode())


def digits(n: int = 300):
    from sklearn.datasets import load_digits

    return load_digits(as_frame=True).frame.drop(columns=["target"]).sample(n, random_state=3)


def test_a_batch_score_writes_its_drift_and_alerts_and_refuses_when_told(deployed, webhook):
    ws = deployed()
    incoming(ws, digits())
    calm = ws.run("BatchPredict", DAY)
    assert calm.returncode == 0, calm.output
    [out] = ws.outputs("predictions")
    drift = out.read_json("drift.json")
    assert drift["version"] == "v0001" and drift["rows"] == 300 and drift["problems"] == []
    assert len(drift["columns"]) == 64 and drift["max_psi"] < 0.25
    assert "DRIFT" not in calm.output and "drift" not in webhook.events()

    shifted = digits()
    shifted["pixel_3_4"] = 0.0  # a sensor that died
    incoming(ws, shifted, "2026-03-02")
    alerted = ws.run("BatchPredict", "--date=2026-03-02")
    assert alerted.returncode == 0, alerted.output  # scored all the same: refuse is off by default
    [line] = [line for line in alerted.output.splitlines() if "DRIFT" in line]
    assert "incoming/digits/2026-03-02.csv drifted from the training data of digits/logreg v0001: column " \
           "'pixel_3_4': PSI " in line
    [alert] = [post for post in webhook.posts if post["event"] == "drift"]
    assert alert["reasons"][0].startswith("column 'pixel_3_4': PSI ") and alert["dataset"] == "digits"

    ws.replace_config('source = "sklearn:digits"', 'source = "sklearn:digits"\ndrift = { refuse = true }')
    incoming(ws, shifted, "2026-03-03")
    refused = ws.run("BatchPredict", "--date=2026-03-03")
    assert refused.returncode == 30, refused.output
    [headline] = refused.headlines()
    assert "ERROR pipeline: FAILED BatchPredict(dataset=digits, date=2026-03-03, model=logreg, format=parquet): " \
           "dataset 'digits': " in headline and headline.endswith("not scored (drift.refuse = true in pipeline.toml)")
    assert len(ws.outputs("predictions")) == 2  # nothing written for the refused day


def test_a_training_day_reports_its_drift_from_production(deployed):
    ws = deployed()
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    drift = ws.read_json("validated", "2026-01-02", "report.json")["drift"]
    assert drift["version"] == "v0001" and drift["max_psi"] < 0.02 and not drift["problems"]  # the same digits
    said = f"Drift from the training rows of production v0001: max PSI {drift['max_psi']:.3f} ({drift['worst']}), " \
           "within the dataset&#x27;s drift limits."
    assert f"<h3>Drift</h3><p>{said}</p>" in ws.output("reports", "2026-01-02").file("report.html").read_text()
    assert f"drift: {said}".replace("&#x27;", "'") in ws.main("report").stdout
