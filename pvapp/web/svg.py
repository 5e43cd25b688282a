"""Charts drawn on the server as SVG: the day's power curves and the energy bars.

Why SVG from the server rather than a JavaScript chart library: the server
already holds the decimated series, so drawing them is a few hundred bytes of
markup; the page stays small and works on an old phone with JavaScript slow or
off (the charts are plain images then); there is no third-party script to
vendor, audit and keep up to date; and the text in a chart is real text, which
screen readers read and tests can check.  Each series is one ``<polyline>``
(one vertex per decimated point, ``data-serial`` naming the inverter) and each
bar one ``<rect>`` with a ``<title>`` that browsers show on hover.

Colours are presentation attributes, so the SVG is complete on its own (opened
directly, embedded elsewhere), and the page's style sheet may override them
(dark theme) through the classes.  Every text drawn comes from our own numbers
or is XML-escaped (inverter names and serials are outside input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from xml.sax.saxutils import escape, quoteattr

from pvapp.monitor.display import format_value

from .queries import day_bounds

W, H = 800, 320  # default size; the page asks for its own width, so text stays 15 px on a phone
MIN_W, MAX_W = 300, 1600
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 40
# Okabe-Ito colours: told apart by people with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#F0E442")
TOTAL_COLOUR = "#222222"
TEXT = "#333333"
GRID = "#d0d0d0"


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return float(m * exp)
    return float(10 * exp)


def size(width: int | None) -> tuple[int, int]:
    """Chart width and height in px for a requested width (clamped; narrow charts are less tall)."""
    w = W if width is None else max(MIN_W, min(MAX_W, width))
    return w, (H if w >= 600 else 260)


def _open(title: str, desc: str, kind: str, w: int, h: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" class="chart chart-{kind}"'
        ' aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="15">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(desc)}</desc>',
    ]


def _y_axis(ymax: float, unit: str, w: int, h: int) -> list[str]:
    out = []
    for i in range(5):
        v = ymax * i / 4
        y = TOP + (h - TOP - BOTTOM) * (1 - i / 4)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{w - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        text = f"{v:g}" if v < 10 else f"{v:.0f}"
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end" fill="{TEXT}">{text}</text>')
    out.append(
        f'<text class="axis" x="{LEFT - 6}" y="{TOP - 14}" text-anchor="end" fill="{TEXT}">{escape(unit)}</text>'
    )
    return out


def _legend(out: list[str], labels: Sequence[str], x: float) -> float:
    for i, label in enumerate(labels):
        out.append(f'<rect x="{x:.0f}" y="8" width="14" height="14" fill="{colour(i)}" class="key s{i}"/>')
        out.append(f'<text x="{x + 19:.0f}" y="20" fill="{TEXT}" class="legend">{escape(label)}</text>')
        x += 30 + 8.5 * len(label)
    return x


def day_chart(
    day: date,
    tz: tzinfo,
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    total: Sequence[tuple[float, float]] | None,
    width: int | None = None,
) -> str:
    """Power over the local day: one line per inverter (serial, label, points), and the sum."""
    cw, ch = size(width)
    start, end = day_bounds(day, tz)
    t0, t1 = start.timestamp(), end.timestamp()
    peak = max((w for _, _, pts in series for _, w in pts), default=0.0)
    if total:
        peak = max(peak, max(w for _, w in total))
    kw = peak >= 2000
    unit = "kW" if kw else "W"
    scale = 1000.0 if kw else 1.0
    ymax = nice_max(peak / scale)
    pw, ph = cw - LEFT - RIGHT, ch - TOP - BOTTOM

    def xy(t: float, w: float) -> str:
        x = LEFT + (t - t0) / (t1 - t0) * pw
        y = TOP + ph * (1 - (w / scale) / ymax)
        return f"{x:.1f},{y:.1f}"

    count = sum(len(p) for _, _, p in series)
    peak_text = f"; peak {format_value(peak, 'W', 0)}" if peak else "; no readings"
    desc = f"AC power of {len(series)} inverter(s) over the local day, {count} points{peak_text}"
    out = _open(f"Power on {day.isoformat()}", desc, "day", cw, ch)
    out += _y_axis(ymax, unit, cw, ch)
    for h in range(0, 25, 3 if cw >= 600 else 6):  # local hours; on DST days the axis is 23 or 25 h long
        local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=h)
        t = local.timestamp()
        if t > t1 + 1:
            break
        x = LEFT + (t - t0) / (t1 - t0) * pw
        anchor = "end" if h == 24 else "middle"
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{ch - BOTTOM}" stroke="{GRID}"/>')
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{ch - BOTTOM + 22}" text-anchor="{anchor}" fill="{TEXT}">'
            f"{h:02d}:00</text>"
        )
    for i, (serial, _, pts) in enumerate(series):
        if pts:
            points = " ".join(xy(t, w) for t, w in pts)
            out.append(
                f'<polyline class="series s{i % len(PALETTE)}" data-serial={quoteattr(serial)} fill="none"'
                f' stroke="{colour(i)}" stroke-width="2" stroke-linejoin="round" points="{points}"/>'
            )
    legend_x = _legend(out, [label for _, label, _ in series], LEFT)
    if total and len(series) > 1:
        points = " ".join(xy(t, w) for t, w in total)
        out.append(
            f'<polyline class="total" data-serial="total" fill="none" stroke="{TOTAL_COLOUR}" stroke-width="2.5"'
            f' stroke-dasharray="6 3" points="{points}"/>'
        )
        out.append(
            f'<line x1="{legend_x:.0f}" x2="{legend_x + 16:.0f}" y1="15" y2="15" stroke="{TOTAL_COLOUR}"'
            ' stroke-width="2.5" stroke-dasharray="6 3" class="key total"/>'
        )
        out.append(f'<text x="{legend_x + 21:.0f}" y="20" fill="{TEXT}" class="legend">total</text>')
    if not count:
        out.append(f'<text x="{cw / 2}" y="{ch / 2}" text-anchor="middle" fill="{TEXT}">no readings this day</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, str, Sequence[float | None]]],
    series: Sequence[tuple[str, str]],
    *,
    unit: str = "kWh",
    decimals: int = 1,
    width: int | None = None,
) -> str:
    """Stacked energy bars: bars are (axis label, long label, value per series); series (serial, label)."""
    cw, ch = size(width)
    totals = [sum(v for v in vals if v is not None) for _, _, vals in bars]
    ymax = nice_max(max(totals, default=0.0))
    pw, ph = cw - LEFT - RIGHT, ch - TOP - BOTTOM
    n = max(1, len(bars))
    slot = pw / n
    bw = slot * 0.7
    every = 1 if slot >= 28 else 5 if slot >= 7 else 10  # axis labels at least ~28 px apart
    total_text = format_value(sum(totals), unit, decimals)
    out = _open(title, f"{len(bars)} bars, {len(series)} inverter(s); total {total_text}", "bars", cw, ch)
    out += _y_axis(ymax, unit, cw, ch)
    for i, (axis_label, long_label, vals) in enumerate(bars):
        x = LEFT + i * slot + (slot - bw) / 2
        y = float(TOP + ph)
        out.append(f'<g class="bar" data-label={quoteattr(long_label)} data-total="{totals[i]:.3f}">')
        tip = [f"{long_label}: {format_value(totals[i], unit, decimals)}"]
        for j, v in enumerate(vals):
            if not v:
                continue
            h = ph * v / ymax
            y -= h
            out.append(
                f'<rect class="s{j % len(PALETTE)}" x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}"'
                f' fill="{colour(j)}"/>'
            )
            if len(series) > 1:
                tip.append(f"{series[j][1]}: {format_value(v, unit, decimals)}")
        out.append(f"<title>{escape(chr(10).join(tip))}</title></g>")
        if every == 1 or i == 0 or (i + 1) % every == 0:
            cx = LEFT + i * slot + slot / 2
            out.append(
                f'<text class="axis" x="{cx:.1f}" y="{ch - BOTTOM + 22}" text-anchor="middle" fill="{TEXT}">'
                f"{escape(axis_label)}</text>"
            )
    if len(series) > 1:
        _legend(out, [label for _, label in series], LEFT)
    out.append("</svg>")
    return "\n".join(out)
