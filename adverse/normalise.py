"""Fold what reporters type to the terms counts are made of: a drug name to its ingredient,
a reaction to a code of the controlled list.

Both tables are data files in ``adverse/data/`` (versioned, with where they came from in
their ``about``). A name is folded before it is looked up — lower case, accents removed,
punctuation to spaces — and, if the whole folded name is not known, looked up again without
strengths, units, salt and dosage-form words ("Lipitor 20 mg tablets" → "lipitor" →
atorvastatin; "metformina clorhidrato" → metformin). What is still unknown is kept as
typed in the sealed report and counted under ``UNKNOWN``, so totals add up and nobody's
typo silently becomes someone else's drug.

Plain library: no Django imports; the tables load once per process.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
# The ingredient or reaction code of a name that no table entry matches.
UNKNOWN = "unknown"

# Dropped on the second look-up: strengths and units, salts, dosage forms (English, Spanish).
_UNITS = frozenset("mg mcg ug µg g kg ml l iu ui u meq mmol %".split())
_SALTS = frozenset("""
    hydrochloride hcl sodium potassium calcium magnesium besylate besilate maleate mesylate
    mesilate sulfate sulphate succinate tartrate citrate fumarate acetate phosphate bromide
    trihydrate monohydrate dihydrate anhydrous clorhidrato sodico sodica potasico potasica
    calcico calcica besilato maleato mesilato sulfato succinato tartrato citrato fumarato
    acetato fosfato bromuro
""".split())
_FORMS = frozenset("""
    tablet tablets tab tabs capsule capsules cap caps injection injectable solution oral
    suspension syrup cream ointment gel patch drops spray inhaler pen er xr sr cr mr retard
    comprimido comprimidos capsula capsulas inyectable solucion suspension jarabe crema pomada
    parche gotas inhalador pluma recubiertos recubierto efervescente efervescentes
    film coated
""".split())
_NUMBER = re.compile(r"^\d+([.,]\d+)?(mg|mcg|ug|g|ml|iu|ui|%)?$")
_PUNCT = re.compile(r"[^a-z0-9%µ]+")


def fold(name: str) -> str:
    """Lower case, accents removed, every run of punctuation or space as one space."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _PUNCT.sub(" ", text).strip()


def _strip(folded: str) -> str:
    words = [w for w in folded.split() if w not in _UNITS and w not in _SALTS
             and w not in _FORMS and not _NUMBER.match(w)]
    return " ".join(words)


@dataclass(frozen=True)
class Table:
    version: str
    names: dict[str, str]  # folded name or synonym -> code
    labels: dict[str, dict[str, str]]  # code -> {"en": ..., "es": ...}

    def lookup(self, name: str) -> str:
        """The code ``name`` folds to, or ``UNKNOWN``."""
        folded = fold(name)
        code = self.names.get(folded)
        if code is None:
            code = self.names.get(_strip(folded))
        return code or UNKNOWN

    def known(self, code: str) -> bool:
        return code in self.labels


@functools.cache
def drugs() -> Table:
    """The ingredient table (adverse/data/drugs.json); labels are the INN in both languages."""
    doc = json.loads((DATA / "drugs.json").read_text())
    names: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    for ingredient, synonyms in doc["ingredients"].items():
        labels[ingredient] = {"en": ingredient, "es": ingredient}
        for name in (ingredient, *synonyms):
            _claim(names, fold(name), ingredient)
    return Table(doc["version"], names, labels)


@functools.cache
def reactions() -> Table:
    """The controlled reaction list (adverse/data/reactions.json)."""
    doc = json.loads((DATA / "reactions.json").read_text())
    names: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    for code, term in doc["terms"].items():
        labels[code] = {"en": term["en"], "es": term["es"]}
        for name in (code, term["en"], term["es"], *term["synonyms"]):
            _claim(names, fold(name), code)
    return Table(doc["version"], names, labels)


def _claim(names: dict[str, str], folded: str, code: str) -> None:
    """One folded name maps to one code: a table that says otherwise is a bug in the data."""
    if names.setdefault(folded, code) != code:
        raise ValueError(f"{folded!r} folds to both {names[folded]!r} and {code!r}")


def ingredient(name: str) -> str:
    """The ingredient ``name`` (an INN, a USAN, a Spanish DCI or a brand) stands for."""
    return drugs().lookup(name)


def reaction(term: str) -> str:
    """The controlled-list code of ``term`` (English or Spanish), or ``UNKNOWN``."""
    return reactions().lookup(term)
