"""Inline SVG charts for the monitoring report: plain strings, no JavaScript, no external resources.

Three kinds: grouped vertical bars (a numerical column's bins, reference next to current, with the
under/overflow and missing bins set apart), horizontal bars (a categorical column's categories,
``other``, missing and values new to the window) and line charts over time (axes, ticks, threshold
lines, event marks). Every text is escaped; every mark carries a ``<title>``, so hovering shows the
exact value. Sizes are in a fixed ``viewBox`` and the SVG scales to its container's width; fonts
and colours of text come from the page's CSS.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

REFERENCE = "#9aa8b8"
CURRENT = "#2563eb"
DRIFTED = "#e8590c"
WARNING = "#d97706"
CRITICAL = "#dc2626"
AXIS = "#cbd5e1"
GRID = "#edf1f5"
PALETTE = (
    "#2563eb",
    "#e8590c",
    "#16a34a",
    "#9333ea",
    "#0891b2",
    "#db2777",
    "#ca8a04",
    "#475569",
    "#dc2626",
    "#65a30d",
)
WIDTH = 560
SPECIAL = ("under", "over", "missing")
RX = ' rx="1.5"'
MAX_DOTS = 120
_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)

Scale = Callable[[float], float]


@dataclass(frozen=True)
class Bar:
    """One bin or category: the share of rows in the reference and in the current window."""

    label: str
    reference: float
    current: float
    kind: str = "bin"
    """``bin``, ``category``, ``under``, ``over``, ``missing``, ``other`` or ``unseen``."""
    detail: str = ""


@dataclass(frozen=True)
class Line:
    name: str
    points: Sequence[tuple[dt.datetime, float]]
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Rule:
    """A horizontal threshold line."""

    value: float
    label: str
    color: str


def fmt_num(x: float | None) -> str:
    """A compact, readable number: 3 significant digits, k/M/G suffixes for large values."""
    if x is None or not math.isfinite(x):
        return "–"
    a = abs(x)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if a >= scale:
            return f"{x / scale:.3g}{suffix}"
    if a >= 100 or x == int(x):
        return f"{x:.0f}"
    return f"{x:.3g}"


def fmt_axis(values: Sequence[float]) -> list[str]:
    """Tick labels on one scale: all in k (M, G) when the largest is >= 10 000."""
    top = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if top >= scale:
            return [f"{v / scale:.3g}{suffix}" for v in values]
    return [fmt_num(v) for v in values]


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values from at most ``lo`` to at least ``hi``."""
    if not hi > lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [float(round(first + k * step, 12)) for k in range(count + 1)]


def _svg(height: int, body: list[str], label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(label)}">{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "middle") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, extra: str = RX) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{fill}"{extra}/>'
    )


def _hover(bar: Bar) -> str:
    """One tooltip for a bin or category: what it is and both shares."""
    detail = f" ({bar.detail})" if bar.detail else ""
    ref = "–" if bar.kind == "unseen" else fmt_pct(bar.reference, 2)
    text = f"{bar.label}{detail}: reference {ref}, current {fmt_pct(bar.current, 2)}"
    return f"<title>{escape(text)}</title>"


def _line(x1: float, y1: float, x2: float, y2: float, color: str, extra: str = "") -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}"{extra}/>'
    )


def _y_axis(ticks: list[float], y: Scale, left: float, right: float, percent: bool) -> list[str]:
    if percent:
        digits = 0 if all(round(t * 100, 9).is_integer() for t in ticks) else 1
        labels = [fmt_pct(t, digits) for t in ticks]
    else:
        labels = fmt_axis(ticks)
    out = []
    for t, label in zip(ticks, labels, strict=True):
        out.append(_line(left, y(t), right, y(t), GRID))
        out.append(_text(left - 6, y(t) + 3.5, label, "tick", "end"))
    return out


def _top_share(bars: Sequence[Bar]) -> float:
    return max([b.reference for b in bars] + [b.current for b in bars] + [0.01])


def _label_step(last: int, least: int) -> int:
    """Label every ``step``-th of edges 0..last: at least ``least``, dividing ``last`` if it can
    (so both ends are labelled)."""
    for step in range(max(1, least), last // 2 + 1):
        if last % step == 0:
            return step
    return max(1, least)


def distribution_chart(bars: Sequence[Bar], edges: Sequence[float], current: str = CURRENT) -> str:
    """Grouped vertical bars of a binned numerical column; ``edges`` label the bin boundaries.

    The under/overflow bins sit at the ends and the missing bin at the far right, each set apart
    by a gap and labelled; bars are shares of all rows (missing ones included) on each side.
    """
    height, left, right, top, bottom = 220, 46, 8, 10, 40
    inner = [b for b in bars if b.kind not in SPECIAL]
    special = {b.kind: b for b in bars if b.kind in SPECIAL}
    slots: list[Bar | None] = [special["under"], None] if "under" in special else []
    slots += inner
    for kind in ("over", "missing"):
        if kind in special:
            slots += [None, special[kind]]
    gap = 0.4
    unit = (WIDTH - left - right) / max(sum(1.0 if s else gap for s in slots), 1.0)
    ticks = nice_ticks(0.0, _top_share(bars), 4)
    plot_h = height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ticks[-1])

    body = _y_axis(ticks, y, left, WIDTH - right, percent=True)
    x, first_inner = float(left), None
    for slot in slots:
        if slot is None:
            x += gap * unit
            continue
        if slot.kind not in SPECIAL and first_inner is None:
            first_inner = x
        w = unit * 0.4
        ref, cur = (y(slot.reference), y(slot.current))
        body.append(
            f"<g>{_hover(slot)}{_rect(x + unit * 0.1, ref, w, y(0) - ref, REFERENCE)}"
            f"{_rect(x + unit * 0.5, cur, w, y(0) - cur, current)}</g>"
        )
        if slot.kind in SPECIAL:  # on the second line: never in the way of the edge labels
            body.append(_text(x + unit / 2, y(0) + 28, slot.kind, "tick special"))
        x += unit
    body.append(_line(left, y(0), WIDTH - right, y(0), AXIS))
    if first_inner is not None and len(edges) == len(inner) + 1:
        last, labels = len(edges) - 1, fmt_axis(edges)
        step = _label_step(last, math.ceil(44 / unit))  # labels at least 44 units apart
        for i in range(last + 1):
            body.append(_line(first_inner + i * unit, y(0), first_inner + i * unit, y(0) + 4, AXIS))
            if i % step == 0:
                body.append(_text(first_inner + i * unit, y(0) + 15, labels[i], "tick"))
    return _svg(height, body, "binned distribution, reference vs current")


def category_chart(bars: Sequence[Bar], current: str = CURRENT) -> str:
    """Horizontal bars: a row per category (reference above current), shares on the right.

    ``unseen`` rows (values new to the window, also counted in ``other``) are drawn hatched-light
    and have no reference bar.
    """
    row, top, label_w, value_w = 24, 6, 132, 116
    bottom = top + row * len(bars)
    height = bottom + 24
    plot_w = WIDTH - label_w - value_w
    ticks = nice_ticks(0.0, _top_share(bars), 4)

    def x(v: float) -> float:
        return label_w + plot_w * v / ticks[-1]

    body: list[str] = []
    for t in ticks:
        body.append(_line(x(t), top, x(t), bottom, GRID))
        body.append(_text(x(t), bottom + 14, fmt_pct(t, 0), "tick"))
    for i, b in enumerate(bars):
        y0 = top + i * row
        name = b.label if len(b.label) <= 20 else b.label[:19] + "…"
        shown = f"+ {name}" if b.kind == "unseen" else name
        cls = "cat" if b.kind == "category" else "cat special"
        parts = [
            _hover(b),
            f'<rect class="bg" x="0" y="{y0}" width="{WIDTH}" height="{row}" fill="transparent"/>',
            _text(label_w - 8, y0 + 15, shown, cls, "end"),
        ]
        if b.kind != "unseen":
            parts.append(_rect(x(0), y0 + 4, x(b.reference) - x(0), 8, REFERENCE))
        extra = RX
        if b.kind == "unseen":
            extra += f' fill-opacity="0.35" stroke="{current}" stroke-dasharray="3 2"'
        parts.append(_rect(x(0), y0 + 12, x(b.current) - x(0), 8, current, extra))
        ref_text = "new" if b.kind == "unseen" else fmt_pct(b.reference)
        parts.append(
            _text(WIDTH - 4, y0 + 15, f"{ref_text} → {fmt_pct(b.current)}", "value", "end")
        )
        body.append(f'<g class="row">{"".join(parts)}</g>')
    body.append(_line(label_w, top, label_w, bottom, AXIS))
    return _svg(height, body, "category shares, reference vs current")


def _time_ticks(lo: float, hi: float) -> tuple[list[float], int]:
    span = max(hi - lo, 1.0)
    longest = _TIME_STEPS[-1]
    step = next((s for s in _TIME_STEPS if span / s <= 6), longest * math.ceil(span / 6 / longest))
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) // step) + 1)], step


def _time_label(t: float, step: int, previous: float | None) -> tuple[str, str]:
    """The tick's time, and its date under it when the date changed since the previous tick."""
    at = dt.datetime.fromtimestamp(t, dt.UTC)
    if step >= 86400:
        return at.strftime("%b %d"), ""
    before = None if previous is None else dt.datetime.fromtimestamp(previous, dt.UTC).date()
    return at.strftime("%H:%M"), at.strftime("%b %d") if before != at.date() else ""


def line_chart(
    lines: Sequence[Line],
    *,
    rules: Sequence[Rule] = (),
    marks: Sequence[tuple[dt.datetime, str]] = (),
    percent: bool = False,
    y_min: float | None = None,
    y_max: float | None = None,
    span: tuple[dt.datetime, dt.datetime] | None = None,
    height: int = 220,
) -> str:
    """Lines over time (UTC). ``rules`` are horizontal thresholds, drawn when they are within 1.5x
    the data's maximum (a 1000 ms limit would flatten 2 ms latencies); ``marks`` are vertical
    event bands (e.g. windows where the dataset drifted); ``span`` fixes the time axis (charts
    side by side then share it). Empty string when there is no point."""
    left, right, top, bottom = 52, 14, 10, 36
    stamps = [t.timestamp() for line in lines for t, _ in line.points]
    values = [v for line in lines for _, v in line.points if math.isfinite(v)]
    if not stamps or not values:
        return ""
    t0, t1 = (span[0].timestamp(), span[1].timestamp()) if span else (min(stamps), max(stamps))
    if t1 - t0 < 60:
        t0, t1 = t0 - 1800, t1 + 1800
    lo = min(values) if y_min is None else min(y_min, *values)
    hi = max(values) if y_max is None else max(y_max, *values)
    shown_rules = [r for r in rules if r.value <= max(hi, 1e-12) * 1.5 and r.value >= lo]
    hi = max([hi] + [r.value for r in shown_rules])
    ticks = nice_ticks(lo, hi, 4)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + plot_w * (t - t0) / (t1 - t0)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - ticks[0]) / (ticks[-1] - ticks[0]))

    body = _y_axis(ticks, y, left, WIDTH - right, percent)
    base = top + plot_h
    tticks, step = _time_ticks(t0, t1)
    for previous, t in zip([None, *tticks], tticks, strict=False):
        first, second = _time_label(t, step, previous)
        body.append(_line(x(t), top, x(t), base, GRID))
        body.append(_text(x(t), base + 14, first, "tick"))
        if second:
            body.append(_text(x(t), base + 27, second, "tick muted"))
    for at, label in marks:
        mx = x(at.timestamp())
        body.append(
            f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{base}" stroke="{CRITICAL}" '
            f'stroke-opacity="0.3" stroke-width="4"><title>{escape(label)}</title></line>'
        )
    placed: list[float] = []
    for r in sorted(shown_rules, key=lambda r: -r.value):
        ry = y(r.value)
        body.append(_line(left, ry, WIDTH - right, ry, r.color, ' stroke-dasharray="6 4"'))
        crowded = any(abs(ry - other) < 12 for other in placed)
        lx, anchor = (left + 4, "start") if crowded else (WIDTH - right - 3, "end")
        placed.append(ry)
        body.append(
            f'<text x="{lx}" y="{ry - 4:.1f}" text-anchor="{anchor}" class="rule" '
            f'fill="{r.color}">{escape(r.label)}</text>'
        )
    body.append(_line(left, top, left, base, AXIS))
    body.append(_line(left, base, WIDTH - right, base, AXIS))
    for line in lines:
        body.extend(_polyline(line, x, y, percent))
    return _svg(height, body, ", ".join(line.name for line in lines))


def _polyline(line: Line, x: Scale, y: Scale, percent: bool) -> list[str]:
    """The line, broken where a gap is over 3x the median spacing (missed runs); a dot with a
    tooltip per point up to ``MAX_DOTS`` points."""
    pts = [(t.timestamp(), v) for t, v in line.points if math.isfinite(v)]
    if not pts:
        return []
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(pts))
    limit = 3 * gaps[len(gaps) // 2] if len(gaps) >= 2 else math.inf
    runs: list[list[tuple[float, float]]] = [[pts[0]]]
    for prev, cur in itertools.pairwise(pts):
        if cur[0] - prev[0] > limit:
            runs.append([])
        runs[-1].append(cur)
    dash = ' stroke-dasharray="5 3"' if line.dashed else ""
    out = [
        f'<polyline points="{" ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)}" fill="none" '
        f'stroke="{line.color}" stroke-width="1.8" stroke-linejoin="round"{dash}/>'
        for run in runs
    ]
    if len(pts) > MAX_DOTS:  # keep the page small: a bare line for long series
        return out
    for t, v in pts:
        when = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        shown = fmt_pct(v, 2) if percent else fmt_num(v)
        out.append(
            f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.6" fill="{line.color}">'
            f"<title>{escape(line.name)} = {escape(shown)} at {when}</title></circle>"
        )
    return out


def legend(entries: Sequence[tuple[str, str, str]]) -> str:
    """An HTML legend: (label, colour, style) per entry; style is ``line``, ``dashed`` or ``box``."""
    items = "".join(
        f'<span class="key"><i class="{escape(style)}" style="--c:{escape(color)}"></i>'
        f"{escape(label)}</span>"
        for label, color, style in entries
    )
    return f'<div class="legend">{items}</div>'
