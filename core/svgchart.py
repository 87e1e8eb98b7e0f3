"""SVG bar charts written by hand (no plotting library), shared by the adverse-event chart
(adverse/chart.py) and the poll results chart (consult/poll_export.py). Every label is
escaped; a drawing holds no script and no link, so it is safe to serve under
``Content-Security-Policy: default-src 'none'`` and to show in an ``<img>``."""

from __future__ import annotations

from html import escape

FONT = 'font-family="sans-serif"'
AXIS = "#333"
BAR_FILL = "#2b6cb0"  # 4.5:1 or better against white, for the value labels drawn beside it


def ticks(top: int) -> list[int]:
    """Whole-number axis ticks from 0 to at least ``top``, about five of them."""
    step = max(1, -(-top // 5))
    return list(range(0, top + 1, step))


def svg_open(*, width: int, height: int, title: str, left: int) -> list[str]:
    """The opening tag, the accessible name and the visible title of a chart."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
            f"<title>{escape(title)}</title>",
            f'<text x="{left}" y="22" {FONT} font-size="14">{escape(title)}</text>']


def text(x: float, y: float, value: str, *, size: int = 11, anchor: str = "start",
         fill: str = "#000") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} '
            f'font-size="{size}" fill="{fill}">{escape(value)}</text>')


def _short(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[:chars - 1] + "…"


# The horizontal chart's geometry: one row per bar, the label above its bar.
H_WIDTH, H_LEFT, H_RIGHT, H_TOP, H_ROW, H_BAR = 640, 16, 96, 44, 46, 20
H_LABEL_CHARS = 80


def horizontal_bars(*, title: str, bars: list[tuple[str, int]], caption: str,
                    value_label=str) -> str:
    """One horizontal bar per ``(label, value)``, in the given order, scaled to the largest;
    each bar's label above it (cut at 80 characters, whole in its tooltip) and
    ``value_label(value)`` after it. Fits a phone when scaled down (viewBox)."""
    top = max([v for _, v in bars] + [1])
    height = H_TOP + H_ROW * len(bars) + 28
    plot_w = H_WIDTH - H_LEFT - H_RIGHT
    parts = svg_open(width=H_WIDTH, height=height, title=title, left=H_LEFT)
    for i, (label, value) in enumerate(bars):
        y = H_TOP + i * H_ROW
        w = plot_w * value / top
        parts.append(text(H_LEFT, y + 12, _short(label, H_LABEL_CHARS), size=12))
        parts.append(f'<rect class="bar" data-value="{value}" x="{H_LEFT}" y="{y + 18}" '
                     f'width="{max(w, 1.0):.1f}" height="{H_BAR}" fill="{BAR_FILL}">'
                     f"<title>{escape(label)}: {escape(value_label(value))}</title></rect>")
        parts.append(text(H_LEFT + max(w, 1.0) + 6, y + 33, value_label(value), size=12))
    parts.append(f'<line x1="{H_LEFT}" y1="{H_TOP + 14}" x2="{H_LEFT}" '
                 f'y2="{H_TOP + H_ROW * len(bars)}" stroke="{AXIS}"/>')
    parts.append(text(H_LEFT, height - 10, caption))
    parts.append("</svg>")
    return "\n".join(parts)
