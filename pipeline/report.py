"""The run report: one run's artifacts, gathered into a dict, rendered as plots, HTML and text.

Pure rendering: `run` (see the keys below) in, SVG documents or a string out. No luigi, no
paths, no files; the caller gathers the artifacts and writes the result.

    run = {"dataset", "model", "date", "kind", "generated_at",
           "data": {"source", "rows", "columns", "fingerprint"},
           "validation": ValidateData's report.json,
           "candidate": {"version", "metrics"}, "production": {"version", "metrics"} (both may be None),
           "verdict": verdict.json, "decision": decision.json,
           "model_card": {"estimator" (pipeline.ml.card.estimator_params: every param beside
           production's), "encoding", "search"} (how each column was encoded, and the
           cross-validation of every grid point and candidate model),
           "outcome": {"y_true", "y_pred"} (the test split),
           "watched": [{"metric", "bounds": {"min", "max"}}] (the gate's compared metric, then each it bounds),
           "versions": [{"version", "date", "status", "metrics": {metric: value}}],
           "durations": [{"task", "task_id", "seconds", "started_at", "log", "worker"}] (this run's tasks
           only; "log": a relative link to the attempt's log, or None; "worker": another worker that
           ran it for this run, or None), "wall_seconds", "already_complete"}

A failed validation has a page of its own: render_validation_html({"dataset", "date",
"generated_at", "kind", "data", "validation"}).

Every string taken from `run` goes through `html.escape` before it reaches the page.
"""
from __future__ import annotations

import base64
import html
from collections import Counter

MAX_SUMMARY_COLUMNS = 30
HISTORY_EVENTS = 10
NONE = "—"
PLOT_CAPTIONS = {
    "confusion_matrix": "Confusion matrix on the test split (rows: true label, columns: predicted).",
    "residuals": "Residuals (true - predicted) against the prediction, on the test split.",
    "cluster_sizes": "Rows per predicted cluster.",
    "metrics_over_dates": "The gate's compared metric, and each metric it bounds, for every registry version by "
                          "its run date; dashed lines are the gate's floor (min) and ceiling (max); the ringed "
                          "point is this run's candidate.",
}

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta, footer { color: #666; font-size: 0.9em; }
.passed, .promoted { color: #1a7f37; font-weight: bold; }
.failed, .rejected { color: #c62828; font-weight: bold; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
figcaption { color: #555; font-size: 0.9em; max-width: 500px; }
tr.differs td { background: #fff4ce; }
details { margin: 0.5em 0; }
footer { margin-top: 3em; border-top: 1px solid #ccc; padding-top: 0.5em; }
"""


# --- values ---------------------------------------------------------------------------------

def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_text(value) -> str:
    """A metric as shown: floats to 4 decimals, counts as integers, anything missing as a dash."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return NONE if value is None else str(value)


def _value_text(value) -> str:
    """A data value (a column's min or max) as shown: short, whatever its type."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _numeric_metrics(run: dict) -> list[tuple[str, object, object, object]]:
    """(name, candidate, baseline, production value) for every named metric of either model
    (not counts such as n_samples)."""
    from pipeline.ml.gate import shown_metrics

    candidate = (run.get("candidate") or {}).get("metrics") or {}
    production = (run.get("production") or {}).get("metrics") or {}
    baseline = candidate.get("baseline") or {}
    names = list(shown_metrics(candidate))
    names += [k for k in shown_metrics(production) if k not in names]
    return [(name, candidate.get(name), baseline.get(name), production.get(name)) for name in names]


def _encoding_rows(encoding: dict) -> list[list]:
    """One row per column that is not plain numeric, and one for all the numeric columns."""
    numeric = [name for name, e in encoding.items() if e.get("kind") == "numeric"]
    rows = []
    if numeric:
        shown = ", ".join(numeric[:6]) + (f", ... ({len(numeric)} in all)" if len(numeric) > 6 else "")
        rows.append([shown, "numeric", encoding[numeric[0]].get("encoding"), NONE, NONE])
    for name, e in encoding.items():
        if e.get("kind") == "numeric":
            continue
        how = e.get("encoding")
        if e.get("kind") == "date":
            how = f"{how}: {', '.join(e.get('parts') or [])}"
        elif e.get("native"):
            how = f"{how} (native categorical)"
        if e.get("chosen_by") == "config":
            how = f"{how} (by config)"
        rows.append([name, e.get("kind"), how, e.get("categories", NONE), e.get("folded", 0 if "categories" in e
                                                                              else NONE)])
    return rows


def _selection_rows(search: dict) -> list[list]:
    best = (search.get("best_model"), search.get("best"))
    rows = []
    for point in search.get("points") or []:
        cv = point.get("cv") or {}
        chosen = (point.get("model"), point.get("point")) == best if best[0] else point.get("point") == best[1]
        rows.append([point.get("model") or NONE, ", ".join(f"{k}={v}" for k, v in (point.get("point") or {}).items())
                     or "as configured", _metric_text(cv.get("mean")), _metric_text(cv.get("std")),
                     "chosen" if chosen else ""])
    return rows


def _version(part: dict | None) -> str | None:
    return (part or {}).get("version")


def _event_reason(event: dict) -> str:
    if event.get("reasons"):
        return "; ".join(event["reasons"])
    return event.get("reason") or ""


def data_facts(manifest: dict) -> dict:
    """The report's "data" from an ingested snapshot's manifest."""
    return {"source": manifest["source"]["source"], "rows": manifest["rows"], "columns": len(manifest["columns"]),
            "fingerprint": manifest["fingerprint"]}


# --- plots ----------------------------------------------------------------------------------

def _plot_inputs(run: dict) -> dict[str, dict]:
    """The data behind each plot that `run` has the inputs for, by plot name."""
    kind = run.get("kind")
    outcome = run.get("outcome") or {}
    y_true, y_pred = outcome.get("y_true"), outcome.get("y_pred")
    inputs = {}
    matrix = ((run.get("candidate") or {}).get("metrics") or {}).get("confusion_matrix") or {}
    if kind == "classification" and matrix.get("labels") and matrix.get("matrix"):
        inputs["confusion_matrix"] = {"labels": matrix["labels"], "matrix": matrix["matrix"]}
    if kind == "regression" and y_true and y_pred:
        inputs["residuals"] = {"y_pred": y_pred, "residuals": [t - p for t, p in zip(y_true, y_pred)]}
    if kind == "clustering" and y_pred:
        inputs["cluster_sizes"] = {"sizes": sorted(Counter(y_pred).items())}
    over_dates = _metrics_over_dates(run)
    if over_dates:
        inputs["metrics_over_dates"] = over_dates
    return inputs


def _metrics_over_dates(run: dict) -> dict | None:
    """Per watched metric, each registry version's (date, version, value, status), with the
    candidate added if it is not registered yet; None when no version has a value."""
    from pipeline.ml.gate import higher_is_better

    candidate = _version(run.get("candidate")) or "candidate"
    versions = list(run.get("versions") or [])
    if candidate not in [v.get("version") for v in versions]:
        versions.append({"version": candidate, "date": run.get("date"), "status": "candidate",
                         "metrics": (run.get("candidate") or {}).get("metrics") or {}})
    panels = []
    for watched in run.get("watched") or []:
        metric, bounds = watched["metric"], watched.get("bounds")
        points = sorted((str(v.get("date")), v["version"], v["metrics"][metric], v.get("status")) for v in versions
                        if v.get("date") and _is_number((v.get("metrics") or {}).get(metric)))  # a backfill too
        if points:
            panels.append({"metric": metric, "bounds": bounds or {}, "lower_is_better": not higher_is_better(metric),
                           "points": points})
    return {"panels": panels, "candidate": candidate} if panels else None


def plot_svgs(run: dict) -> dict[str, str]:
    """An SVG document per plot name (pipeline/plots.py), for each plot whose inputs `run` has."""
    from pipeline.plots import DRAW

    return {name: DRAW[name](data) for name, data in _plot_inputs(run).items()}


# --- HTML -----------------------------------------------------------------------------------

class Markup(str):
    """A cell this module built as HTML (a link whose parts it escaped): not escaped again."""


def _esc(value) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value))


def _link(href: str | None, text: str) -> str:
    return Markup(f'<a href="{_esc(href)}">{_esc(text)}</a>') if href else NONE


def _table(headers: list[str], rows: list[list], numeric: tuple[int, ...] = (),
           classes: list[str] | None = None) -> str:
    """An HTML table; every cell is escaped, columns whose index is in `numeric` align right,
    `classes` gives each row a CSS class."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        (f'<tr class="{_esc(classes[r])}">' if classes and classes[r] else "<tr>")
        + "".join(f'<td class="num">{_esc(c)}</td>' if i in numeric else f"<td>{_esc(c)}</td>"
                  for i, c in enumerate(row)) + "</tr>"
        for r, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: list) -> str:
    return "<ul>" + "".join(f"<li>{_esc(item)}</li>" for item in items) + "</ul>"


def _none(what: str) -> str:
    return f"<p>{_esc(what)}: none</p>"


def _passed(passed) -> str:
    word = "passed" if passed else "failed"
    return f'<span class="{word}">{word}</span>'


def _section_dataset(run: dict) -> str:
    data, validation = run.get("data") or {}, run.get("validation") or {}
    fingerprint = (data.get("fingerprint") or "")[:12] or NONE
    parts = ["<h2>Dataset</h2>", _table(["source", "rows", "columns", "fingerprint"],
                                         [[data.get("source"), data.get("rows"), data.get("columns"), fingerprint]])]
    parts.append(_column_summary(validation.get("column_summary") or {}))
    if run.get("kind") == "classification" and validation.get("class_counts"):
        counts = validation["class_counts"]
        parts.append("<h3>Class counts</h3>" + _table(["class", "rows"], [[k, v] for k, v in counts.items()], (1,)))
    parts.append(f"<p>Validation {_passed(validation.get('passed'))}, "
                 f"{_esc(validation.get('rows_usable', NONE))} usable rows.</p>")
    violations = validation.get("violations") or []
    if violations:
        rows = [[v.get("column") or NONE, v.get("rule"), v.get("detail")] for v in violations]
        parts.append("<h3>Violations</h3>" + _table(["column", "rule", "detail"], rows))
    if validation.get("warnings"):
        parts.append('<h3>Warnings</h3><ul class="warnings">'
                     + "".join(f"<li>{_esc(w)}</li>" for w in validation["warnings"]) + "</ul>")
    if validation.get("drift"):
        parts.append(_section_drift(validation["drift"]))
    return "\n".join(parts)


DRIFT_ROWS = 10


def _drift_sentence(drift: dict) -> str:
    worst = f"max PSI {drift['max_psi']:.3f} ({drift['worst']})" if _is_number(drift.get("max_psi")) else "no PSI"
    verdict = f"{len(drift['problems'])} beyond the dataset's drift limits" if drift.get("problems") else \
        "within the dataset's drift limits"
    return f"Drift from the training rows of production {drift.get('version')}: {worst}, {verdict}."


def _section_drift(drift: dict) -> str:
    """The features that moved most since production's training rows, and what exceeds the limits."""
    columns = sorted((drift.get("columns") or {}).items(), key=lambda item: -(item[1].get("psi") or 0.0))
    rows = [[name, c.get("kind"), _metric_text(c.get("psi")),
             f"{c['unseen']:.1%}" if _is_number(c.get("unseen")) else NONE,
             f"{c.get('missing_before', 0):.1%} → {c.get('missing_after', 0):.1%}"] for name, c in columns[:DRIFT_ROWS]]
    more = f"<p>... and {len(columns) - DRIFT_ROWS} more features</p>" if len(columns) > DRIFT_ROWS else ""
    problems = f'<ul class="failed">{"".join(f"<li>{_esc(p)}</li>" for p in drift["problems"])}</ul>' \
        if drift.get("problems") else ""
    return (f"<h3>Drift</h3><p>{_esc(_drift_sentence(drift))}</p>{problems}"
            + _table(["feature", "kind", "PSI", "unseen categories", "missing"], rows, (2, 3)) + more)


def _against_production(estimator: dict, production: str | None) -> str:
    """One sentence: the estimator, and what differs from the production model's."""
    other = estimator.get("production_estimator")
    if other is None:
        return f"{estimator.get('estimator')}; no production model to compare with."
    if estimator.get("differs") == ["estimator"]:
        return f"{estimator.get('estimator')}; production {production} is another estimator: {other}."
    if estimator.get("differs"):
        return f"{estimator.get('estimator')}, as in production {production}, with other " \
               f"{', '.join(estimator['differs'])}."
    return f"{estimator.get('estimator')} with the same params as production {production}."


def _section_params(estimator: dict, production: str | None) -> str:
    """The params configured or differing from production, then the rest (the defaults) folded away."""
    with_production = estimator.get("production_estimator") is not None
    headers = ["param", "candidate", *([f"production ({production})"] if with_production else [])]

    def cells(row):
        return [row["param"], NONE if row["value"] is None else row["value"],
                *([NONE if row["production"] is None else row["production"]] if with_production else [])]
    params = estimator.get("params") or []
    shown = [row for row in params if row.get("configured") or row.get("differs")]
    rest = [row for row in params if row not in shown]
    parts = [f"<p>{_esc(_against_production(estimator, production))}</p>"]
    if shown:
        parts.append(_table(headers, [cells(row) for row in shown],
                            classes=["differs" if row.get("differs") else "" for row in shown]))
    if rest:
        same = ", the same in production" if with_production and estimator.get("differs") != ["estimator"] else ""
        parts.append(f"<details><summary>{len(rest)} more params at scikit-learn's defaults{same}</summary>"
                     + _table(headers, [cells(row) for row in rest]) + "</details>")
    return "\n".join(parts)


def _chosen(search: dict) -> str:
    chosen = [row for row in _selection_rows(search) if row[-1]]
    if not chosen:
        return ""
    model, params, mean, std, _ = chosen[0]
    return f"<p>Chosen: {_esc(model)} ({_esc(params)}), mean {_esc(search.get('scoring'))} {_esc(mean)} " \
           f"(std {_esc(std)}).</p>"


def _section_model(run: dict) -> str:
    card = run.get("model_card") or {}
    estimator = card.get("estimator")
    production = _version(run.get("production"))
    parts = ["<h2>Model</h2>", _section_params(estimator, production) if isinstance(estimator, dict)
             else f"<p>{_esc(estimator or NONE)}</p>"]
    if card.get("encoding"):
        parts.append("<h3>Features</h3>" + _table(["column", "kind", "encoding", "categories", "folded"],
                                                  _encoding_rows(card["encoding"]), (3, 4)))
    search = card.get("search") or {}
    if search.get("points"):
        title = "Model selection" if search.get("best_model") and len({p.get("model") for p in search["points"]}) > 1 \
            else "Search"
        parts.append(f"<h3>{title}</h3><p>{_esc(search.get('folds'))}-fold cross-validation on the train split, "
                     f"scored by {_esc(search.get('scoring'))}.</p>"
                     + _table(["model", "params", "mean", "std", ""], _selection_rows(search), (2, 3))
                     + _chosen(search))
    return "\n".join(parts)


def _column_summary(summary: dict) -> str:
    if not summary:
        return _none("Column summary")
    rows = [[name, s.get("dtype"), s.get("nulls"), _value_text(s.get("null_fraction")),
             _value_text(s.get("min")), _value_text(s.get("max")), s.get("unique")]
            for name, s in list(summary.items())[:MAX_SUMMARY_COLUMNS]]
    table = _table(["column", "dtype", "nulls", "null fraction", "min", "max", "unique"], rows, (2, 3, 4, 5, 6))
    hidden = len(summary) - MAX_SUMMARY_COLUMNS
    return table + (f"<p>... and {hidden} more</p>" if hidden > 0 else "")


def _metric_headers(run: dict) -> list[str]:
    candidate, production = _version(run.get("candidate")), _version(run.get("production"))
    return ["metric", f"candidate ({candidate})" if candidate else "candidate", "baseline",
            f"production ({production})" if production else "production"]


def _baseline_note(run: dict) -> str:
    model = (((run.get("candidate") or {}).get("metrics") or {}).get("baseline") or {}).get("model")
    return f"<p>Baseline: {_esc(model)}, fitted on the same training rows and scored on the same test rows.</p>" \
        if model else ""


def _section_metrics(run: dict) -> str:
    metrics = _numeric_metrics(run)
    if not metrics:
        return "<h2>Metrics</h2>" + _none("Metrics")
    rows = [[name, *(_metric_text(v) for v in values)] for name, *values in metrics]
    return "<h2>Metrics</h2>" + _table(_metric_headers(run), rows, (1, 2, 3)) + _baseline_note(run)


def _section_gate(run: dict) -> str:
    decision, verdict = run.get("decision") or {}, run.get("verdict") or {}
    word = decision.get("decision") or NONE
    before = decision.get("production_before") or "none"
    after = decision.get("production_after") or "none"
    parts = ["<h2>Gate decision</h2>",
             f'<p><span class="{_esc(word)}">{_esc(word)}</span> {_esc(decision.get("version") or "")}; '
             f"production {_esc(before)} &rarr; {_esc(after)}</p>",
             _list(decision.get("reasons") or []) if decision.get("reasons") else _none("Reasons")]
    if verdict.get("note"):
        parts.append(f"<p>{_esc(verdict['note'])}</p>")
    checks = verdict.get("checks") or []
    if checks:
        rows = [[c.get("rule"), _metric_text(c.get("value")), "yes" if c.get("passed") else "no", c.get("reason")]
                for c in checks]
        parts.append("<h3>Checks</h3>" + _table(["rule", "value", "passed", "reason"], rows, (1,)))
    else:
        parts.append(_none("Checks"))
    return "\n".join(parts)


def _section_plots(svgs: dict[str, str]) -> str:
    if not svgs:
        return "<h2>Plots</h2>" + _none("Plots")
    figures = []
    for name, svg in svgs.items():  # as images: an inline <svg> would share the page's ids and styles
        data = base64.b64encode(svg.encode()).decode("ascii")
        caption = PLOT_CAPTIONS.get(name, name)
        figures.append(f'<figure><img src="data:image/svg+xml;base64,{data}" alt="{_esc(name)}">'
                       f"<figcaption>{_esc(caption)}</figcaption></figure>")
    return "<h2>Plots</h2>\n" + "\n".join(figures)


def _offsets(durations: list[dict]) -> list[float | None]:
    """Each task's start, in seconds after the first one started."""
    import datetime as dt

    starts = [dt.datetime.fromisoformat(d["started_at"]) if d.get("started_at") else None for d in durations]
    first = min((start for start in starts if start), default=None)
    return [(start - first).total_seconds() if start and first else None for start in starts]


def _run_time(run: dict) -> str:
    durations = run.get("durations") or []
    busy = sum(d.get("seconds") or 0.0 for d in durations)
    wall = run.get("wall_seconds")
    text = f"{len(durations)} task(s) ran in this run" + (" (some by another worker on the same luigid)"
                                                          if any(d.get("worker") for d in durations) else "")
    if _is_number(wall):
        text += f", {wall:.2f} s of wall time from the first one's start to the last one's end (before this report)"
        if busy > wall + 0.5:
            text += f"; their own times add up to {busy:.2f} s because they ran in parallel"
    return text + "."


def _already_complete(run: dict) -> str:
    done = run.get("already_complete") or []
    return f"Already complete, done by an earlier run: {', '.join(sorted(set(done)))}." if done else ""


def _task_name(duration: dict) -> str:
    worker = duration.get("worker")
    return f"{duration.get('task')} (by another worker: {worker})" if worker else str(duration.get("task"))


def _section_durations(run: dict) -> str:
    durations = run.get("durations") or []
    parts = ["<h2>Task durations</h2>"]
    if durations:
        rows = [[_task_name(d), NONE if offset is None else f"+{offset:.2f}", f"{d.get('seconds') or 0.0:.2f}",
                 _link(d.get("log"), "log")] for d, offset in zip(durations, _offsets(durations))]
        parts += [f"<p>{_esc(_run_time(run))}</p>",
                  _table(["task", "started (s)", "seconds", "log"], rows, (1, 2))]
    else:
        parts.append("<p>No task ran in this run.</p>")
    if run.get("already_complete"):
        parts.append(f"<p>{_esc(_already_complete(run))}</p>")
    return "\n".join(parts)


def _page(title: str, body: list[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n<h1>{_esc(title)}</h1>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


def render_validation_html(run: dict) -> str:
    """The page of a failed validation: the dataset, its columns and every violation."""
    count = len((run.get("validation") or {}).get("violations") or [])
    return _page(f"Validation report: {run.get('dataset')} {run.get('date')}", [
        f'<p class="meta">Generated {_esc(run.get("generated_at"))}. <span class="failed">Validation failed</span> '
        f"with {count} violation(s): nothing after validation ran, and the production model is unchanged.</p>",
        _section_dataset(run),
        f"<p>The attempt's log: {_link(run.get('log'), 'log')}</p>" if run.get("log") else "",
        "<footer>Made by pipeline.report from the ValidateData attempt that failed.</footer>",
    ])


def render_html(run: dict, plots: dict[str, str] | None = None) -> str:
    """The run report as one self-contained HTML page (inline CSS and images, no scripts); `plots`:
    plot_svgs(run), drawn here when not given."""
    if plots is None:
        plots = plot_svgs(run)
    return _page(f"Run report: {run.get('dataset')}/{run.get('model')} {run.get('date')}", [
        f'<p class="meta">Generated {_esc(run.get("generated_at"))}, {_esc(run.get("kind"))} model.</p>',
        _section_dataset(run),
        _section_model(run),
        _section_metrics(run),
        _section_gate(run),
        _section_plots(plots),
        _section_durations(run),
        '<footer>Made by pipeline.report from this run\'s artifacts.</footer>',
    ])


# --- text -----------------------------------------------------------------------------------

def _aligned(rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows of cells as indented lines, each column padded to its widest cell; `right` columns align right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _text_metrics(run: dict) -> list[str]:
    metrics = _numeric_metrics(run)
    if not metrics:
        return ["metrics: none"]
    rows = [_metric_headers(run)] + [[name, *(_metric_text(v) for v in values)] for name, *values in metrics]
    return ["metrics:", *_aligned(rows, right=(1, 2, 3))]


def _text_model(run: dict) -> list[str]:
    card = run.get("model_card") or {}
    search, estimator = card.get("search") or {}, card.get("estimator")
    production = _version(run.get("production"))
    lines = [f"model: {_against_production(estimator, production) if isinstance(estimator, dict) else estimator}"]
    if isinstance(estimator, dict):
        lines += [f"  {row['param']}: {NONE if row['value'] is None else row['value']}"
                  + (f" (production: {NONE if row['production'] is None else row['production']})"
                     if row["differs"] else "")
                  for row in estimator.get("params") or [] if row.get("configured") or row.get("differs")]
    if search.get("best_model"):
        lines[0] += f" (chosen among {', '.join(dict.fromkeys(p.get('model') for p in search['points']))} " \
                    f"by {search.get('folds')}-fold {search.get('scoring')})"
    folded = {name: e["folded"] for name, e in (card.get("encoding") or {}).items() if e.get("folded")}
    encodings = {}
    for name, e in (card.get("encoding") or {}).items():
        encodings.setdefault(e.get("encoding"), []).append(name)
    if encodings:
        lines.append("features: " + "; ".join(f"{how} {len(names)}" for how, names in encodings.items()))
    lines += [f"  {name}: {count} categories folded into 'infrequent'" for name, count in folded.items()]
    return lines


def _text_decision(run: dict) -> list[str]:
    decision = run.get("decision") or {}
    before = decision.get("production_before") or "none"
    after = decision.get("production_after") or "none"
    lines = [f"decision: {decision.get('decision') or NONE} {decision.get('version') or ''} "
             f"(production {before} -> {after})"]
    return lines + [f"  - {reason}" for reason in decision.get("reasons") or []]


def _text_durations(run: dict) -> list[str]:
    durations = run.get("durations") or []
    done = [f"  {_already_complete(run)}"] if run.get("already_complete") else []
    if not durations:
        return ["task durations: no task ran in this run", *done]
    rows = [[f"{_task_name(d)}:", f"{d.get('seconds') or 0.0:.2f} s"] for d in durations]
    return [f"task durations: {_run_time(run)}", *_aligned(rows, right=(1,)), *done]


def _text_history(history: list[dict]) -> list[str]:
    events = history[-HISTORY_EVENTS:]
    if not events:
        return ["registry history: none"]
    rows = [[str(e.get("at") or ""), str(e.get("event") or ""), str(e.get("version") or NONE), _event_reason(e)]
            for e in events]
    return [f"registry history (last {len(events)} of {len(history)} events):", *_aligned(rows)]


def validation_text(run: dict) -> str:
    """A failed validation (render_validation_html's input) as plain text."""
    violations = (run.get("validation") or {}).get("violations") or []
    data = run.get("data") or {}
    return "\n".join([
        f"{run.get('dataset')}: validation failed on {run.get('date')} (at {run.get('generated_at')}): "
        f"{len(violations)} violation(s); nothing after validation ran, the production model is unchanged",
        f"data: {data.get('rows')} rows from {data.get('source')}",
        *[f"  - {v.get('column') or '(table)'}: {v.get('rule')}: {v.get('detail')}" for v in violations],
    ]) + "\n"


def text_summary(run: dict, history: list[dict]) -> str:
    """The run report as plain text for a terminal, ending with the registry's latest events."""
    data, validation = run.get("data") or {}, run.get("validation") or {}
    lines = [
        f"{run.get('dataset')}/{run.get('model')} run of {run.get('date')} (report made {run.get('generated_at')})",
        f"data: {data.get('rows')} rows from {data.get('source')}",
        f"validation: {'passed' if validation.get('passed') else 'failed'}, "
        f"{validation.get('rows_usable', NONE)} usable rows",
        *[f"warning: {w}" for w in validation.get("warnings") or []],
        *([f"drift: {_drift_sentence(validation['drift'])}", *(f"  - {p}" for p in validation["drift"]["problems"])]
          if validation.get("drift") else []),
        *_text_model(run),
        *_text_metrics(run),
        *_text_decision(run),
        *_text_durations(run),
        *_text_history(history),
    ]
    return "\n".join(lines) + "\n"
