"""The run report: one run's artifacts, gathered into a dict, rendered as plots, HTML and text.

Pure rendering: `run` (see the keys below) in, PNG bytes or a string out. No luigi, no paths,
no files; the caller gathers the artifacts and writes the result. matplotlib is imported only
when a plot is drawn, so importing this module (and `luigi --module pipeline`) stays fast.

    run = {"dataset", "model", "date", "kind", "generated_at",
           "data": {"source", "rows", "columns", "fingerprint"},
           "validation": ValidateData's report.json,
           "candidate": {"version", "metrics"}, "production": {"version", "metrics"} (both may be None),
           "verdict": verdict.json, "decision": decision.json,
           "model_card": {"estimator", "encoding", "search"} (the candidate's card: how each column
           was encoded, and the cross-validation of every grid point and candidate model),
           "outcome": {"y_true", "y_pred"} (the test split), "versions": [{"version", "date", "status",
           "metric", "value"}], "durations": [{"task", "task_id", "seconds"}]}

Every string taken from `run` goes through `html.escape` before it reaches the page.
"""
from __future__ import annotations

import base64
import html
import io
from collections import Counter

MAX_SUMMARY_COLUMNS = 30
HISTORY_EVENTS = 10
NONE = "—"
PLOT_CAPTIONS = {
    "confusion_matrix": "Confusion matrix on the test split (rows: true label, columns: predicted).",
    "residuals": "Residuals (true - predicted) against the prediction, on the test split.",
    "cluster_sizes": "Rows per predicted cluster.",
    "metric_by_version": "The compared metric for each registry version; the ringed point is this run's candidate.",
}
VERSION_MARKS = {"production": ("*", "#1a7f37", 180), "rejected": ("X", "#c62828", 80)}  # marker, colour, size

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


# --- plots ----------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit
    import matplotlib.pyplot as plt
    return plt


def _plot_inputs(run: dict) -> dict[str, dict]:
    """The data behind each plot that `run` has the inputs for, by plot name (no matplotlib)."""
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
    versions = _version_points(run)
    if versions:
        inputs["metric_by_version"] = versions
    return inputs


def _version_points(run: dict) -> dict | None:
    """The registry versions' metric values in order, with the candidate added if not registered yet."""
    measured = [v for v in run.get("versions") or [] if _is_number(v.get("value"))]
    if not measured:
        return None
    metric = measured[0].get("metric")
    points = [(v["version"], v["value"], v.get("status")) for v in measured if v.get("metric") == metric]
    candidate = _version(run.get("candidate")) or "candidate"
    value = ((run.get("candidate") or {}).get("metrics") or {}).get(metric)
    if candidate not in [version for version, _, _ in points] and _is_number(value):
        points.append((candidate, value, "candidate"))
    return {"metric": metric, "points": points, "candidate": candidate}


def _draw_confusion_matrix(ax, data: dict) -> None:
    matrix, labels = data["matrix"], [str(label) for label in data["labels"]]
    ax.imshow(matrix, cmap="Blues")
    high = max(max(row) for row in matrix) / 2
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > high else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")


def _draw_residuals(ax, data: dict) -> None:
    ax.scatter(data["y_pred"], data["residuals"], s=12, alpha=0.6)
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title("Residuals")


def _draw_cluster_sizes(ax, data: dict) -> None:
    labels = [str(label) for label, _ in data["sizes"]]
    ax.bar(labels, [count for _, count in data["sizes"]], color="#4c72b0")
    ax.set_xlabel("cluster")
    ax.set_ylabel("rows")
    ax.set_title("Cluster sizes")


def _draw_metric_by_version(ax, data: dict) -> None:
    ax.plot([v for v, _, _ in data["points"]], [y for _, y, _ in data["points"]], color="#999999", zorder=1)
    groups = {}
    for version, value, status in data["points"]:
        groups.setdefault(status if status in VERSION_MARKS else "other", []).append((version, value))
    for group, points in groups.items():
        marker, color, size = VERSION_MARKS.get(group, ("o", "#4c72b0", 40))
        ax.scatter(*zip(*points), marker=marker, color=color, s=size, zorder=2, label=group)
    candidate = [(v, y) for v, y, _ in data["points"] if v == data["candidate"]]
    if candidate:
        ax.scatter(*zip(*candidate), s=320, facecolors="none", edgecolors="black", zorder=3, label="this run")
    ax.set_xlabel("version")
    ax.set_ylabel(str(data["metric"]))
    ax.set_title(f"{data['metric']} by version")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(fontsize=8)


_DRAW = {
    "confusion_matrix": _draw_confusion_matrix,
    "residuals": _draw_residuals,
    "cluster_sizes": _draw_cluster_sizes,
    "metric_by_version": _draw_metric_by_version,
}


def plot_pngs(run: dict) -> dict[str, bytes]:
    """PNG bytes per plot name, for each plot whose inputs `run` has."""
    inputs = _plot_inputs(run)
    if not inputs:
        return {}
    plt = _pyplot()
    pngs = {}
    for name, data in inputs.items():
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        try:
            _DRAW[name](ax, data)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100)
            pngs[name] = buffer.getvalue()
        finally:
            plt.close(fig)
    return pngs


# --- HTML -----------------------------------------------------------------------------------

def _esc(value) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list], numeric: tuple[int, ...] = ()) -> str:
    """An HTML table; every cell is escaped, columns whose index is in `numeric` align right."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_esc(c)}</td>' if i in numeric else f"<td>{_esc(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
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
    return "\n".join(parts)


def _section_model(run: dict) -> str:
    card = run.get("model_card") or {}
    parts = ["<h2>Model</h2>", f"<p>{_esc(card.get('estimator') or NONE)}</p>"]
    if card.get("encoding"):
        parts.append("<h3>Features</h3>" + _table(["column", "kind", "encoding", "categories", "folded"],
                                                  _encoding_rows(card["encoding"]), (3, 4)))
    search = card.get("search") or {}
    if search.get("points"):
        title = "Model selection" if search.get("best_model") and len({p.get("model") for p in search["points"]}) > 1 \
            else "Search"
        parts.append(f"<h3>{title}</h3><p>{_esc(search.get('folds'))}-fold cross-validation on the train split, "
                     f"scored by {_esc(search.get('scoring'))}.</p>"
                     + _table(["model", "params", "mean", "std", ""], _selection_rows(search), (2, 3)))
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


def _section_plots(pngs: dict[str, bytes]) -> str:
    if not pngs:
        return "<h2>Plots</h2>" + _none("Plots")
    figures = []
    for name, png in pngs.items():
        data = base64.b64encode(png).decode("ascii")
        caption = PLOT_CAPTIONS.get(name, name)
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(name)}">'
                       f"<figcaption>{_esc(caption)}</figcaption></figure>")
    return "<h2>Plots</h2>\n" + "\n".join(figures)


def _section_durations(run: dict) -> str:
    durations = run.get("durations") or []
    if not durations:
        return "<h2>Task durations</h2>" + _none("Task durations")
    rows = [[d.get("task"), f"{d.get('seconds') or 0.0:.2f}"] for d in durations]
    rows.append(["total", f"{_total_seconds(durations):.2f}"])
    return "<h2>Task durations</h2>" + _table(["task", "seconds"], rows, (1,))


def _total_seconds(durations: list[dict]) -> float:
    return sum(d.get("seconds") or 0.0 for d in durations)


def render_html(run: dict, pngs: dict[str, bytes] | None = None) -> str:
    """The run report as one self-contained HTML page (inline CSS and images, no scripts)."""
    if pngs is None:
        pngs = plot_pngs(run)
    title = f"Run report: {run.get('dataset')}/{run.get('model')} {run.get('date')}"
    body = "\n".join([
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">Generated {_esc(run.get("generated_at"))}, {_esc(run.get("kind"))} model.</p>',
        _section_dataset(run),
        _section_model(run),
        _section_metrics(run),
        _section_gate(run),
        _section_plots(pngs),
        _section_durations(run),
        '<footer>Made by pipeline.report from this run\'s artifacts.</footer>',
    ])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{_esc(title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


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
    search = card.get("search") or {}
    lines = [f"model: {card.get('estimator') or NONE}"]
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
    if not durations:
        return ["task durations: none"]
    rows = [[f"{d.get('task')}:", f"{d.get('seconds') or 0.0:.2f} s"] for d in durations]
    rows.append(["total:", f"{_total_seconds(durations):.2f} s"])
    return ["task durations:", *_aligned(rows, right=(1,))]


def _text_history(history: list[dict]) -> list[str]:
    events = history[-HISTORY_EVENTS:]
    if not events:
        return ["registry history: none"]
    rows = [[str(e.get("at") or ""), str(e.get("event") or ""), str(e.get("version") or NONE), _event_reason(e)]
            for e in events]
    return [f"registry history (last {len(events)} of {len(history)} events):", *_aligned(rows)]


def text_summary(run: dict, history: list[dict]) -> str:
    """The run report as plain text for a terminal, ending with the registry's latest events."""
    data, validation = run.get("data") or {}, run.get("validation") or {}
    lines = [
        f"{run.get('dataset')}/{run.get('model')} run of {run.get('date')} (report made {run.get('generated_at')})",
        f"data: {data.get('rows')} rows from {data.get('source')}",
        f"validation: {'passed' if validation.get('passed') else 'failed'}, "
        f"{validation.get('rows_usable', NONE)} usable rows",
        *[f"warning: {w}" for w in validation.get("warnings") or []],
        *_text_model(run),
        *_text_metrics(run),
        *_text_decision(run),
        *_text_durations(run),
        *_text_history(history),
    ]
    return "\n".join(lines) + "\n"
