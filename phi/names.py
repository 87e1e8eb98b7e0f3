"""Personal names without a title or a label: the lexicon and the context cues.

A name is the identifier doctors write most and the hardest to tell from clinical words
(eponyms, brands, hospitals named after people). What counts as a name here, in order of
evidence:

1. a cue that says a person follows: a relative ("her daughter Rebecca", "su hija Lucía"), a
   patient marker ("Pt Okafor", "pte maría soto"), "Dr"/"Dra" (a colleague's name unmasks
   them under their pseudonym), a sign-off ("Thanks, Siobhan Kelly", "Un saludo, …"), or a
   preposition before a name from the lexicon ("for Margaret Ellis", "la madre de Sofía");
2. two or three capitalised words of the lexicon, first name then surname ("Barbara
   Cunningham", "Guadalupe Hernández Ramírez"), or written in lower case when neither is also
   an ordinary word ("aroha tane");
3. one capitalised first name of the lexicon that is not also an ordinary word ("photo of
   Brian's face").

Not a name: what follows "Hospital", "Clínica", "San", "St", … ("Hospital Infantil de México
Federico Gómez") or a Spanish article ("ingresó en el Ramón y Cajal"), and the eponyms and
brands that were left out of the lexicon when it was derived (phi/data/make_names.py).

The lexicon (phi/data/names.txt, ~7,500 first names and surnames of the countries served,
~70 KB) is read once at import into two dicts: name → ambiguous (also an ordinary word).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "data" / "names.txt"


def _load() -> tuple[dict[str, bool], dict[str, bool]]:
    first: dict[str, bool] = {}
    last: dict[str, bool] = {}
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            (first if parts[0] == "F" else last)[parts[1]] = len(parts) > 2
    return first, last


FIRST, LAST = _load()

# A word: letters (any script), with an inner apostrophe or hyphen ("O'Connor", "Jean-Luc").
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")

_RELATIVES = frozenset("""
daughter son wife husband partner mother mum mom father dad brother sister niece nephew
grandson granddaughter grandchild carer caregiver friend neighbour neighbor fiancé fiancée
girlfriend boyfriend stepdaughter stepson nok
hija hijo esposa esposo marido madre padre hermano hermana nieto nieta sobrino sobrina pareja
cuidadora cuidador vecina vecino novio novia abuela abuelo tía tío prima primo yerno nuera
""".split())
_PATIENT = frozenset({"pt", "pte", "paciente", "patient", "px", "mr", "mrs", "ms", "miss",
                      "señor", "señora", "sr", "sra", "srta", "dña", "doña", "don", "mx"})
_DOCTOR = frozenset({"dr", "dra", "doctor", "doctora", "prof", "professor", "nurse",
                     "enfermera", "enfermero", "sister"})
_PREPOSITIONS = frozenset({"for", "on", "of", "to", "with", "about", "re", "see", "review",
                           "from", "and", "by", "de", "para", "con", "a", "al", "y", "por",
                           "sobre", "ver", "visto", "vista", "called", "named", "llamado",
                           "llamada", "is", "es"})
# Words after which a capitalised phrase is a place or an institution, not a person.
_INSTITUTION = frozenset({"hospital", "clinic", "clínica", "clinica", "centro", "center",
                          "centre", "instituto", "institute", "infirmary", "universidad",
                          "university", "san", "santa", "santo", "st", "saint", "sir", "royal",
                          "el", "del", "los", "las", "calle", "avenida", "av", "street",
                          "road", "colegio", "sanatorio", "residencia", "fundación",
                          "escuela", "school", "college", "ward", "unit", "unidad", "planta",
                          "ala", "pabellón", "sala", "servicio", "programa", "protocolo"})
_CONNECTORS = frozenset({"de", "del", "la", "y", "van", "von", "da", "di", "le", "mc", "mac"})
_STOP = frozenset("""
the a an in on at is it he she they we i you his her their this that there then is was
to for of and or not no yes ok de la el los las un una y o en con por para que se su sus
""".split())


def _key(word: str) -> str:
    if word.isascii():  # NFC leaves ASCII as it is
        return word.lower().replace("'", "")
    return unicodedata.normalize("NFC", word.lower().replace("'", "").replace("’", ""))


def _in_lexicon(word: str) -> int:
    """0: not a name; 1: a name that is also an ordinary word; 2: an unambiguous name."""
    k = _key(word)
    if k.endswith("s") and k not in FIRST and k not in LAST and word.endswith(("'s", "’s")):
        k = k[:-1]
    amb = FIRST.get(k, LAST.get(k))
    if amb is None:
        for part in k.split("-"):
            if part in FIRST or part in LAST:
                return 1
        return 0
    return 1 if amb else 2


_CUES = _RELATIVES | _PATIENT | _DOCTOR | _PREPOSITIONS | {"is", "es", "was", "era"}


def _title(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and not word.isupper()


def scan_names(text: str, add) -> None:
    """Add ``(start, end)`` of every name found in ``text`` through ``add``."""
    words = [(*m.span(), m.group()) for m in _WORD.finditer(text)]
    n = len(words)
    # With no institution word anywhere, no name continues an institution's name: skip the
    # walk back (a message of hundreds of capitalised words stays cheap). Looked at once, the
    # first time a name is found (a clean message never pays for it).
    any_institution: list[bool] = []

    def institution(text: str, words, i: int) -> bool:
        if not any_institution:
            any_institution.append(not _INSTITUTION.isdisjoint(w.lower() for _, _, w in words))
        return any_institution[0] and _in_institution(text, words, i)
    i = 0
    while i < n:
        s, e, w = words[i]
        if w[0].islower() and w not in _CUES and w not in FIRST:
            i += 1  # the common case: an ordinary lower-case word
            continue
        low = w.lower()
        end = 0
        title = _title(w)
        if title:
            end = _capitalised(text, words, i, low)
        elif w.isupper() and len(w) > 2 and LAST.get(_key(w)) is not None and i + 1 < n and \
                text[e:words[i + 1][0]] == ", " and _key(words[i + 1][2]) in FIRST and \
                _title(words[i + 1][2]):
            end = words[i + 1][1]  # "SMITH, John": a wristband, a label, a list
        elif low in FIRST and not FIRST[low] and i + 1 < n:
            nxt = words[i + 1][2]
            if nxt.islower() and LAST.get(_key(nxt)) is False and _gap_ok(text, e, words[i + 1][0]):
                end = _extend(text, words, i + 1, capital=False)
        if end and not institution(text, words, i) and not _eponym(text, words, i, end):
            add(s, end)
            while i < n and words[i][0] < end:
                i += 1
            continue
        # "Gareth's mum", "Aisha's husband": a possessive before a relative.
        if title and w.endswith(("'s", "’s")) and i + 1 < n and \
                words[i + 1][2].lower() in _RELATIVES and low[:-2] not in _STOP and \
                (not _sentence_start(text, s) or _in_lexicon(w)):
            add(s, e - 2)
            i += 1
            continue
        # Cues: the word is a cue, the name follows.
        if low in _CUES and i + 1 < n:
            ns = words[i + 1][0]
            gap = text[e:ns]
            if len(gap) <= 4:
                found = _after_cue(text, words, i, low, gap)
                if found and not institution(text, words, i + 1) and \
                        not _eponym(text, words, i + 1, found):
                    add(ns, found)
                    while i < n and words[i][0] < found:
                        i += 1
                    continue
        i += 1


def _capitalised(text: str, words, i: int, low: str) -> int:
    """A name starting at capitalised ``words[i]`` without a cue before it, or 0."""
    s, e, w = words[i]
    n = len(words)
    first = _key(w) in FIRST
    lex = _in_lexicon(w)
    if first and i + 1 < n and _title(words[i + 1][2]) and _gap_ok(text, e, words[i + 1][0]):
        # First name + surname: both in the lexicon and one unambiguous, or an unambiguous
        # first name and any capitalised word.
        b = _in_lexicon(words[i + 1][2])
        if lex and b and (lex == 2 or b == 2) or lex == 2 and words[i + 1][2].lower() not in _STOP:
            return _extend(text, words, i + 1, capital=True)
    if first and lex == 2 and i and not _sentence_start(text, s) and \
            words[i - 1][2].lower() not in _STOP:
        return e
    if (i == 0 or _sentence_start(text, s)) and low not in _STOP and low not in _NOT_A_NAME \
            and re.match(r",\s*\d{1,3},", text[e:e + 7]):
        return e  # "Ethel, 95, from the nursing home"
    return 0


def _after_cue(text: str, words, i: int, low: str, gap: str) -> int:
    """End of the name after cue word ``words[i]``, or 0."""
    ns, ne, nw = words[i + 1]
    gap = gap.strip()
    if low in _RELATIVES and gap == "" and nw in ("de", "of") and i + 2 < len(words) and \
            _title(words[i + 2][2]) and words[i + 2][2].lower() not in _STOP:
        return _extend(text, words, i + 2, capital=True)  # "la nieta de Consolación"
    if low in _RELATIVES and gap in ("", ",", "(", ":", "-", "—"):
        if _title(nw) and nw.lower() not in _STOP:
            return _extend(text, words, i + 1, capital=True)
        return 0
    if low in ("is", "es", "was", "era") and i and words[i - 1][2].lower() in ("name", "nombre",
                                                                              "called", "llama"):
        if _title(nw) or _in_lexicon(nw):
            return _extend(text, words, i + 1, capital=_title(nw))
        return 0
    if low in _PATIENT and gap in ("", ".", ":", "'s") and nw.lower() not in _STOP:
        if _title(nw) and _key(nw) not in _NOT_AFTER_PT:
            return _extend(text, words, i + 1, capital=True)
        if nw.islower() and (_in_lexicon(nw) == 2 or _in_lexicon(nw) and any(
                _in_lexicon(x[2]) == 2 for x in words[i + 2:i + 5] if x[2].lower() not in _CONNECTORS)):
            return _extend(text, words, i + 1, capital=False)
        return 0
    if low in _DOCTOR and gap in ("", ".") and len(nw) == 1 and nw.isupper() and \
            i + 2 < len(words) and text[ne:ne + 1] == "." and _title(words[i + 2][2]):
        end = _extend(text, words, i + 2, capital=True)  # "Dr. A. Hughes, GMC …"
        if _sentence_start(text, words[i][0]) and text[end:end + 1] in (",", "\n", ""):
            return end
        return 0
    if low in _DOCTOR and gap in ("", ".") and _title(nw) and nw.lower() not in _STOP:
        # A colleague named in passing ("seen by Dr. Chen") is not patient data; a signature
        # is ("Dr Priya Raman, GMC …" at the start of a line): it unmasks the author.
        end = _extend(text, words, i + 1, capital=True)
        if _sentence_start(text, words[i][0]) and text[end:end + 1] in (",", "\n", ""):
            return end
        return 0
    if low in ("review", "re", "para", "for", "about") and gap == ":" and _title(nw) and \
            i + 2 < len(words) and _title(words[i + 2][2]) and \
            (_in_lexicon(nw) or _in_lexicon(words[i + 2][2])) and \
            _gap_ok(text, ne, words[i + 2][0]):
        return _extend(text, words, i + 1, capital=True)  # "For review: Precious Nkosi"
    if low in _PREPOSITIONS and gap == "" and _title(nw) and not _in_lexicon(nw) and \
            i + 2 < len(words) and _title(words[i + 2][2]) and _in_lexicon(words[i + 2][2]) == 2 \
            and _gap_ok(text, ne, words[i + 2][0]) and nw.lower() not in _STOP:
        return _extend(text, words, i + 1, capital=True)  # "on Sipho Dlamini"
    if low in _PREPOSITIONS and gap == "" and _title(nw) and _in_lexicon(nw) and \
            nw.lower() not in _STOP:
        if _in_lexicon(nw) == 2 or (i + 2 < len(words) and _title(words[i + 2][2])
                                    and _in_lexicon(words[i + 2][2])):
            return _extend(text, words, i + 1, capital=True)
        if low not in ("and", "y", "a", "is", "es", "from", "to", "of", "by", "por"):
            return _extend(text, words, i + 1, capital=True)
        return 0
    return 0


_NOT_A_NAME = frozenset({"male", "female", "man", "woman", "varón", "varon", "mujer", "hombre",
                        "age", "edad", "bed", "cama", "room", "bay", "habitación", "habitacion",
                        "box", "ward", "planta", "sala", "ecog", "gcs", "nyha", "asa",
                        "stage", "estadio", "grade", "grado", "score", "day", "día", "dia"})
_NOT_AFTER_PT = frozenset({"hb", "bp", "hr", "is", "has", "had", "was", "refuses", "seen",
                           "needs", "says", "states", "reports", "ok", "stable", "sigue",
                           "tiene", "refiere", "con", "sin", "en", "de"})


def scan_signoffs(text: str, add) -> None:
    """"Thanks, Siobhan Kelly" / "Un saludo, Dra. …": the capitalised words after a sign-off."""
    for m in _SIGNOFF_ANY.finditer(text):
        words = list(_WORD.finditer(text, m.end(), min(len(text), m.end() + 60)))
        j = 0
        while j < len(words) and words[j].group().lower().rstrip(".") in _DOCTOR:
            j += 1
        k = j
        while k < len(words) and _title(words[k].group()) and k - j < 4:
            k += 1
        if k > j:
            add(words[j].start(), words[k - 1].end())


SIGNOFF_WORDS = ("thank", "cheers", "regards", "best wishes", "atentamente", "saludo",
                 "gracias", "firma", "signed")
_SIGNOFF_ANY = re.compile(r"(?i)\b(?:thanks|thank you|cheers|regards|kind regards|best wishes|"
                          r"atentamente|un saludo|saludos|gracias|firma|firmado|signed)\s*[,:]\s*")


# A surname that names a disease, a sign or a score: "síndrome de Lynch", "Still's disease",
# "Lynch syndrome", "escala de Glasgow".
_EPONYM_BEFORE = frozenset("""
síndrome sindrome enfermedad signo test prueba maniobra escala criterios fenómeno fenomeno
tumor linfoma sarcoma parálisis paralisis reflejo clasificación clasificacion índice indice
tríada triada úlcera ulcera hernia quiste esófago esofago tiroiditis corea demencia ataxia
distrofia anemia anomalía anomalia fractura operación operacion técnica tecnica método metodo
""".split())
_EPONYM_AFTER = frozenset("""
disease syndrome sign signs test score criteria phenomenon palsy tumour tumor lymphoma
sarcoma classification manoeuvre maneuver triad ulcer hernia cyst oesophagus esophagus
thyroiditis chorea dementia ataxia dystrophy anaemia anemia fracture procedure operation
reflex scale index stage staging grade grading catheter line
""".split())


def _eponym(text: str, words, i: int, end: int) -> bool:
    """Whether the name at ``words[i]`` ending at ``end`` is an eponym in use."""
    if i >= 2 and words[i - 1][2].lower() == "de" and words[i - 2][2].lower() in _EPONYM_BEFORE:
        return True
    if i >= 1 and words[i - 1][2].lower() in _EPONYM_BEFORE:
        return True
    j = i
    while j < len(words) and words[j][0] < end:
        j += 1
    return j < len(words) and words[j][2].lower() in _EPONYM_AFTER


def _in_institution(text: str, words, i: int) -> bool:
    """Whether ``words[i]`` continues a capitalised phrase that an institution word starts
    ("Hospital Infantil de México Federico Gómez", "el Ramón y Cajal", "St Vincent's")."""
    j = i - 1
    steps = 0
    while j >= 0 and steps < 6:
        w = words[j][2]
        if w.lower() in _INSTITUTION:
            return True
        if not (_title(w) or w.lower() in _CONNECTORS) or not text[words[j][1]:words[j + 1][0]].isspace():
            return False
        j -= 1
        steps += 1
    return False


def _sentence_start(text: str, s: int) -> bool:
    j = s - 1
    while j >= 0 and text[j] in " \t\"'(":
        j -= 1
    return j < 0 or text[j] in ".!?\n:;"


def _gap_ok(text: str, a: int, b: int) -> bool:
    return text[a:b] in (" ", " \u00a0")


def _extend(text: str, words, j: int, *, capital: bool) -> int:
    """From name word ``words[j]``, take up to three more name words (and connectors "de",
    "del", "y" between them); returns the end offset."""
    end = words[j][1]
    k = j + 1
    taken = 0
    while k < len(words) and taken < 3 and _gap_ok(text, end, words[k][0]):
        w = words[k][2]
        if w.lower() in _CONNECTORS and k + 1 < len(words) and _gap_ok(text, words[k][1],
                                                                     words[k + 1][0]):
            nxt = words[k + 1][2]
            if (capital and _title(nxt)) or (not capital and _in_lexicon(nxt)):
                end = words[k + 1][1]
                k += 2
                taken += 1
                continue
            break
        if capital and _title(w) and (_in_lexicon(w) or taken == 0 and _key(w) not in _STOP):
            end = words[k][1]
        elif not capital and w.islower() and _in_lexicon(w):
            end = words[k][1]
        else:
            break
        k += 1
        taken += 1
    return end
