"""A pair's reports over time as an SVG bar chart, written by hand (no plotting library;
the shared pieces are core/svgchart.py): one bar per ISO week, the serious reports as the
darker lower part, a y axis in whole reports, and a title. Every label is escaped; the
drawing holds no script."""

from __future__ import annotations

from datetime import date

from core.svgchart import svg_open, ticks

WIDTH = 640
HEIGHT = 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 40, 56
ALL_FILL = "#9ecae1"
SERIOUS_FILL = "#d6604d"


def series_svg(*, title: str, series: list[tuple[date, int, int]]) -> str:
    """The chart of ``series`` ((week Monday, reports, serious reports), oldest first)."""
    top = max([n for _, n, _ in series] + [1])
    ticks_ = ticks(top)
    top = max(top, ticks_[-1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    bar = max(slot * 0.7, 1.0)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    base = TOP + plot_h
    parts = [*svg_open(width=WIDTH, height=HEIGHT, title=title, left=LEFT),
             f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#333"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>']
    for t in ticks_:
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
