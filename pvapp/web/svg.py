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

W, H = 800, 320
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


def _open(title: str, desc: str, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="chart chart-{kind}"'
        ' aria-labelledby="t d" font-family="system-ui, sans-serif" font-size="15">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(desc)}</desc>',
    ]


def _y_axis(ymax: float, unit: str) -> list[str]:
    out = []
    for i in range(5):
        v = ymax * i / 4
        y = TOP + (H - TOP - BOTTOM) * (1 - i / 4)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        text = f"{v:g}" if v < 10 else f"{v:.0f}"
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end" fill="{TEXT}">{text}</text>')
    out.append(
        f'<text class="axis" x="{LEFT - 6}" y="{TOP - 14}" text-anchor="end" fill="{TEXT}">{escape(unit)}</text>'
    )
    return out


def day_chart(
    day: date,
    tz: tzinfo,
    series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
    total: Sequence[tuple[float, float]] | None,
) -> str:
    """Power over the local day: one line per inverter (serial, label, points), and the sum."""
    start, end = day_bounds(day, tz)
    t0, t1 = start.timestamp(), end.timestamp()
    peak = max((w for _, _, pts in series for _, w in pts), default=0.0)
    if total:
        peak = max(peak, max(w for _, w in total))
    kw = peak >= 2000
    unit = "kW" if kw else "W"
    scale = 1000.0 if kw else 1.0
    ymax = nice_max(peak / scale)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def xy(t: float, w: float) -> str:
        x = LEFT + (t - t0) / (t1 - t0) * pw
        y = TOP + ph * (1 - (w / scale) / ymax)
        return f"{x:.1f},{y:.1f}"

    count = sum(len(p) for _, _, p in series)
    out = _open(
        f"Power on {day.isoformat()}",
        f"AC power of {len(series)} inverter(s) over the local day, {count} points"
        + (f"; peak {format_value(peak, 'W', 0)}" if peak else "; no readings"),
        "day",
    )
    out += _y_axis(ymax, unit)
    for h in range(0, 25, 3):  # local hours; on DST days the axis is 23 or 25 h long
        local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(hours=h)
        t = local.timestamp()
        if t > t1 + 1:
            break
        x = LEFT + (t - t0) / (t1 - t0) * pw
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{GRID}"/>')
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{H - BOTTOM + 22}" text-anchor="middle" fill="{TEXT}">{h:02d}:00</text>'
        )
    legend_x = LEFT
    for i, (serial, label, pts) in enumerate(series):
        if pts:
            points = " ".join(xy(t, w) for t, w in pts)
            out.append(
                f'<polyline class="series s{i % len(PALETTE)}" data-serial={quoteattr(serial)} fill="none"'
                f' stroke="{colour(i)}" stroke-width="2" stroke-linejoin="round" points="{points}"/>'
            )
        out.append(f'<rect x="{legend_x}" y="8" width="14" height="14" fill="{colour(i)}" class="key s{i}"/>')
        out.append(f'<text x="{legend_x + 19}" y="20" fill="{TEXT}" class="legend">{escape(label)}</text>')
        legend_x += 30 + 9 * len(label)
    if total and len(series) > 1:
        points = " ".join(xy(t, w) for t, w in total)
        out.append(
            f'<polyline class="total" data-serial="total" fill="none" stroke="{TOTAL_COLOUR}" stroke-width="2.5"'
            f' stroke-dasharray="6 3" points="{points}"/>'
        )
        out.append(
            f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="15" y2="15" stroke="{TOTAL_COLOUR}"'
            ' stroke-width="2.5" stroke-dasharray="6 3" class="key total"/>'
        )
        out.append(f'<text x="{legend_x + 21}" y="20" fill="{TEXT}" class="legend">total</text>')
    if not count:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="{TEXT}">no readings this day</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, str, Sequence[float | None]]],
    series: Sequence[tuple[str, str]],
    *,
    unit: str = "kWh",
    decimals: int = 1,
) -> str:
    """Stacked energy bars: bars are (axis label, long label, value per series); series (serial, label)."""
    totals = [sum(v for v in vals if v is not None) for _, _, vals in bars]
    ymax = nice_max(max(totals, default=0.0))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = max(1, len(bars))
    slot = pw / n
    bw = slot * 0.7
    every = 1 if n <= 16 else 5 if n <= 31 else 10
    out = _open(
        title, f"{len(bars)} bars, {len(series)} inverter(s); total {format_value(sum(totals), unit, decimals)}", "bars"
    )
    out += _y_axis(ymax, unit)
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
        if (i + 1) % every == 0 or every == 1 or i == 0:
            cx = LEFT + i * slot + slot / 2
            out.append(
                f'<text class="axis" x="{cx:.1f}" y="{H - BOTTOM + 22}" text-anchor="middle" fill="{TEXT}">'
                f"{escape(axis_label)}</text>"
            )
    legend_x = LEFT
    if len(series) > 1:
        for j, (_, label) in enumerate(series):
            out.append(f'<rect x="{legend_x}" y="8" width="14" height="14" fill="{colour(j)}" class="key s{j}"/>')
            out.append(f'<text x="{legend_x + 19}" y="20" fill="{TEXT}" class="legend">{escape(label)}</text>')
            legend_x += 30 + 9 * len(label)
    out.append("</svg>")
    return "\n".join(out)
