"""CSV cells a spreadsheet cannot run: a cell that starts with ``= + - @`` (or a tab or
carriage return) is prefixed with ``'``, so typed text shows as text and never as a formula
(OWASP "CSV injection"). Shared by the adverse-event and poll exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number is never a formula; "-1.5" stays a number
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(columns: Iterable[str], rows: Iterable[Iterable]) -> str:
    """RFC 4180 text (CRLF line ends): the header, then each row's cells made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()
