"""Identifiers introduced by what they are: "GMC 7012345", "matrícula 1234 BCD", "serial #
NG2285511", "póliza 0012-4455-99", "IBAN …", and those recognisable on their own (a VIN with a
valid check digit, a UK or Spanish number plate, an IBAN, a payment card or an IMEI that passes
its check).

Each label is a short phrase; the value after it (past "no.", "nº", "#", ":" and at most a
couple of filler words: "placas de Jalisco JHT-4512", "IMEI del móvil 3569…") must contain
digits, so "serial troponins", "plate count", "VIN 2 on biopsy" and "MRN pending" pass. The
guard looks a label up only where its first word occurs (``TRIGGERS``), so a message without
one pays nothing here.
"""

from __future__ import annotations

import re

HEALTH_PLAN_ID = "health_plan_id"
ACCOUNT_NUMBER = "account_number"
LICENCE_NUMBER = "licence_number"
VEHICLE_ID = "vehicle_id"
DEVICE_ID = "device_id"
RECORD_NUMBER = "record_number"
SSN = "ssn"
NATIONAL_ID = "national_id"
ADDRESS = "address"

# (kind, label phrases, the words a label can start with, fewest digits in the value, shape)
_ID = "id"  # letters and digits, hyphens, slashes; up to five space-separated groups
_PLATE = "plate"  # upper-case letters and digits in groups
_SPECS: tuple[tuple[str, str, str, int, str], ...] = (
    (LICENCE_NUMBER, r"gmc|npi|ahpra|imc|medical\s+council(?:\s+no)?|dea|hpcsa|mcnz|cpso|cpsbc|"
     r"mdcn|colegiad[oa]|n[º°o]\.?\s+(?:de\s+)?colegiad[oa]|c[eé]dula\s+(?:prof(?:esional)?|"
     r"de\s+especialidad)|licencia(?:\s+de\s+conducir)?|driving\s+licen[cs]e|"
     r"driver'?s\s+licen[cs]e|licen[cs]e|registration\s+(?:no|number)|(?:birth\s+|death\s+)?"
     r"certificate|certificado(?:\s+de\s+defunci[oó]n)?|acta\s+de\s+(?:nacimiento|defunci[oó]n)",
     "gmc npi ahpra imc medical dea hpcsa mcnz cpso cpsbc mdcn colegiado colegiada nº n° no "
     "cédula cedula licencia driving driver drivers licence license registration certificate "
     "birth death certificado acta", 4, _ID),
    (ACCOUNT_NUMBER, r"account|acct|cuenta(?:\s+bancaria)?|iban|clabe|sort\s+code|bsb|"
     r"card\s+ending(?:\s+in)?|tarjeta\s+acabada\s+en|har|invoice|factura",
     "account acct cuenta iban clabe sort bsb card tarjeta har invoice factura", 4, _ID),
    (HEALTH_PLAN_ID, r"member(?:ship)?(?:\s+(?:id|no|number))?|policy|subscriber(?:\s+id)?|"
     r"group\s+number|mbi|medicaid|insurance(?:\s+id)?|p[oó]liza|afiliad[oa]|"
     r"n[º°o]\.?\s+de\s+afiliad[oa]|tarjeta(?:\s+sanitaria)?|tsi|cip|muface|beneficiario|"
     r"c[oó]digo\s+de\s+beneficiario|medical\s+aid|plan\s+(?:no|number)",
     "member membership policy subscriber group mbi medicaid insurance póliza poliza afiliado "
     "afiliada nº n° no tarjeta tsi cip muface beneficiario código codigo medical plan", 4, _ID),
    (VEHICLE_ID, r"reg|rego|registration|plates?|number\s?plate|licen[cs]e\s+plate|matr[ií]cula|"
     r"placas?|veh[ií]culo|vehicle|vin|(?:n[uú]mero\s+de\s+)?bastidor",
     "reg rego registration plate plates number numberplate licence license matrícula "
     "matricula placa placas vehículo vehiculo vehicle vin bastidor número numero", 1, _PLATE),
    (DEVICE_ID, r"serial(?:\s+(?:no|number|#))?|s/n|sn|n[º°o]\.?\s+(?:de\s+)?serie|"
     r"n[uú]mero\s+de\s+serie|serie|imei|transmitter\s+id|transmisor(?:\s+\w+)?\s+id|"
     r"device\s+id|udi|mac\s+address",
     "serial s sn nº n° no número numero serie imei transmitter transmisor device udi mac",
     3, _ID),
    (RECORD_NUMBER, r"episode(?:\s+(?:no|number))?|episodio|case\s+ref|unit\s+no|"
     r"n[º°o]\.?\s+de\s+(?:historia|registro)|registro|chart|hc|mrn",
     "episode episodio case unit nº n° no registro chart hc mrn", 4, _ID),
    (SSN, r"n[º°o]\.?\s+ss|ss\s?#|ss\s+no|n[uú]mero\s+de\s+(?:la\s+)?seguridad\s+social|"
     r"(?:n[uú]mero\s+de\s+)?afiliaci[oó]n\s+(?:imss|a\s+la\s+seguridad\s+social)|"
     r"seguridad\s+social|nss",
     "nº n° no ss número numero seguridad nss afiliación afiliacion", 6, _ID),
    (NATIONAL_ID, r"ine|pasaporte|passport", "ine pasaporte passport", 6, _ID),
    (ADDRESS, r"zip(?:\s+code)?|post\s?code|eircode|c[oó]digo\s+postal",
     "zip postcode post eircode código codigo", 2, _ID),
)

_INTRO = (r"(?:[\s:#=.]*(?:(?:no|nº|n°|num|núm|number|n[uú]mero|is|es|was|era|de|del|of|the|"
          r"la|el|para|for|in|en|on)\b\.?[\s:#=]*){0,3})")
_FILLER = r"(?:(?:[A-Za-zÁÉÍÓÚáéíóúñÑ]{2,12}[\s:#]+){0,2}?)"
# A professional registration may carry a prefix ("HPCSA MP 0612345", "AHPRA MED…"), never
# words: "GMC register checked …" is a sentence about the register, not a number.
_LICENCE_FILLER = r"(?:(?-i:[A-Z]{2,4})\s+)?"
_VALUE = {
    _ID: r"(?P<v>(?=[A-Z0-9/.-]*\d)[A-Z0-9](?:[A-Z0-9/.-]*[A-Z0-9])?"
         r"(?:[ ](?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]*){0,4})(?![\w])",
    _PLATE: r"(?P<v>(?-i:[A-Z0-9]{1,8}(?:[ -][A-Z0-9]{1,5}){0,3}))(?![\w])",
}
TRIGGERS: dict[str, list[tuple[re.Pattern, str, int, str]]] = {}
for _kind, _labels, _words, _digits, _shape in _SPECS:
    _filler = _LICENCE_FILLER if _kind == LICENCE_NUMBER else _FILLER
    _rx = re.compile(r"(?i:(?:" + _labels + r")(?![\w]))" + _INTRO + _filler + _VALUE[_shape],
                     re.IGNORECASE if _shape == _ID else 0)
    for _w in _words.split():
        TRIGGERS.setdefault(_w, []).append((_rx, _kind, _digits, _shape))


def labelled_value(text: str, word: str, start: int, add) -> None:
    """At ``start`` (where trigger ``word`` begins) try each label starting with it."""
    for rx, kind, digits, shape in TRIGGERS.get(word, ()):
        m = rx.match(text, start)
        if not m:
            continue
        value = m.group("v")
        n = sum(c.isdigit() for c in value)
        if n < digits:
            continue
        if any(c.islower() for c in value) and n < 0.6 * len(value.replace(" ", "")):
            continue  # "canaryclean3f9a…", "abc12word": a word with digits, not an identifier
        if shape == _PLATE and (len(value.replace(" ", "").replace("-", "")) < 5
                                or not any(c.isalpha() for c in value)
                                and kind == VEHICLE_ID and not _VIN_LABEL.match(text, start)):
            continue
        if shape == _PLATE and _VIN_LABEL.match(text, start) and \
                len(value.replace(" ", "").replace("-", "")) != 17:
            continue
        if re.fullmatch(r"(?:19|20)\d\d", value):
            continue
        add(kind, m.start("v"), m.end("v"))
        return


_VIN_LABEL = re.compile(r"(?i)vin|n[uú]mero\s+de\s+bastidor|bastidor")

# Recognisable without a label.
_VIN = re.compile(r"(?<![\w])[A-HJ-NPR-Z0-9]{17}(?![\w])")
_VIN_VALUES = {**{str(i): i for i in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_PLATE_UK = re.compile(r"(?<![\w])[A-Z]{2}\d{2}\s?[A-Z]{3}(?![\w])")
_PLATE_ES = re.compile(r"(?<![\w])\d{4}[\s-]?[BCDFGHJKLMNPRSTVWXYZ]{3}(?![\w])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?(?![\w])")


def vin_ok(value: str) -> bool:
    """North American VIN check digit (position 9, ISO 3779 / 49 CFR 565)."""
    total = sum(_VIN_VALUES[c] * w for c, w in zip(value, _VIN_WEIGHTS, strict=True))
    r = total % 11
    return value[8] == ("X" if r == 10 else str(r))


def iban_ok(value: str) -> bool:
    """ISO 13616 IBAN: mod 97 of the rearranged number is 1."""
    v = value.replace(" ", "")
    if not 15 <= len(v) <= 34:
        return False
    return int("".join(str(int(c, 36)) for c in v[4:] + v[:4])) % 97 == 1


def unlabelled(text: str, token_start: int, token_end: int, add) -> None:
    """A letters-and-digits token (or a long digit run) that is an identifier by its shape and
    check: a VIN, an IBAN, a UK or Spanish number plate."""
    lo = max(0, token_start - 8)
    hi = min(len(text), token_end + 40)
    # Only a match that contains this token: the window also reaches the neighbours, which
    # their own tokens report (a message of 1,000 plates stays linear). A VIN or a plate
    # that contains the token starts where the token does (``token_start`` is the start of
    # a word with a digit in it, and these begin at a word boundary with no space before
    # their first digit), so they are tried there only; an IBAN may start a group earlier.
    m = _VIN.match(text, token_start, hi)
    if m and any(c.isalpha() for c in m.group()) and vin_ok(m.group()):
        add(VEHICLE_ID, m.start(), m.end())
    for m in _IBAN.finditer(text, lo, hi):
        if m.start() <= token_start < m.end() and iban_ok(m.group()):
            add(ACCOUNT_NUMBER, m.start(), m.end())
    m = _PLATE_UK.match(text, token_start, hi) or _PLATE_ES.match(text, token_start, hi)
    if m:
        add(VEHICLE_ID, m.start(), m.end())
