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


# Counts of failures: a cell reports the worst of its runs, never a median that hides one.
WORST = {"lost", "dup", "failed", "unacked_delivered", "out_of_order", "open_retries",
         "rate_limited_retries"}


def combine_runs(runs: list[list[dict]], spread: tuple[str, ...] = ()) -> list[dict]:
    """Rows of repeated runs of one cell (each run the same rows in the same order) → one
    row each: the median of every number, the maximum of every failure count (``WORST``),
    and for the metrics in ``spread`` every run's value (``<metric>_runs``)."""
    if len(runs) == 1:
        return runs[0]
    out = []
    for rows in zip(*runs, strict=True):
        row = dict(rows[0])
        for key, value in rows[0].items():
            values = [r.get(key) for r in rows]
            if isinstance(value, bool) or not all(isinstance(v, int | float) for v in values):
                continue
            if key in WORST:
                row[key] = max(values)
            else:
                mid = sorted(values)[len(values) // 2] if len(values) % 2 else (
                    sum(sorted(values)[len(values) // 2 - 1:len(values) // 2 + 1]) / 2)
                row[key] = round(mid, 2) if isinstance(mid, float) else mid
            if key in spread:
                row[f"{key}_runs"] = values
        row["runs"] = len(rows)
        out.append(row)
    return out
