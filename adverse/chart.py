"""A pair's reports over time as an SVG bar chart, written by hand (no plotting library):
one bar per ISO week, the serious reports as the darker lower part, a y axis in whole
reports, and a title. Every label is escaped; the drawing holds no script."""

from __future__ import annotations

from datetime import date
from html import escape

WIDTH = 640
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 40, 56
ALL_FILL = "#9ecae1"
SERIOUS_FILL = "#d6604d"


def _ticks(top: int) -> list[int]:
    step = max(1, -(-top // 5))
    return list(range(0, top + 1, step))


def series_svg(*, title: str, series: list[tuple[date, int, int]]) -> str:
    """The chart of ``series`` ((week Monday, reports, serious reports), oldest first)."""
    top = max([n for _, n, _ in series] + [1])
    ticks = _ticks(top)
    top = max(top, ticks[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    bar = max(slot * 0.7, 1.0)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    base = TOP + plot_h
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="{LEFT}" y="22" font-family="sans-serif" font-size="14">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>']
    for t in ticks:
        parts.append(f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end" '
                     f'font-family="sans-serif" font-size="11">{t}</text>')
    label_every = max(1, len(series) // 8)
    for i, (week, n, serious) in enumerate(series):
        x = LEFT + i * slot + (slot - bar) / 2
        parts.append(f'<rect class="week" data-week="{week.isoformat()}" data-reports="{n}" '
                     f'data-serious="{serious}" x="{x:.1f}" y="{y(n):.1f}" width="{bar:.1f}" '
                     f'height="{y(0) - y(n):.1f}" fill="{ALL_FILL}"><title>{week.isoformat()}: '
                     f"{n} reports, {serious} serious</title></rect>")
        if serious:
            parts.append(f'<rect x="{x:.1f}" y="{y(serious):.1f}" width="{bar:.1f}" '
                         f'height="{y(0) - y(serious):.1f}" fill="{SERIOUS_FILL}"/>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                         f'font-family="sans-serif" font-size="10">{week.isoformat()}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 12}" font-family="sans-serif" font-size="11">'
                 f'Reports per week (from Monday); darker: serious</text>')
    parts.append("</svg>")
    return "\n".join(parts)
