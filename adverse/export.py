"""CSV exports, columns documented in docs/adverse.md.

- ``reports_csv``: the individual reports, decrypted, in a long format — one row per suspect
  or concomitant drug and one per reaction (and one for the narrative, if any), the report's
  own fields repeated on each row. Not ICH E2B(R3) XML: the columns are ours, with the E2B
  element each corresponds to named in the docs where the meaning is the same.
- ``pairs_csv``: every drug–reaction pair, its 2×2 table and statistics.

A cell that starts with ``= + - @`` (or a tab or carriage return) is prefixed with ``'``,
so a spreadsheet shows typed text as text and never runs it as a formula.
"""

from __future__ import annotations

import csv
import io

from adverse import normalise
from adverse.report import SERIOUSNESS
from core.csvsafe import csv_cell

REPORT_COLUMNS = (
    "report_id", "reported_on", "country", "age_band", "sex", "reporter_specialty", "serious",
    *SERIOUSNESS, "dechallenge", "rechallenge", "linked_case", "row", "role", "drug_name",
    "ingredient", "dose", "route", "start_year", "stop_year", "reaction_term", "reaction_code",
    "outcome", "onset_days", "narrative",
)
PAIR_COLUMNS = (
    "drug", "reaction", "reaction_en", "reaction_es", "a", "b", "c", "d", "prr", "chi2", "ror",
    "ror_lower", "ror_upper", "ic", "ic025", "corrected", "evans", "unknown", "signal_first_week",
)
_cell = csv_cell  # core/csvsafe.py: formulas are prefixed with '


def _write(columns: tuple[str, ...], rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def report_rows(report_id: str, doc: dict) -> list[dict]:
    base = {"report_id": report_id, "reported_on": doc["reported_at"][:10],
            "country": doc["country"], "age_band": doc["age_band"], "sex": doc["sex"],
            "reporter_specialty": doc["reporter_specialty"], "serious": doc["serious"],
            **{k: doc["seriousness"][k] for k in SERIOUSNESS},
            "dechallenge": doc["dechallenge"], "rechallenge": doc["rechallenge"],
            "linked_case": doc.get("case")}
    rows = []
    for role in ("suspect", "concomitant"):
        for d in doc[f"{role}_drugs"]:
            rows.append({**base, "row": "drug", "role": role, "drug_name": d["name"],
                         "ingredient": d["ingredient"], "dose": d["dose"], "route": d["route"],
                         "start_year": d["start_year"], "stop_year": d["stop_year"]})
    for r in doc["reactions"]:
        rows.append({**base, "row": "reaction", "reaction_term": r["term"],
                     "reaction_code": r["code"], "outcome": r["outcome"],
                     "onset_days": r["onset_days"]})
    if doc.get("narrative"):
        rows.append({**base, "row": "narrative", "narrative": doc["narrative"]})
    return rows


def reports_csv(reports: list[tuple[str, dict]]) -> str:
    """``reports``: (report id, opened report JSON), oldest first."""
    return _write(REPORT_COLUMNS, (row for rid, doc in reports for row in report_rows(rid, doc)))


def pairs_csv(pairs: list[dict]) -> str:
    labels = normalise.reactions().labels
    return _write(PAIR_COLUMNS, ({**p, "reaction_en": labels.get(p["reaction"], {}).get("en"),
                                  "reaction_es": labels.get(p["reaction"], {}).get("es"),
                                  "signal_first_week": p.get("first_week")} for p in pairs))
