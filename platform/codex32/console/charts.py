"""Server-drawn SVG charts for the console: columns over time, bars per category, a limit line.

Pure functions from numbers to markup: no request, no database, no script. Each chart is a
``<figure>`` whose SVG names itself to assistive technology (``role="img"``, a title and a
description that states the totals and the limit), followed by the same numbers as a table,
so nothing is only in the picture. Colours are presentation attributes that the console's
stylesheet overrides (dark mode, contrast); a bar over the limit also says so in its tooltip
and in the table, not only in colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

Number = Decimal | int

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH = 22, 8, 150
TICKS = 4


@dataclass(frozen=True)
class Point:
    """One column or bar: its short label on the axis, its full label in tooltips and table."""

    label: str
    value: Number
    long_label: str | None = None

    @property
    def name(self) -> str:
        return self.long_label or self.label


@dataclass(frozen=True)
class Limit:
    """A horizontal line across the columns (a bar's end mark), e.g. a daily budget."""

    value: Number
    label: str


def format_value(value: Number | str, unit: str) -> str:
    """``value`` (a number, or exact decimal text as the API gives it) as a person reads it:
    dollars to the cent (four places for a fraction of a cent under a dollar), tokens with
    thousands separators."""
    if unit == "usd":
        amount = Decimal(value)
        cents = Decimal("0.01")
        places = cents if abs(amount) >= 1 or amount == amount.quantize(cents) else Decimal(
            "0.0001")
        return f"${amount.quantize(places, rounding=ROUND_HALF_UP):,}"
    return f"{int(value):,}"


def format_axis(value: Number, unit: str) -> str:
    """A tick label, short: ``$2.5``, ``12k``, ``1.5M``."""
    amount = Decimal(value)
    prefix = "$" if unit == "usd" else ""
    for size, suffix in ((Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if abs(amount) >= size:
            return f"{prefix}{_trimmed(amount / size)}{suffix}"
    return f"{prefix}{_trimmed(amount)}"


def _trimmed(amount: Decimal) -> str:
    text = f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def nice_ceiling(value: Number) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (1 for nothing
    to show), so the ticks fall on round numbers."""
    amount = Decimal(value)
    if amount <= 0:
        return Decimal(1)
    magnitude = Decimal(1).scaleb(amount.adjusted())
    for step in (1, Decimal("2"), Decimal("2.5"), 5, 10):
        if magnitude * step >= amount:
            return (magnitude * step).normalize()
    return magnitude * 10  # pragma: no cover - the loop ends at ten times it


def _scale(points: Sequence[Point], limit: Limit | None) -> Decimal:
    values = [Decimal(point.value) for point in points]
    if limit is not None:
        values.append(Decimal(limit.value))
    return nice_ceiling(max(values, default=Decimal(0)))


def _over(point: Point, limit: Limit | None) -> bool:
    return limit is not None and Decimal(point.value) > Decimal(limit.value)


def describe(title: str, points: Sequence[Point], unit: str, limit: Limit | None) -> str:
    """The chart in one or two sentences: total, highest, and how it stands to the limit."""
    if not points or all(Decimal(point.value) == 0 for point in points):
        text = f"{title}: nothing recorded."
    else:
        total = sum((Decimal(point.value) for point in points), Decimal(0))
        top = max(points, key=lambda point: Decimal(point.value))
        text = (f"{title}: {format_value(total, unit)} in all over {len(points)} entries; "
                f"highest {format_value(top.value, unit)} ({top.name}).")
    if limit is not None:
        over = sum(1 for point in points if _over(point, limit))
        text += (f" {limit.label}: {format_value(limit.value, unit)}; "
                 f"{over} of {len(points)} over it.")
    return text


def columns(chart_id: str, title: str, points: Sequence[Point], *, unit: str,
            limit: Limit | None = None) -> Markup:
    """A column per point (days, left to right), with the limit as a dashed line."""
    top = _scale(points, limit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    every = max(1, -(-len(points) // 10))  # at most ten axis labels: readable on a phone
    parts = _grid(top, unit, plot_w, plot_h)
    for index, point in enumerate(points):
        height = float(Decimal(point.value) / top) * plot_h
        x = LEFT + index * slot + slot * 0.15
        over = _over(point, limit)
        parts.append(
            f'<rect class="bar{" over" if over else ""}" x="{x:.1f}" '
            f'y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
            f'fill="{"#b42318" if over else "#1d4ed8"}">'
            f"<title>{escape(_tooltip(point, unit, over))}</title></rect>")
        if index % every == 0:
            parts.append(f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" '
                         f'text-anchor="middle">{escape(point.label)}</text>')
    if limit is not None:
        y = TOP + plot_h - float(Decimal(limit.value) / top) * plot_h
        parts.append(f'<line class="limit" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#92400e" stroke-width="2" stroke-dasharray="6 4">'
                     f"<title>{escape(limit.label)}: "
                     f"{escape(format_value(limit.value, unit))}</title></line>")
    return _figure(chart_id, title, points, unit, limit, HEIGHT, parts)


def bars(chart_id: str, title: str, points: Sequence[Point], *, unit: str,
         limit: Limit | None = None) -> Markup:
    """A horizontal bar per point (models, purposes), labelled, largest first as given."""
    top = _scale(points, limit)
    plot_w = WIDTH - LABEL_WIDTH - RIGHT - 80
    height = TOP + max(len(points), 1) * (BAR_HEIGHT + BAR_GAP) + 4
    parts = []
    for index, point in enumerate(points):
        y = TOP + index * (BAR_HEIGHT + BAR_GAP)
        length = float(Decimal(point.value) / top) * plot_w
        over = _over(point, limit)
        parts.append(f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT * 0.7:.1f}" '
                     f'text-anchor="end">{escape(_clipped(point.label))}</text>')
        parts.append(
            f'<rect class="bar{" over" if over else ""}" x="{LABEL_WIDTH}" y="{y}" '
            f'width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{"#b42318" if over else "#1d4ed8"}">'
            f"<title>{escape(_tooltip(point, unit, over))}</title></rect>")
        parts.append(f'<text class="value" x="{LABEL_WIDTH + length + 6:.1f}" '
                     f'y="{y + BAR_HEIGHT * 0.7:.1f}">'
                     f"{escape(format_value(point.value, unit))}</text>")
    if limit is not None:
        x = LABEL_WIDTH + float(Decimal(limit.value) / top) * plot_w
        parts.append(f'<line class="limit" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP - 4}" '
                     f'y2="{height - 2}" stroke="#92400e" stroke-width="2" '
                     f'stroke-dasharray="6 4"><title>{escape(limit.label)}</title></line>')
    if not points:
        parts.append(f'<text class="empty" x="{WIDTH / 2}" y="{TOP + 16}" '
                     'text-anchor="middle">nothing recorded</text>')
    return _figure(chart_id, title, points, unit, limit, height, parts)


def _grid(top: Decimal, unit: str, plot_w: float, plot_h: float) -> list[str]:
    parts = []
    for tick in range(TICKS + 1):
        value = top * tick / TICKS
        y = TOP + plot_h - plot_h * tick / TICKS
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#d0d5dd" stroke-width="1"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(format_axis(value, unit))}</text>")
    return parts


def _tooltip(point: Point, unit: str, over: bool) -> str:
    return f"{point.name}: {format_value(point.value, unit)}{' (over the limit)' if over else ''}"


def _clipped(label: str, size: int = 22) -> str:
    return label if len(label) <= size else label[:size - 1] + "…"


def _figure(chart_id: str, title: str, points: Sequence[Point], unit: str,
            limit: Limit | None, height: float, parts: list[str]) -> Markup:
    ident = escape(chart_id)
    svg = (f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
           f'aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMinYMin meet" '
           f'font-size="12" fill="#344054" xmlns="http://www.w3.org/2000/svg">'
           f'<title id="{ident}-title">{escape(title)}</title>'
           f'<desc id="{ident}-desc">{escape(describe(title, points, unit, limit))}</desc>'
           + "".join(parts) + "</svg>")
    return Markup(f'<figure class="chart" id="{ident}"><figcaption>{escape(title)}</figcaption>'
                  f"{svg}{table(title, points, unit, limit)}</figure>")


def table(title: str, points: Sequence[Point], unit: str, limit: Limit | None) -> Markup:
    """The chart's numbers as a table, in a disclosure under it."""
    heading = "Spend (USD)" if unit == "usd" else "Tokens"
    rows = "".join(
        f"<tr><th scope=\"row\">{escape(point.name)}</th>"
        f"<td>{escape(format_value(point.value, unit))}</td>"
        + (f"<td>{'over' if _over(point, limit) else 'within'}</td>" if limit else "")
        + "</tr>" for point in points)
    limit_head = f'<th scope="col">{escape(limit.label)}</th>' if limit else ""
    return Markup(f"<details><summary>{escape(title)} as a table</summary>"
                  f'<table class="data"><thead><tr><th scope="col">Entry</th>'
                  f'<th scope="col">{heading}</th>{limit_head}</tr></thead>'
                  f"<tbody>{rows}</tbody></table></details>")
