"""Derive phi/data/names.txt, the PHI guard's first-name and surname lexicon (build time only).

    apt-get install -y wamerican wspanish && pip install faker
    python phi/data/make_names.py > phi/data/names.txt

Source: the per-locale person-name lists Faker ships (MIT licence) for the countries Curbside
serves that Faker has: en_US, en_GB, en_IE, en_NZ, es_ES, es_MX, zu_ZA (South Africa; Canada
and Australia are covered by the US/UK/IE lists). ``names-dataset`` has bigger per-country
lists but loads gigabytes; Faker's are a few thousand names, which is the point of a lexicon
here: common names, shipped as a ~60 KB text file, loaded into two frozensets at import.

Dropped, because a guard that cries wolf teaches doctors to click "send anyway":

- eponyms and drug brand names that are also surnames (the list below);
- names of one or two letters.

Marked ``~`` (ambiguous): a name that is also an ordinary lower-case word in the English or
Spanish word lists of Debian's ``wamerican`` / ``wspanish`` ("Will", "Grace", "Rose", "Dolores",
"Mayor", "Cruz"…). The guard takes an ambiguous name only with a context cue or beside an
unambiguous one, never on its own.

Output: one line per name, ``F name`` (first name) or ``S name`` (surname), lower case, sorted,
`` ~`` after an ambiguous one.
"""

from __future__ import annotations

import importlib
import sys
import unicodedata

LOCALES = ("en_US", "en_GB", "en_IE", "en_NZ", "es_ES", "es_MX", "zu_ZA")
WORD_LISTS = ("/usr/share/dict/american-english", "/usr/share/dict/spanish")
# Surnames that are diseases, signs, scores, instruments or brands in clinical text.
CLINICAL = """
addison alzheimer apgar asperger babinski baker barrett barré basedow bell bence blumberg
brudzinski burkitt chagas charcot cheyne child coombs crohn cushing dix doppler down duchenne
dupuytren epley ewing fallot foley gilbert glasgow graves guillain hallpike hartmann hashimoto
hickman hodgkin holter horner huntington kaposi kawasaki kernig korsakoff lachman lasègue
lasegue lyme marfan mcburney mcmurray meniere ménière murphy nissen paget pap parkinson phalen
pugh raynaud reiter romberg roux sjögren sjogren stokes swan ganz tinel trendelenburg turner
valsalva wells wernicke whipple wilms wilson wolff parkinson zollinger ellison brown sequard
gram ziehl neelsen mantoux heimlich clark breslow gleason ranson ann arbor
eliquis sintrom adiro xarelto lasix seguril nolotil augmentine enantyum zyprexa keppra lyrica
pradaxa clexane hemovas trankimazin orfidal dacortin urbason humira ozempic jardiance trulicity
entresto brilinta sinemet lantus tresiba victoza januvia crestor lipitor
marañón cajal rocío octubre noviembre hopkins mayo mater gairdner schuur
prince alfred
"""
# Names that are ordinary words in clinical text though the word lists miss them.
ALSO_COMMON = """
dolores consuelo pilar amparo soledad mercedes rosario luz paz cruz ángeles angeles reyes
remedios milagros socorro esperanza gracia salud rocío victoria concepción inmaculada nieves
iris gene grace will may mark chance lance cole dale rich drew miles bill frank pat sue ray
dawn hope faith joy june april august rose jean ruby hazel holly ivy olive violet amber
sage guy don art carter mason cooper parker hunter major royal marshall sterling norman
"""


def _fold(s: str) -> str:
    return unicodedata.normalize("NFC", s.strip().lower())


def main() -> None:
    common: set[str] = set()
    for path in WORD_LISTS:
        with open(path, encoding="utf-8", errors="replace") as f:
            common.update(_fold(w) for w in f if w[:1].islower())
    common.update(ALSO_COMMON.split())
    clinical = set(CLINICAL.split())
    first: set[str] = set()
    last: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr, into in (("first_names", first), ("first_names_male", first),
                           ("first_names_female", first), ("last_names", last)):
            names = getattr(provider, attr, ())
            for name in (names.keys() if isinstance(names, dict) else names):
                for part in name.replace("-", " ").replace("'", "").split():
                    part = _fold(part)
                    if len(part) > 2 and part.isalpha() and part not in clinical:
                        into.add(part)

    def line(tag: str, name: str) -> str:
        return f"{tag} {name} ~" if name in common else f"{tag} {name}"

    out = sorted(line("F", n) for n in first) + sorted(line("S", n) for n in last)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
