"""The run report: plots per problem kind, the HTML page, escaping, and the terminal summary."""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.ml.card import estimator_params
from pipeline.report import plot_svgs, render_html, render_validation_html, text_summary

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
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
            "kind": "classification", "accuracy": 0.97123, "balanced_accuracy": 0.9701, "f1_macro": 0.968,
            "n_samples": 90,
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
        "model_card": {"estimator": estimator_params(
            {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 0.5, "max_iter": 500}},
            {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}})},
        "watched": [{"metric": "balanced_accuracy", "bounds": {}}, {"metric": "accuracy", "bounds": {"min": 0.95}}],
        "versions": [{"version": "v0001", "date": "2026-01-01", "status": "retired",
                      "metrics": {"balanced_accuracy": 0.955, "accuracy": 0.96}},
                     {"version": "v0002", "date": "2026-01-02", "status": "production",
                      "metrics": {"balanced_accuracy": 0.9701, "accuracy": 0.97123}}],
        "durations": [{"task": "IngestData", "task_id": "IngestData_digits_2026_01_02_abc", "seconds": 0.41,
                       "started_at": "2026-11-22T02:09:50.000+00:00",
                       "log": "../../../../../runs/logs/IngestData/digits/2026-01-02/a.log"},
                      {"task": "TrainModel", "task_id": "TrainModel_digits_logreg_2026_01_02_def", "seconds": 2.5,
                       "started_at": "2026-11-22T02:09:50.500+00:00", "log": None}],
        "wall_seconds": 3.0, "already_complete": ["ValidateData"],
    }
    run.update(overrides)
    return run


def regression_run(**overrides) -> dict:
    metrics = {"kind": "regression", "rmse": 53.3, "mae": 43.1, "r2": 0.45, "n_samples": 4}
    run = classification_run(
        dataset="diabetes", model="ridge", kind="regression",
        candidate={"version": "v0001", "metrics": metrics}, production={"version": None, "metrics": None},
        outcome={"y_true": [100.0, 150.0, 80.0, 200.0], "y_pred": [110.0, 140.0, 95.0, 180.0]},
        model_card={}, watched=[{"metric": "rmse", "bounds": {"max": 60.0}}],
        versions=[{"version": "v0001", "date": "2026-01-02", "status": "production", "metrics": {"rmse": 53.3}}])
    run["validation"] = {**run["validation"], "class_counts": None}
    run.update(overrides)
    return run


def clustering_run(**overrides) -> dict:
    metrics = {"kind": "clustering", "v_measure": 0.62, "inertia": 69545.3, "n_samples": 6}
    run = classification_run(
        model="kmeans", kind="clustering", candidate={"version": "v0003", "metrics": metrics},
        outcome={"y_true": None, "y_pred": [0, 1, 1, 2, 2, 2]}, versions=[],
        watched=[{"metric": "v_measure", "bounds": {}}])
    run.update(overrides)
    return run


def embedded_svgs(page: str) -> list[str]:
    return [base64.b64decode(data).decode() for data in
            re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)]


def svg_root(svg: str) -> ET.Element:
    """The parsed document: well-formed XML, a real SVG with its pixel size."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and int(root.get("width")) > 0 and int(root.get("height")) > 0
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("make_run, expected", [
    (classification_run, {"confusion_matrix", "metrics_over_dates"}),
    (regression_run, {"residuals", "metrics_over_dates"}),
    (clustering_run, {"cluster_sizes", "metrics_over_dates"}),
])
def test_each_kind_gets_its_plots_as_svg(make_run, expected):
    svgs = plot_svgs(make_run())
    assert set(svgs) == expected
    sizes = {name: (svg_root(svg).get("width"), svg_root(svg).get("height")) for name, svg in svgs.items()}
    assert sizes == {name: ("650", "550") if name == "metrics_over_dates" and make_run is classification_run else
                     ("650", "310") if name == "metrics_over_dates" else ("500", "400") for name in expected}


def test_plots_without_inputs_are_left_out():
    run = classification_run(versions=[{"version": "v0001", "date": "2026-01-01", "status": "retired",
                                        "metrics": {"balanced_accuracy": None}}])
    run["candidate"] = {"version": "v0001", "metrics": {"kind": "classification", "accuracy": 0.9}}
    assert plot_svgs(run) == {}
    assert plot_svgs(regression_run(outcome={"y_true": [], "y_pred": []}, versions=[], watched=[])) == {}
    assert plot_svgs(clustering_run(outcome={"y_true": None, "y_pred": None}, watched=[])) == {}


def test_metrics_over_dates_follow_the_compared_metric_and_each_bounded_one_with_the_candidate():
    from pipeline.report import _plot_inputs

    run = clustering_run(date="2026-01-03", watched=[{"metric": "v_measure", "bounds": {"min": 0.5}},
                                                     {"metric": "noise_fraction", "bounds": {"max": 0.6}}],
                         versions=[{"version": "v0001", "date": "2026-01-01", "status": "production",
                                    "metrics": {"v_measure": 0.6, "noise_fraction": 0.1}},
                                   {"version": "v0002", "date": "2026-01-02", "status": "rejected",
                                    "metrics": {"v_measure": 0.4, "noise_fraction": None}}])
    run["candidate"]["metrics"]["noise_fraction"] = 0.2
    assert _plot_inputs(run)["metrics_over_dates"] == {"candidate": "v0003", "panels": [
        {"metric": "v_measure", "bounds": {"min": 0.5}, "lower_is_better": False,
         "points": [("2026-01-01", "v0001", 0.6, "production"), ("2026-01-02", "v0002", 0.4, "rejected"),
                    ("2026-01-03", "v0003", 0.62, "candidate")]},
        {"metric": "noise_fraction", "bounds": {"max": 0.6}, "lower_is_better": True,
         "points": [("2026-01-01", "v0001", 0.1, "production"), ("2026-01-03", "v0003", 0.2, "candidate")]}]}
    root = svg_root(plot_svgs(run)["metrics_over_dates"])
    [line, noise_line] = root.iter(f"{SVG}polyline")  # a line through each panel's points, in date order
    assert len(line.get("points").split()) == 3 and len(noise_line.get("points").split()) == 2
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    assert xs == sorted(xs)
    assert {"production", "rejected", "candidate", "this run (v0003)", "gate floor 0.5", "gate ceiling 0.6",
            "2026-01-01", "2026-01-03", "run date"} <= set(texts(root))


def test_the_metrics_plot_draws_the_gates_floor_and_says_which_way_is_better():
    root = svg_root(plot_svgs(regression_run())["metrics_over_dates"])
    assert ["rmse", "(lower is better)"] == [t for t in texts(root) if "rmse" in t or "better" in t]
    [ceiling] = [line for line in root.iter(f"{SVG}line") if line.get("stroke-dasharray") and line.get("class")]
    assert ceiling.get("class") == "gate-max" and ceiling.get("y1") == ceiling.get("y2")
    assert "gate ceiling 60.0" in texts(root)
    point, _in_legend = root.iter(f"{SVG}polygon")  # v0001, in production: a star
    assert float(point.get("points").split()[0].split(",")[1]) > float(ceiling.get("y1"))  # 53.3 is below 60

    root = svg_root(plot_svgs(classification_run())["metrics_over_dates"])
    assert "(higher is better)" in texts(root) and "balanced_accuracy" in texts(root)
    assert [line.get("class") for line in root.iter(f"{SVG}line") if line.get("class")] == ["gate-min"]


def test_plots_name_their_labels_escaped_and_sample_a_long_residual_plot():
    run = classification_run()
    run["candidate"]["metrics"]["confusion_matrix"] = {"labels": ["<b>", "no"], "matrix": [[1, 2], [3, 4]]}
    svg = plot_svgs(run)["confusion_matrix"]
    assert "<b>" not in svg and {"<b>", "no"} <= set(texts(svg_root(svg)))  # escaped in the file
    assert {"1", "2", "3", "4", "predicted", "true"} <= set(texts(svg_root(svg)))

    many = regression_run(outcome={"y_true": [float(i) for i in range(9000)], "y_pred": [i + 0.5 for i in range(9000)]})
    root = svg_root(plot_svgs(many)["residuals"])
    assert len(list(root.iter(f"{SVG}circle"))) == 1800  # every 5th of 9,000 rows
    assert "Residuals (1,800 of 9,000 rows)" in texts(root)


def test_ticks_are_round_and_cover_the_values():
    from pipeline.plots import nice_ticks

    assert nice_ticks(0.93, 0.981) == [0.92, 0.94, 0.96, 0.98, 1.0]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.5, 0.5) == [0.46, 0.48, 0.5, 0.52, 0.54]
    assert nice_ticks(-3.2, 7.9)[0] <= -3.2 and nice_ticks(-3.2, 7.9)[-1] >= 7.9


def test_html_has_every_section_in_order_and_embeds_the_plots():
    page = render_html(classification_run())
    assert "<h1>Run report: digits/logreg 2026-01-02</h1>" in page
    assert "2026-11-22T02:10:00+00:00" in page
    positions = [page.index(f"<h2>{heading}</h2>") for heading in SECTIONS]
    assert positions == sorted(positions)
    images = embedded_svgs(page)
    assert [svg_root(image).get("width") for image in images] == ["500", "650"]
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_html_shows_metrics_decision_checks_and_durations():
    page = render_html(classification_run(), plots={})
    assert "candidate (v0002)" in page and "production (v0001)" in page
    assert "0.9712" in page and "0.9600" in page
    assert ">n_samples<" not in page  # a count, not a metric
    assert "confusion_matrix" not in page and ">kind<" not in page
    assert "ab12cd34ef56" in page and "ab12cd34ef560" not in page
    assert "promoted" in page and "v0001 &rarr; v0002" in page
    assert "compared with production v0001 on 90 test rows" in page
    assert "roc_auc is measured" in page


def test_html_shows_every_param_beside_productions_and_what_differs():
    page = render_html(classification_run(), plots={})
    assert "sklearn.linear_model.LogisticRegression, as in production v0001, with other C." in page
    assert '<tr class="differs"><td>C</td><td>0.5</td><td>1.0</td></tr>' in page
    assert "<tr><td>max_iter</td><td>500</td><td>500</td></tr>" in page
    assert re.search(r"<details><summary>\d+ more params at scikit-learn's defaults, the same in production", page)
    assert "<td>penalty</td>" in page.split("<details>")[1]

    another = estimator_params({"estimator": "sklearn.ensemble.RandomForestClassifier"},
                               {"estimator": "sklearn.linear_model.LogisticRegression"})
    page = render_html(classification_run(model_card={"estimator": another}), plots={})
    assert "production v0001 is another estimator: sklearn.linear_model.LogisticRegression." in page
    first = estimator_params({"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 2.0}})
    page = render_html(regression_run(model_card={"estimator": first}), plots={})
    assert "sklearn.linear_model.Ridge; no production model to compare with." in page
    assert "<th>param</th><th>candidate</th></tr>" in page and "<tr><td>alpha</td><td>2.0</td></tr>" in page


def test_html_durations_are_this_runs_with_wall_time_and_links_to_the_logs():
    page = render_html(classification_run(), plots={})
    durations = page.split("<h2>Task durations</h2>")[1]
    assert "2 task(s) ran in this run, 3.00 s of wall time from the first one&#x27;s start" in durations
    assert "add up" not in durations  # one after the other: nothing ran in parallel
    assert '<td>IngestData</td><td class="num">+0.00</td><td class="num">0.41</td>' \
           '<td><a href="../../../../../runs/logs/IngestData/digits/2026-01-02/a.log">log</a></td>' in durations
    assert '<td>TrainModel</td><td class="num">+0.50</td><td class="num">2.50</td><td>—</td>' in durations
    assert "Already complete, done by an earlier run: ValidateData." in durations

    parallel = classification_run(wall_seconds=1.2, durations=[
        {"task": "CrossValidate", "task_id": f"CrossValidate_{i}", "seconds": 1.0, "log": None,
         "started_at": f"2026-11-22T02:09:50.{i}00+00:00"} for i in range(2)])
    assert "their own times add up to 2.00 s because they ran in parallel" in render_html(parallel, plots={})
    none_ran = render_html(classification_run(durations=[], wall_seconds=None), plots={})
    assert "No task ran in this run." in none_ran


def test_a_failed_validation_has_a_page_of_its_violations():
    run = classification_run(log="../../../../runs/logs/ValidateData/digits/2026-01-02/a.log")
    run["validation"] = {**run["validation"], "passed": False, "violations": [
        {"column": "age", "rule": "range", "detail": "3 values above 120 (max 240)"},
        {"column": None, "rule": "min_rows", "detail": "12 rows, fewer than 100"}]}
    page = render_validation_html(run)
    assert "<h1>Validation report: digits 2026-01-02</h1>" in page
    assert 'Validation failed</span> with 2 violation(s): nothing after validation ran' in page
    assert "<tr><td>age</td><td>range</td><td>3 values above 120 (max 240)</td></tr>" in page
    assert "<tr><td>—</td><td>min_rows</td>" in page
    assert '<a href="../../../../runs/logs/ValidateData/digits/2026-01-02/a.log">log</a>' in page

def test_html_given_plots_does_not_draw():
    page = render_html(classification_run(), plots={"residuals": "<svg>given</svg>"})
    assert embedded_svgs(page) == ["<svg>given</svg>"]


def test_strings_from_the_run_are_escaped():
    evil = "<script>alert(1)</script>"
    run = classification_run(dataset=evil)
    run["data"] = {**run["data"], "source": evil}
    run["decision"] = {**run["decision"], "reasons": [evil]}
    run["validation"] = {**run["validation"], "passed": False,
                         "column_summary": {evil: {"dtype": "object", "min": evil, "nulls": 1}},
                         "violations": [{"column": evil, "rule": "nulls", "detail": evil}]}
    page = render_html(run, plots={})
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_missing_optional_parts_render_as_none():
    run = regression_run(durations=[], versions=[])
    run["verdict"] = {"passed": True, "reasons": [], "checks": []}
    run["decision"] = {**run["decision"], "version": "v0001", "production_before": None, "production_after": "v0001"}
    page = render_html(run)
    assert all(f"<h2>{heading}</h2>" in page for heading in SECTIONS)
    assert "No task ran in this run." in page and "Checks: none" in page
    assert "production</th>" in page and "—" in page
    assert "production none &rarr; v0001" in page
    assert "Class counts" not in page


def test_long_column_summaries_are_cut_at_30():
    run = classification_run()
    summary = {f"pixel_{i}": {"dtype": "float64", "min": 0.0, "max": 16.0, "nulls": 0, "unique": 17}
               for i in range(35)}
    run["validation"] = {**run["validation"], "column_summary": summary}
    page = render_html(run, plots={})
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
    assert "task durations: 2 task(s) ran in this run, 3.00 s of wall time" in text
    assert re.search(r"TrainModel:\s+2\.50 s", text)
    assert "  Already complete, done by an earlier run: ValidateData." in text
    assert "model: sklearn.linear_model.LogisticRegression, as in production v0001, with other C." in text
    assert "  C: 0.5 (production: 1.0)\n  max_iter: 500\n" in text
    assert re.search(r"accuracy\s+0\.9712\s+—\s+0\.9600", text)  # no baseline in this run
    history_lines = lines[lines.index(next(line for line in lines if line.startswith("registry history"))) + 1:]
    assert len(history_lines) == 10
    assert "v0003" in history_lines[0] and "v0002" not in "".join(history_lines)
    assert re.search(r"rejected\s+v0012\s+accuracy 0.80 < 0.95; worse than production", history_lines[-1])


def test_text_summary_without_production_durations_or_history():
    text = text_summary(regression_run(durations=[], already_complete=[]), [])
    assert "task durations: no task ran in this run" in text and "registry history: none" in text
    assert re.search(r"rmse\s+53\.3000\s+—", text)


def test_drawing_a_report_imports_no_plotting_library():
    code = ("import sys; from pipeline.plots import DRAW; "
            "DRAW['confusion_matrix']({'labels': [0, 1], 'matrix': [[1, 2], [3, 4]]}); "
            "DRAW['residuals']({'y_pred': [1.0, 2.0], 'residuals': [0.5, -0.5]}); "
            "DRAW['metrics_over_dates']({'candidate': 'v1', 'panels': [{'metric': 'rmse', 'bounds': {'max': 3}, "
            "'lower_is_better': True, 'points': [('2026-01-01', 'v1', 2.0, 'candidate')]}]}); "
            "assert not {'matplotlib', 'numpy', 'pandas'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_a_backfill_is_drawn_in_date_order_and_other_workers_tasks_are_named():
    from pipeline.report import _plot_inputs

    run = regression_run(date="2026-11-29", versions=[
        {"version": "v0001", "date": "2026-11-30", "status": "retired", "metrics": {"rmse": 50.0}},
        {"version": "v0002", "date": "2026-11-29", "status": "production", "metrics": {"rmse": 53.3}}])
    [panel] = _plot_inputs(run)["metrics_over_dates"]["panels"]
    assert [point[0] for point in panel["points"]] == ["2026-11-29", "2026-11-30"]

    run = classification_run()
    run["durations"][1]["worker"] = "host-b pid 42"
    page, text = render_html(run, plots={}), text_summary(run, [])
    assert "2 task(s) ran in this run (some by another worker on the same luigid)" in page
    assert "<td>TrainModel (by another worker: host-b pid 42)</td>" in page
    assert "TrainModel (by another worker: host-b pid 42):" in text
