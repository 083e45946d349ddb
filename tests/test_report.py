"""The run report: plots per problem kind, the HTML page, escaping, and the terminal summary."""
from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.report import plot_pngs, render_html, text_summary

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ["Dataset", "Metrics", "Gate decision", "Plots", "Task durations"]


def classification_run(**overrides) -> dict:
    """A small but complete `run` for digits/logreg; keyword arguments replace top-level keys."""
    run = {
        "dataset": "digits", "model": "logreg", "date": "2026-01-02", "kind": "classification",
        "generated_at": "2026-11-22T02:10:00+00:00",
        "data": {"source": "sklearn:digits", "rows": 1797, "columns": 65, "fingerprint": "ab12cd34ef56" + "0" * 52},
        "validation": {
            "passed": True, "rows_usable": 1797, "violations": [],
            "class_counts": {"0": 178, "1": 182},
            "column_summary": {"pixel_0_1": {"dtype": "float64", "min": 0.0, "max": 8.0, "nulls": 0,
                                             "null_fraction": 0.0, "unique": 9}},
            "dataset": "digits",
        },
        "candidate": {"version": "v0002", "metrics": {
            "kind": "classification", "accuracy": 0.97123, "f1_macro": 0.968, "n_samples": 90,
            "confusion_matrix": {"labels": [0, 1], "matrix": [[40, 2], [3, 45]]}}},
        "production": {"version": "v0001", "metrics": {
            "kind": "classification", "accuracy": 0.96, "f1_macro": 0.95, "n_samples": 90,
            "confusion_matrix": {"labels": [0, 1], "matrix": [[39, 3], [4, 44]]}}},
        "verdict": {"passed": True, "reasons": ["accuracy 0.9712 >= 0.95"],
                    "note": "compared with production v0001 on 90 test rows it was not fitted on",
                    "checks": [{"rule": "accuracy >= 0.95", "value": 0.97123, "passed": True,
                                "reason": "accuracy 0.9712 >= 0.95"},
                               {"rule": "roc_auc is measured", "passed": True, "reason": "no value recorded"}]},
        "decision": {"decision": "promoted", "version": "v0002", "reasons": ["accuracy 0.9712 >= 0.95"],
                     "production_before": "v0001", "production_after": "v0002"},
        "outcome": {"y_true": [0, 1, 1, 0], "y_pred": [0, 1, 0, 0]},
        "versions": [{"version": "v0001", "date": "2026-01-01", "status": "retired", "metric": "accuracy",
                      "value": 0.96},
                     {"version": "v0002", "date": "2026-01-02", "status": "production", "metric": "accuracy",
                      "value": 0.97123}],
        "durations": [{"task": "IngestData", "task_id": "IngestData_digits_2026_01_02_abc", "seconds": 0.41},
                      {"task": "TrainModel", "task_id": "TrainModel_digits_logreg_2026_01_02_def", "seconds": 2.5}],
    }
    run.update(overrides)
    return run


def regression_run(**overrides) -> dict:
    metrics = {"kind": "regression", "rmse": 53.3, "mae": 43.1, "r2": 0.45, "n_samples": 4}
    run = classification_run(
        dataset="diabetes", model="ridge", kind="regression",
        candidate={"version": "v0001", "metrics": metrics}, production={"version": None, "metrics": None},
        outcome={"y_true": [100.0, 150.0, 80.0, 200.0], "y_pred": [110.0, 140.0, 95.0, 180.0]},
        versions=[{"version": "v0001", "date": "2026-01-02", "status": "production", "metric": "rmse", "value": 53.3}])
    run["validation"] = {**run["validation"], "class_counts": None}
    run.update(overrides)
    return run


def clustering_run(**overrides) -> dict:
    metrics = {"kind": "clustering", "v_measure": 0.62, "inertia": 69545.3, "n_samples": 6}
    run = classification_run(
        model="kmeans", kind="clustering", candidate={"version": "v0003", "metrics": metrics},
        outcome={"y_true": None, "y_pred": [0, 1, 1, 2, 2, 2]}, versions=[])
    run.update(overrides)
    return run


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.mark.parametrize("make_run, expected", [
    (classification_run, {"confusion_matrix", "metric_by_version"}),
    (regression_run, {"residuals", "metric_by_version"}),
    (clustering_run, {"cluster_sizes"}),
])
def test_each_kind_gets_its_plots_as_png(make_run, expected):
    pngs = plot_pngs(make_run())
    assert set(pngs) == expected
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())


def test_plots_without_inputs_are_left_out():
    run = classification_run(versions=[{"version": "v0001", "status": "retired", "metric": "accuracy", "value": None}])
    run["candidate"] = {"version": "v0002", "metrics": {"kind": "classification", "accuracy": 0.9}}
    assert plot_pngs(run) == {}
    assert plot_pngs(regression_run(outcome={"y_true": [], "y_pred": []}, versions=[])) == {}
    assert plot_pngs(clustering_run(outcome={"y_true": None, "y_pred": None})) == {}


def test_metric_by_version_includes_a_candidate_not_yet_in_the_registry():
    from pipeline.report import _plot_inputs

    run = clustering_run(versions=[{"version": "v0001", "status": "production", "metric": "v_measure", "value": 0.6},
                                   {"version": "v0002", "status": "rejected", "metric": "v_measure", "value": 0.4}])
    assert _plot_inputs(run)["metric_by_version"] == {
        "metric": "v_measure", "candidate": "v0003",
        "points": [("v0001", 0.6, "production"), ("v0002", 0.4, "rejected"), ("v0003", 0.62, "candidate")]}
    png = plot_pngs(run)["metric_by_version"]
    assert png.startswith(b"\x89PNG") and len(png) > 15000  # drawn: an empty 5x4 in. canvas is about 8 KB


def test_html_has_every_section_in_order_and_embeds_the_plots():
    page = render_html(classification_run())
    assert "<h1>Run report: digits/logreg 2026-01-02</h1>" in page
    assert "2026-11-22T02:10:00+00:00" in page
    positions = [page.index(f"<h2>{heading}</h2>") for heading in SECTIONS]
    assert positions == sorted(positions)
    images = embedded_pngs(page)
    assert len(images) == 2 and all(image.startswith(b"\x89PNG") for image in images)
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_html_shows_metrics_decision_checks_and_durations():
    page = render_html(classification_run(), pngs={})
    assert "candidate (v0002)" in page and "production (v0001)" in page
    assert "0.9712" in page and "0.9600" in page
    assert ">n_samples<" not in page  # a count, not a metric
    assert "confusion_matrix" not in page and ">kind<" not in page
    assert "ab12cd34ef56" in page and "ab12cd34ef560" not in page
    assert "promoted" in page and "v0001 &rarr; v0002" in page
    assert "compared with production v0001 on 90 test rows" in page
    assert "roc_auc is measured" in page
    assert "2.91" in page  # total seconds


def test_html_given_pngs_does_not_draw():
    page = render_html(classification_run(), pngs={"residuals": b"\x89PNG fake"})
    assert embedded_pngs(page) == [b"\x89PNG fake"]


def test_strings_from_the_run_are_escaped():
    evil = "<script>alert(1)</script>"
    run = classification_run(dataset=evil)
    run["data"] = {**run["data"], "source": evil}
    run["decision"] = {**run["decision"], "reasons": [evil]}
    run["validation"] = {**run["validation"], "passed": False,
                         "column_summary": {evil: {"dtype": "object", "min": evil, "nulls": 1}},
                         "violations": [{"column": evil, "rule": "nulls", "detail": evil}]}
    page = render_html(run, pngs={})
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_missing_optional_parts_render_as_none():
    run = regression_run(durations=[], versions=[])
    run["verdict"] = {"passed": True, "reasons": [], "checks": []}
    run["decision"] = {**run["decision"], "version": "v0001", "production_before": None, "production_after": "v0001"}
    page = render_html(run)
    assert all(f"<h2>{heading}</h2>" in page for heading in SECTIONS)
    assert "Task durations: none" in page and "Checks: none" in page
    assert "production</th>" in page and "—" in page
    assert "production none &rarr; v0001" in page
    assert "Class counts" not in page


def test_long_column_summaries_are_cut_at_30():
    run = classification_run()
    summary = {f"pixel_{i}": {"dtype": "float64", "min": 0.0, "max": 16.0, "nulls": 0, "unique": 17}
               for i in range(35)}
    run["validation"] = {**run["validation"], "column_summary": summary}
    page = render_html(run, pngs={})
    assert "pixel_29" in page and "pixel_30" not in page
    assert "... and 5 more" in page


def test_text_summary_has_decision_reasons_durations_and_recent_history():
    history = [{"at": f"2026-01-{day:02d}T02:00:00+00:00", "event": "registered", "version": f"v{day:04d}",
                "reason": "new candidate"} for day in range(1, 12)]
    history.append({"at": "2026-01-12T02:00:00+00:00", "event": "rejected", "version": "v0012",
                    "reasons": ["accuracy 0.80 < 0.95", "worse than production"]})
    text = text_summary(classification_run(), history)
    lines = text.splitlines()
    assert lines[0] == "digits/logreg run of 2026-01-02 (report made 2026-11-22T02:10:00+00:00)"
    assert "1797 rows from sklearn:digits" in text
    assert "decision: promoted v0002 (production v0001 -> v0002)" in text
    assert "  - accuracy 0.9712 >= 0.95" in text
    assert re.search(r"total:\s+2\.91 s", text)
    assert re.search(r"accuracy\s+0\.9712\s+—\s+0\.9600", text)  # no baseline in this run
    history_lines = lines[lines.index(next(line for line in lines if line.startswith("registry history"))) + 1:]
    assert len(history_lines) == 10
    assert "v0003" in history_lines[0] and "v0002" not in "".join(history_lines)
    assert re.search(r"rejected\s+v0012\s+accuracy 0.80 < 0.95; worse than production", history_lines[-1])


def test_text_summary_without_production_durations_or_history():
    text = text_summary(regression_run(durations=[]), [])
    assert "task durations: none" in text and "registry history: none" in text
    assert re.search(r"rmse\s+53\.3000\s+—", text)


def test_importing_the_module_does_not_import_matplotlib():
    code = "import pipeline.report, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
