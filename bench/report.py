"""Numbers out of raw samples, and the plain-text tables the scenarios print."""

from __future__ import annotations

import math
from array import array


def percentiles(samples: array | list[float], points=(50, 95, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles and the maximum, in milliseconds (None without samples)."""
    data = sorted(samples)
    out: dict[str, float | None] = {}
    for p in points:
        out[f"p{p}_ms"] = (round(data[max(0, math.ceil(p / 100 * len(data)) - 1)] * 1000, 2)
                           if data else None)
    out["max_ms"] = round(data[-1] * 1000, 2) if data else None
    return out


def ratio(curbside: float | None, baseline: float | None, *, lower_is_better: bool = False):
    """How many times better Curbside is (>1 = better), or None when undefined."""
    if not curbside or not baseline:
        return None
    return round(baseline / curbside if lower_is_better else curbside / baseline, 2)


def table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table (prints readably on a terminal too)."""
    def cell(v) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
              for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"
              for row in cells]
    return "\n".join(lines)
