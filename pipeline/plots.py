"""The run report's plots, drawn as SVG text with the standard library alone.

Pure: plot data in (pipeline/report.py's _plot_inputs), an SVG document out. Each document
has its size in pixels (500 x 400, or 650 wide for metrics over dates), so an <img> of it has
a natural width and height, and it is a file MLflow's artifact view shows. Drawing four small
charts here costs milliseconds; importing matplotlib cost a third of a second of every run.
"""
from __future__ import annotations

import datetime as dt
import html
import math

FONT = "font-family:system-ui,sans-serif"
BLUE, GREY, RED, GREEN = "#4c72b0", "#999999", "#c62828", "#1a7f37"
MAX_POINTS = 2000  # a residual plot of more rows draws an even sample of them


class Canvas:
    """An SVG document of a fixed pixel size, built element by element."""

    def __init__(self, width: int, height: int):
        self.width, self.height, self.parts = width, height, []

    def add(self, tag: str, text: str | None = None, **attrs) -> None:
        pairs = " ".join(f'{name.rstrip("_").replace("_", "-")}="{_attr(value)}"' for name, value in attrs.items()
                         if value is not None)
        self.parts.append(f"<{tag} {pairs}/>" if text is None else f"<{tag} {pairs}>{html.escape(text)}</{tag}>")

    def text(self, x, y, text: str, size: int = 11, anchor: str = "middle", **attrs) -> None:
        self.add("text", str(text), x=x, y=y, font_size=size, text_anchor=anchor, **attrs)

    def line(self, x1, y1, x2, y2, stroke: str = "#333333", **attrs) -> None:
        self.add("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, **attrs)

    def marker(self, shape: str, x, y, color: str, size: float = 4.0) -> None:
        """A point: "o" a dot, "*" a star, "X" a cross, "ring" an open circle around a point."""
        if shape == "*":
            corners = [(x + size * (1 if i % 2 == 0 else 0.45) * math.sin(i * math.pi / 5),
                        y - size * (1 if i % 2 == 0 else 0.45) * math.cos(i * math.pi / 5)) for i in range(10)]
            self.add("polygon", points=" ".join(f"{px:.1f},{py:.1f}" for px, py in corners), fill=color)
        elif shape == "X":
            for dx in (size, -size):
                self.line(x - dx, y - size, x + dx, y + size, stroke=color, stroke_width=2.5)
        elif shape == "ring":
            self.add("circle", cx=x, cy=y, r=size, fill="none", stroke="#000000", stroke_width=1.2)
        else:
            self.add("circle", cx=x, cy=y, r=size, fill=color)

    def svg(self, title: str) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}" style="{FONT}"><title>{html.escape(title)}</title>'
                f'<rect width="100%" height="100%" fill="#ffffff"/>' + "".join(self.parts) + "</svg>")


def _attr(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else html.escape(str(value))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2 or 5 times a power of ten) covering low..high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high == low:
        low, high = low - (abs(low) or 1) * 0.05, high + (abs(high) or 1) * 0.05
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _tick_text(value: float, ticks: list[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}" if abs(value) < 1e6 else f"{value:.3g}"


class Axes:
    """A plot area in a canvas, mapping data x and y (numbers) to pixels, with ticks and labels."""

    def __init__(self, canvas: Canvas, box: tuple[float, float, float, float], xs: list[float], ys: list[float],
                 margin: float = 0.05):
        self.canvas, (self.left, self.top, self.right, self.bottom) = canvas, box
        xpad, ypad = (max(xs) - min(xs)) * margin, (max(ys) - min(ys)) * margin  # no point on the frame
        self.xticks = nice_ticks(min(xs) - xpad, max(xs) + xpad)
        self.yticks = nice_ticks(min(ys) - ypad, max(ys) + ypad)
        self.x0, self.x1 = self.xticks[0], self.xticks[-1]
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / ((self.x1 - self.x0) or 1) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / ((self.y1 - self.y0) or 1) * (self.bottom - self.top)

    def frame(self, xlabel: str, ylabel: str | list[str], xtick_text=None) -> None:
        c = self.canvas
        c.add("rect", x=self.left, y=self.top, width=self.right - self.left, height=self.bottom - self.top,
              fill="none", stroke="#333333")
        for tick in self.yticks:
            c.line(self.left - 4, self.y(tick), self.left, self.y(tick))
            c.text(self.left - 7, self.y(tick) + 4, _tick_text(tick, self.yticks), size=10, anchor="end")
        for tick in self.xticks:
            c.line(self.x(tick), self.bottom, self.x(tick), self.bottom + 4)
            label = xtick_text(tick) if xtick_text else _tick_text(tick, self.xticks)
            c.text(self.x(tick), self.bottom + 16, label, size=10)
        if xlabel:
            c.text((self.left + self.right) / 2, self.bottom + 34, xlabel)
        lines = [ylabel] if isinstance(ylabel, str) else ylabel
        middle = (self.top + self.bottom) / 2
        for i, line in enumerate(lines):
            x = self.left - 62 + 15 * i
            c.text(x, middle, line, transform=f"rotate(-90 {x} {middle})")


def _blues(share: float) -> str:
    """White to dark blue, as matplotlib's "Blues" runs."""
    low, high = (247, 251, 255), (8, 48, 107)
    return "#" + "".join(f"{round(a + (b - a) * share):02x}" for a, b in zip(low, high))


def confusion_matrix(data: dict) -> str:
    matrix, labels = data["matrix"], [str(label) for label in data["labels"]]
    c, n = Canvas(500, 400), len(labels)
    size = min(300 / n, 60)
    left, top = 250 - size * n / 2 + 20, 40
    high = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            x, y = left + j * size, top + i * size
            c.add("rect", x=x, y=y, width=size, height=size, fill=_blues(count / high))
            c.text(x + size / 2, y + size / 2 + 4, str(count), size=10 if n <= 12 else 7,
                   fill="#ffffff" if count > high / 2 else "#000000")
    for k, label in enumerate(labels):
        c.text(left + (k + 0.5) * size, top + n * size + 14, label, size=10)
        c.text(left - 6, top + (k + 0.5) * size + 4, label, size=10, anchor="end")
    c.text(left + n * size / 2, top + n * size + 34, "predicted")
    c.text(left - 36, top + n * size / 2, "true", transform=f"rotate(-90 {left - 36} {top + n * size / 2})")
    c.text(250, 24, "Confusion matrix", size=13)
    return c.svg("Confusion matrix")


def residuals(data: dict) -> str:
    pairs = list(zip(data["y_pred"], data["residuals"]))
    stride = math.ceil(len(pairs) / MAX_POINTS)
    pairs = pairs[::stride]
    c = Canvas(500, 400)
    ax = Axes(c, (80, 40, 480, 340), [p for p, _ in pairs], [r for _, r in pairs] + [0.0])
    c.line(ax.left, ax.y(0.0), ax.right, ax.y(0.0), stroke="#000000")
    for predicted, residual in pairs:
        c.add("circle", cx=ax.x(predicted), cy=ax.y(residual), r=2.5, fill=BLUE, fill_opacity=0.6)
    ax.frame("predicted", "residual (true - predicted)")
    sample = f" ({len(pairs):,} of {len(data['y_pred']):,} rows)" if stride > 1 else ""
    c.text(280, 24, "Residuals" + sample, size=13)
    return c.svg("Residuals")


def cluster_sizes(data: dict) -> str:
    labels = [str(label) for label, _ in data["sizes"]]
    counts = [count for _, count in data["sizes"]]
    c = Canvas(500, 400)
    ax = Axes(c, (80, 40, 480, 340), [0.0, 1.0], [0.0, max(counts)], margin=0.0)
    width = (ax.right - ax.left) / len(counts)
    for k, (label, count) in enumerate(zip(labels, counts)):
        c.add("rect", x=ax.left + k * width + width * 0.1, y=ax.y(count), width=width * 0.8,
              height=ax.bottom - ax.y(count), fill=BLUE)
        c.text(ax.left + (k + 0.5) * width, ax.bottom + 16, label, size=10)
    ax.xticks = []
    ax.frame("cluster", "rows")
    c.text(280, 24, "Cluster sizes", size=13)
    return c.svg("Cluster sizes")


VERSION_MARKS = {"production": ("*", GREEN, 8.0), "rejected": ("X", RED, 4.5)}  # shape, colour, size


def _day(value) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def metrics_over_dates(data: dict) -> str:
    """One panel per watched metric, stacked on a shared axis of run dates, legends beside them."""
    panels, height = data["panels"], 240
    c = Canvas(650, 70 + height * len(panels))
    days = sorted(_day(day) for panel in panels for day, *_ in panel["points"])
    first, last = days[0].toordinal(), days[-1].toordinal()
    if last - first < 2:  # a day or two: show the days around them
        first, last = first - 1, last + 1
    for index, panel in enumerate(panels):
        top = 40 + index * height
        values = [value for _, _, value, _ in panel["points"]]
        bounds = [panel["bounds"][b] for b in ("min", "max") if isinstance(panel["bounds"].get(b), (int, float))]
        ax = Axes(c, (90, top, 470, top + height - 60), [first, last], values + bounds)
        ax.xticks = _date_ticks(first, last)
        ax.x0, ax.x1 = first - (last - first) * 0.04, last + (last - first) * 0.04
        at = [(ax.x(_day(day).toordinal()), ax.y(value)) for day, _, value, _ in panel["points"]]
        c.add("polyline", points=" ".join(f"{x:.1f},{y:.1f}" for x, y in at), fill="none", stroke=GREY)
        legend = {}
        for (x, y), (_, version, _, status) in zip(at, panel["points"]):
            shape, color, size = VERSION_MARKS.get(status, ("o", BLUE, 4.0))
            c.marker(shape, x, y, color, size)
            legend.setdefault(status or "other", (shape, color))
            if version == data["candidate"]:
                c.marker("ring", x, y, "#000000", 10.0)
                legend[f"this run ({version})"] = ("ring", "#000000")
        for bound, word in (("min", "floor"), ("max", "ceiling")):
            value = panel["bounds"].get(bound)
            if isinstance(value, (int, float)):
                c.line(ax.left, ax.y(value), ax.right, ax.y(value), stroke=RED, stroke_dasharray="6 4",
                       class_=f"gate-{bound}")
                legend[f"gate {word} {value}"] = ("dash", RED)
        _legend(c, 482, top + 8, legend)
        better = "lower" if panel["lower_is_better"] else "higher"
        last_panel = index == len(panels) - 1
        ax.frame("run date" if last_panel else "", [panel["metric"], f"({better} is better)"],
                 (lambda tick: dt.date.fromordinal(int(tick)).isoformat()) if last_panel else (lambda tick: ""))
    c.text(280, 24, "Metrics over run dates", size=13)
    return c.svg("Metrics over run dates")


def _date_ticks(first: int, last: int) -> list[int]:
    """At most 6 whole days from first to last, evenly spaced (day ordinals)."""
    step = max(1, math.ceil((last - first) / 5))
    return list(range(first, last + 1, step))


def _legend(c: Canvas, x: float, y: float, entries: dict) -> None:
    for k, (label, (shape, color)) in enumerate(entries.items()):
        row = y + 16 * k
        if shape == "dash":
            c.line(x, row, x + 16, row, stroke=color, stroke_dasharray="4 3")
        else:
            c.marker(shape, x + 8, row, color, 5.0 if shape != "ring" else 6.0)
        c.text(x + 22, row + 4, label, size=10, anchor="start")


DRAW = {"confusion_matrix": confusion_matrix, "residuals": residuals, "cluster_sizes": cluster_sizes,
        "metrics_over_dates": metrics_over_dates}
