"""A poll's results out of the API: the CSV export and the SVG chart (both kinds of poll;
who may have them is ``polls.results_export_check``). Both carry only what the results
view shows: counts per option, and per specialty only for the specialties with at least
``polls.BREAKDOWN_MIN_VOTES`` votes (the same suppression: ``polls.poll_results``)."""

from __future__ import annotations

from consult.polls import Results
from core.csvsafe import csv_text
from core.svgchart import horizontal_bars

CSV_COLUMNS = ("section", "option", "text", "specialty", "votes")

# The chart's few words of its own, in the client's two languages.
_WORDS = {
    "en": {"title": "Diagnosis poll", "votes": "Votes in all: {n}",
           "hidden": "; specialties under 5 votes not shown apart"},
    "es": {"title": "Encuesta diagnóstica", "votes": "Votos en total: {n}",
           "hidden": "; las especialidades con menos de 5 votos no se muestran aparte"},
}


def results_csv(*, question: str | None, options: list[str], results: Results) -> str:
    """Long format, one row per count: ``question`` (the total), ``total`` per option,
    ``specialty`` per shown specialty and option, and ``hidden`` (the votes of the
    specialties not shown apart). Options are numbered from 1; text cells are made safe
    for spreadsheets (core/csvsafe.py)."""
    rows: list[tuple] = [("question", "", question or "", "", sum(results.counts))]
    rows += [("total", i + 1, text, "", n)
             for i, (text, n) in enumerate(zip(options, results.counts, strict=True))]
    for specialty, _, counts in results.by_specialty:
        rows += [("specialty", i + 1, text, specialty, n)
                 for i, (text, n) in enumerate(zip(options, counts, strict=True))]
    rows.append(("hidden", "", "", "", results.hidden_votes))
    return csv_text(CSV_COLUMNS, rows)


def results_svg(*, question: str | None, options: list[str], results: Results,
                lang: str = "en") -> str:
    """Horizontal bars, one per option: its votes and share of all votes."""
    words = _WORDS.get(lang, _WORDS["en"])
    total = sum(results.counts)

    def label(n: int) -> str:
        share = round(100 * n / total) if total else 0
        return f"{n} ({share} %)"

    caption = words["votes"].format(n=total) + (words["hidden"] if results.hidden_votes else "")
    return horizontal_bars(title=question or words["title"],
                           bars=list(zip(options, results.counts, strict=True)),
                           caption=caption, value_label=label)
