"""How well the PHI guard does on its labelled corpus: ``python -m phi.evaluate``.

The corpus (phi/data/corpus.jsonl, one JSON object a line: ``text``, ``lang`` "en"/"es",
``kinds`` the Safe Harbor kinds the snippet carries, ``[]`` for a clean one, ``split``, one of
``SPLITS``) is snippets written the way physicians write in a consult: about half carry an
identifier, the rest are clinical text chosen to be hard for a detector (doses and dosing
intervals, lab values with decimal points and commas, scores, TNM stages, vitals, brand names
that read like surnames, eponyms, hospitals named after people or dates). See docs/phi.md.

What is counted, per snippet (the guard is a gate: what matters is whether a message is held
back, and what it says the reason is):

- per kind: a snippet labelled with the kind is a true positive when a finding of that kind
  comes back, a false negative otherwise; a finding of a kind the snippet is not labelled with
  is a false positive of that kind;
- overall: recall is the share of snippets with an identifier that get any finding, the
  false-positive rate the share of clean snippets that get any finding, per language.

``--split dev|held_out|fresh|fresh2|all`` picks the rows; ``--markdown`` prints the tables as Markdown (what
docs/phi.md reproduces); ``--misses`` lists the snippets got wrong (for development only: it
prints the corpus text, never run it on real data).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from phi.guard import KINDS, phi_kinds, phi_scan

CORPUS = Path(__file__).resolve().parent / "data" / "corpus.jsonl"
# In the order they were written; docs/phi.md says how each was used.
SPLITS = ("dev", "held_out", "fresh", "fresh2", "fresh3")


@dataclass
class Counts:
    tp: int = 0
    fn: int = 0
    fp: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    per_kind: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})
    positives: dict[str, list[int]] = field(default_factory=dict)  # lang -> [caught, total]
    negatives: dict[str, list[int]] = field(default_factory=dict)  # lang -> [flagged, total]
    misses: list[tuple[str, list[str], list[str]]] = field(default_factory=list)


def load(split: str = "all", path: Path = CORPUS) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if split == "all" or r["split"] == split]


def evaluate(rows: list[dict], scan=phi_scan) -> Report:
    """Count ``scan`` (the guard's ``phi_scan`` unless another, e.g. an older version to
    compare with) over ``rows``."""
    report = Report()
    for row in rows:
        found = phi_kinds(scan(row["text"], lang=row["lang"]))
        labelled = row["kinds"]
        for kind in labelled:
            counts = report.per_kind[kind]
            if kind in found:
                counts.tp += 1
            else:
                counts.fn += 1
        for kind in found:
            if kind not in labelled:
                report.per_kind[kind].fp += 1
        bucket = report.positives if labelled else report.negatives
        tally = bucket.setdefault(row["lang"], [0, 0])
        tally[0] += bool(found)
        tally[1] += 1
        if set(found) != set(labelled):
            report.misses.append((row["text"], labelled, found))
    return report


def _share(pair: list[int]) -> str:
    return f"{pair[0] / pair[1]:.3f} ({pair[0]}/{pair[1]})" if pair[1] else "-"


def render(report: Report, *, markdown: bool = False) -> str:
    rows = [("kind", "labelled", "caught", "missed", "false alarms", "precision", "recall")]
    for kind, c in report.per_kind.items():
        rows.append((kind, str(c.tp + c.fn), str(c.tp), str(c.fn), str(c.fp),
                     f"{c.precision:.3f}", f"{c.recall:.3f}"))
    langs = sorted(set(report.positives) | set(report.negatives))
    overall = [("language", "recall (snippets with PHI flagged)",
                "false-positive rate (clean snippets flagged)")]
    for lang in langs:
        overall.append((lang, _share(report.positives.get(lang, [0, 0])),
                        _share(report.negatives.get(lang, [0, 0]))))
    both_pos = [sum(v[0] for v in report.positives.values()),
                sum(v[1] for v in report.positives.values())]
    both_neg = [sum(v[0] for v in report.negatives.values()),
                sum(v[1] for v in report.negatives.values())]
    overall.append(("all", _share(both_pos), _share(both_neg)))
    return _table(rows, markdown) + "\n\n" + _table(overall, markdown)


def _table(rows: list[tuple[str, ...]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args()
    rows = load(args.split)
    report = evaluate(rows)
    print(f"corpus: {CORPUS.name}, split {args.split}: {len(rows)} snippets")
    print(render(report, markdown=args.markdown))
    if args.misses:
        for text, labelled, found in report.misses:
            print(f"labelled {labelled or '-'} found {found or '-'}: {text}")


if __name__ == "__main__":
    main()
