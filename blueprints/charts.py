"""Bar charts for the owner's console as server-rendered SVG: plain data in, escaped markup out.

Pure: no flask, no store. Each chart is a figure holding the SVG (role="img", named by its <title> and
described by its <desc>) and a visually hidden table of the same numbers, so a screen reader gets them
all. Bars are stacked (bottom part first) and coloured by a class (bar-<kind>) that the page's CSS fills:
under the pages' Content-Security-Policy no inline style would apply.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 480  # the viewBox; the SVG scales to its container
TICKS = 4  # horizontal grid lines above zero
MAX_CATEGORY_LABELS = 8  # a 24-hour chart labels every third hour
LABEL_CHARS = 18  # a subject's name on the comparison chart is cut there (the table has it whole)


@dataclass(frozen=True)
class Part:
    """One stacked part of every bar: its legend name, its colour class and a value per category."""

    name: str
    kind: str  # the class bar-<kind>: ok, error, in, out
    values: tuple[float, ...]


@dataclass(frozen=True)
class BarChart:
    id: str  # unique on the page: the ids of the title and description derive from it
    title: str
    category_label: str  # what the bars are (the time axis, or "key")
    value_label: str  # what their length counts
    categories: tuple[str, ...]
    parts: tuple[Part, ...]
    horizontal: bool = False  # one row per category, for comparing named subjects


def render_chart(chart: BarChart) -> str:
    """The chart as a <figure>: the SVG, a legend and the hidden data table."""
    svg = _horizontal(chart) if chart.horizontal else _vertical(chart)
    legend = "".join(f'<li><span class="swatch bar-{_e(part.kind)}"></span>{_e(part.name)}</li>'
                     for part in chart.parts)
    return (f'<figure class="chart" id="{_e(chart.id)}"><figcaption>{_e(chart.title)}</figcaption>{svg}'
            f'<ul class="legend" aria-hidden="true">{legend}</ul>{_table(chart)}</figure>')


def totals(chart: BarChart) -> tuple[float, ...]:
    """Each category's stacked total."""
    return tuple(sum(part.values[i] for part in chart.parts) for i in range(len(chart.categories)))


def nice_ceiling(value: float) -> float:
    """The axis end: TICKS steps of 1, 2, 2.5 or 5 times a power of ten reaching `value` (at least TICKS)."""
    if value <= 0:
        return TICKS
    step = value / TICKS
    power = 10 ** math.floor(math.log10(step))
    factor = next(factor for factor in (1, 2, 2.5, 5, 10) if step <= factor * power)
    return max(factor * power * TICKS, TICKS)


def short_number(value: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; small numbers as they are (without a needless .0)."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _vertical(chart: BarChart) -> str:
    left, right, top, bottom = 44, 8, 10, 40
    height = 220
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    ceiling = nice_ceiling(max(totals(chart), default=0))
    count = max(len(chart.categories), 1)
    slot = plot_w / count
    every = math.ceil(count / MAX_CATEGORY_LABELS)
    body = [_grid_y(ceiling, left, WIDTH - right, top, plot_h)]
    for i, category in enumerate(chart.categories):
        x, base = left + i * slot + slot * 0.15, top + plot_h
        body.append(f'<g class="bar-group"><title>{_e(_bar_words(chart, i))}</title>')
        for part in chart.parts:
            size = part.values[i] / ceiling * plot_h
            base -= size
            body.append(_rect(part, i, x, base, slot * 0.7, size))
        body.append("</g>")
        if i % every == 0:
            body.append(f'<text class="tick" x="{_n(x + slot * 0.35)}" y="{_n(top + plot_h + 14)}" '
                        f'text-anchor="middle">{_e(category)}</text>')
    body.append(f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(height - 6)}" '
                f'text-anchor="middle">{_e(chart.category_label)}</text>')
    body.append(f'<text class="axis-label" x="12" y="{_n(top + plot_h / 2)}" text-anchor="middle" '
                f'transform="rotate(-90 12 {_n(top + plot_h / 2)})">{_e(chart.value_label)}</text>')
    return _svg(chart, height, body)


def _horizontal(chart: BarChart) -> str:
    left, right, top, row, bottom = 130, 16, 6, 26, 40
    plot_w = WIDTH - left - right
    height = top + row * max(len(chart.categories), 1) + bottom
    ceiling = nice_ceiling(max(totals(chart), default=0))
    body = [_grid_x(ceiling, left, plot_w, top, height - bottom)]
    for i, category in enumerate(chart.categories):
        y, start = top + i * row + row * 0.15, left
        body.append(f'<g class="bar-group"><title>{_e(_bar_words(chart, i))}</title>')
        for part in chart.parts:
            size = part.values[i] / ceiling * plot_w
            body.append(_rect(part, i, start, y, size, row * 0.7))
            start += size
        body.append("</g>")
        name = category if len(category) <= LABEL_CHARS else category[:LABEL_CHARS - 1] + "…"
        body.append(f'<text class="tick" x="{left - 6}" y="{_n(y + row * 0.35 + 4)}" '
                    f'text-anchor="end">{_e(name)}</text>')
    body.append(f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(height - 6)}" '
                f'text-anchor="middle">{_e(chart.value_label)}</text>')
    return _svg(chart, height, body)


def _svg(chart: BarChart, height: int, body: list[str]) -> str:
    ids = f"{chart.id}-title {chart.id}-desc"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{_e(ids)}" '
            f'viewBox="0 0 {WIDTH} {height}" class="chart-svg">'
            f'<title id="{_e(chart.id)}-title">{_e(chart.title)}</title>'
            f'<desc id="{_e(chart.id)}-desc">{_e(_summary(chart))}</desc>{"".join(body)}</svg>')


def _rect(part: Part, index: int, x: float, y: float, width: float, height: float) -> str:
    return (f'<rect class="bar bar-{_e(part.kind)}" data-part="{_e(part.kind)}" data-index="{index}" '
            f'data-value="{_n(part.values[index])}" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" '
            f'height="{_n(height)}"/>')


def _grid_y(ceiling: float, x1: float, x2: float, top: float, plot_h: float) -> str:
    lines = []
    for step in range(TICKS + 1):
        value, y = ceiling * step / TICKS, top + plot_h - plot_h * step / TICKS
        lines.append(f'<line class="grid" x1="{_n(x1)}" x2="{_n(x2)}" y1="{_n(y)}" y2="{_n(y)}"/>'
                     f'<text class="tick" x="{_n(x1 - 4)}" y="{_n(y + 4)}" text-anchor="end">'
                     f'{short_number(value)}</text>')
    return "".join(lines)


def _grid_x(ceiling: float, left: float, plot_w: float, y1: float, y2: float) -> str:
    lines = []
    for step in range(TICKS + 1):
        value, x = ceiling * step / TICKS, left + plot_w * step / TICKS
        lines.append(f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y1)}" y2="{_n(y2)}"/>'
                     f'<text class="tick" x="{_n(x)}" y="{_n(y2 + 14)}" text-anchor="middle">'
                     f'{short_number(value)}</text>')
    return "".join(lines)


def _table(chart: BarChart) -> str:
    head = "".join(f'<th scope="col">{_e(part.name)}</th>' for part in chart.parts)
    rows = "".join(f'<tr><th scope="row">{_e(category)}</th>'
                   + "".join(f"<td>{_n(part.values[i])}</td>" for part in chart.parts) + "</tr>"
                   for i, category in enumerate(chart.categories))
    # In a div: a table grows to its content whatever its width, and would widen a phone's page.
    return (f'<div class="visually-hidden"><table><caption>{_e(chart.title)}</caption><thead><tr>'
            f'<th scope="col">{_e(chart.category_label)}</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>')


def _summary(chart: BarChart) -> str:
    """The description: each part's sum over every bar, e.g. `OK: 12; Errors: 3`."""
    return "; ".join(f"{part.name}: {_n(sum(part.values))}" for part in chart.parts)


def _bar_words(chart: BarChart, index: int) -> str:
    return f"{chart.categories[index]}: " + ", ".join(f"{part.name} {_n(part.values[index])}" for part in chart.parts)


def _n(value: float) -> str:
    """A coordinate or count without float noise: 12, 3.5, 101.25."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _e(text: str) -> str:
    return escape(str(text), quote=True)
