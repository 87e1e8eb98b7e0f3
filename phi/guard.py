"""The PHI guard: find patient identifiers in free text before it is stored.

``phi_scan(text)`` returns the spans (character offsets) of what looks like one of the HIPAA
Safe Harbor identifier kinds that text can reveal (``KINDS``): names, phone and fax numbers,
addresses and places, dates and ages over 89, e-mail, URLs, IPs, SSNs and national ids of the
nine countries served (checked by their checksum where they have one), record, health-plan,
account and licence/certificate numbers, vehicle and device identifiers, and references to
photographs or biometrics of the patient. English and Spanish are both covered; ``lang`` only
narrows the word-based date, age and street patterns.

Where the work is: this module scans numbers and keywords; ``phi.phones`` decides phone
numbers with libphonenumber, ``phi.names`` finds names from a shipped lexicon and context
cues, ``phi.labels`` reads identifiers introduced by a label (and VINs, IBANs and plates by
their shape), ``phi.ocr`` puts the text of an image through the same scan. How well it does,
per kind, on a labelled corpus: ``python -m phi.evaluate`` and docs/phi.md.

Why mostly regular expressions: this runs on every message, on the event loop, before the
message is stored. Every pattern is compiled once at import, and most run only in a small
window around a run of digits or a keyword (see "Scanning" below), so a clean 200-character
clinical message costs well under 100 µs. ``python -m bench.phi`` measures it.

``phi_guard`` is the entry point for callers that store text: it raises ``PhiDetected``
(error code ``phi_detected``) unless the author confirmed, and returns the findings so the
confirmation can be audited (phi/audit.py).

What it is not: a de-identification engine. It favours precision on clinical text (doses,
vitals, lab values, scores, durations, years and ages ≤ 89, eponyms and brand names are not
flagged), and what docs/phi.md lists per kind still gets through. It is one layer among
several (docs/security.md).

No Django imports: it is a plain library (core.errors is plain too).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from core.errors import DomainError
from phi.identifiers import (
    curp_ok,
    dni_ok,
    luhn_ok,
    medicare_au_ok,
    nhi_ok,
    nhs_number_ok,
    ppsn_ok,
    rfc_ok,
    sa_id_ok,
    sin_ok,
)
from phi.labels import TRIGGERS, labelled_value, unlabelled
from phi.names import SIGNOFF_WORDS as _SIGNOFF_WORDS
from phi.names import scan_names, scan_signoffs
from phi.phones import is_phone

# Finding kinds, stable on the wire (``details.findings[].kind`` of ``phi_detected``).
DATE = "date"
PHONE = "phone"
EMAIL = "email"
URL = "url"
IP_ADDRESS = "ip_address"
SSN = "ssn"
RECORD_NUMBER = "record_number"
NATIONAL_ID = "national_id"
ADDRESS = "address"
AGE_OVER_89 = "age_over_89"
NAME = "name"
HEALTH_PLAN_ID = "health_plan_id"
ACCOUNT_NUMBER = "account_number"
LICENCE_NUMBER = "licence_number"  # professional registrations, certificates, driving licences
VEHICLE_ID = "vehicle_id"
DEVICE_ID = "device_id"
PHOTO = "photo"  # a reference to a photograph, video or biometric of the patient
KINDS = (NAME, PHONE, ADDRESS, DATE, AGE_OVER_89, EMAIL, URL, IP_ADDRESS, SSN, NATIONAL_ID,
         RECORD_NUMBER, HEALTH_PLAN_ID, ACCOUNT_NUMBER, LICENCE_NUMBER, VEHICLE_ID, DEVICE_ID, PHOTO)
# When two findings overlap they become one span; the kind kept is the first in this order
# (the most specific evidence wins: a checksum-valid NHS number is reported as a national id,
# not as the phone number it also looks like).
_PRIORITY = {k: i for i, k in enumerate((LICENCE_NUMBER, NATIONAL_ID, SSN, ACCOUNT_NUMBER,
                                         HEALTH_PLAN_ID, VEHICLE_ID, DEVICE_ID, RECORD_NUMBER,
                                         EMAIL, URL, IP_ADDRESS, ADDRESS, PHONE, DATE,
                                         AGE_OVER_89, NAME, PHOTO))}


class Finding(NamedTuple):
    """One suspected identifier: ``text[start:end]`` (never stored or logged, only the span).
    A named tuple rather than a frozen dataclass: a long message can produce thousands of
    candidates before they merge, and a tuple is ten times cheaper to make."""

    kind: str
    start: int
    end: int

    def as_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end}


# --- Patterns ---------------------------------------------------------------------------------
# Boundaries: (?<![\w]) / (?![\w]) rather than \b where a pattern may start or end with a
# non-word character ("(", "+").

_MONTHS_EN = ("january|february|march|april|may|june|july|august|september|october|november|"
              "december")
# Abbreviations only in capitalised form ("Mar 3"), and "May" only capitalised: "may 5 mg be
# given" is a verb.
_MONTHS_EN_ABBR = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
_MONTHS_ES = ("enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|"
              "noviembre|diciembre")
_MONTHS_ES_ABBR = "ene|feb|abr|ago|sept?|oct|nov|dic"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
# What a number followed by these is: a dose, a duration, a measurement — not a day.
_UNIT = (r"(?:mg|mcg|µg|ug|g|kg|ml|mL|l|L|mmol|mEq|meq|iu|IU|ui|UI|units?|unidades|u\b|%|"
         r"mmHg|cm|mm|days?|d[ií]as?|weeks?|semanas?|hours?|horas?|h\b|hrs?|min|x|/)")

_DATE_NUMERIC = re.compile(
    r"(?<![\w/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/]|[.-]\d|\s*" + _UNIT + r")")
_DATE_ISO = re.compile(r"(?<![\w/.-])" + _YEAR + r"([/.-])(?:0?[1-9]|1[0-2])\1" + _DAY
                       + r"(?![\w/]|[.-]\d)")
_DATE_EN = re.compile(
    # March 3, March 3rd 2024, Mar 3rd, 2024
    r"\b(?:(?i:" + _MONTHS_EN.replace("|may", "") + r")|May|" + _MONTHS_EN_ABBR + r")\.?\s+"
    + _DAY + r"(?:st|nd|rd|th)?\b(?!\s*" + _UNIT + r")(?:,?\s+" + _YEAR + r"\b)?"
    # 3 March 2024, 3rd of March, the 3rd of May
    r"|\b" + _DAY + r"(?:st|nd|rd|th)?\s+(?:of\s+)?(?:(?i:" + _MONTHS_EN.replace("|may", "")
    + r")|May|" + _MONTHS_EN_ABBR + r")\b\.?(?:,?\s+" + _YEAR + r"\b)?")
_DATE_ES = re.compile(
    # 3 de marzo (de 2024), 3 marzo 2024, 1º de mayo, 3-mar-2024
    r"(?i:\b" + _DAY + r"(?:º|°|o)?(?:\s+de\s+|\s+|-)(?:" + _MONTHS_ES + r")\b"
    r"(?:(?:\s+de(?:l)?\s+|\s+|-|,\s*)" + _YEAR + r"\b)?"
    r"|\b" + _DAY + r"(?:\s+de\s+|\s+|-)(?:" + _MONTHS_ES_ABBR + r"|mar)\.?(?:\s+de\s+|\s+|-)"
    + _YEAR + r"\b"
    # marzo 3 (de 2024) — Mexican usage
    r"|\b(?:" + _MONTHS_ES + r")\s+" + _DAY + r"\b(?!\s*" + _UNIT + r")(?:,?\s+(?:de\s+)?"
    + _YEAR + r"\b)?)")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"(?i:\b(?:https?://|ftp://|www\.))[^\s<>\"'()]+")
_IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])"
                   r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4}(?![\w:])")

# A number after a phone/fax label, whatever its shape: "tel: 4567 8910", "cel. 5512345678".
_PHONE_LABELLED = re.compile(
    r"(?i:\b(?:tel(?:[eé]fono)?|phone|cell(?:phone)?|mobile|mob|m[oó]vil|celular|cel|fax|"
    r"whatsapp|contact(?:o)?)\b\.?\s*(?:n(?:o|º|°|um|úm)\.?\s*)?[:#]?\s*)"
    r"(\+?\(?\d[\d\s().-]{5,18}\d)")

_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")

# Identifiers introduced by a label. The label says what it is; the value must contain a
# digit ("MRN: pending" is not an identifier).
_LABELLED_ID = re.compile(
    r"(?i:\b(?P<label>"
    r"mrn|medical\s+record|record|chart|hospital(?:\s+number)?|hosp|patient\s+id|pt\s+id|"
    r"patient|pt|"
    r"account|acct|encounter|admission|case\s+number|"
    r"nhc|historia(?:\s+cl[ií]nica)?|h\.?\s?c|expediente|n[uú]mero\s+de\s+(?:historia|expediente)|"
    r"ssn|social\s+security|n\.?s\.?s|nuss|seguro\s+social|afiliaci[oó]n|"
    r"nhs|chi|ihi|medicare|ohip|health\s+card|nhi|ppsn?|pps|"
    r"dni|nie|nif|curp|rfc|"
    r"id|identification|identificaci[oó]n|c[eé]dula|ine|"
    r"(?!))"
    r"\b\.?\s*(?:(?:no|n|nº|n°|num|núm|number|n[uú]mero|#)\b\.?\s*|#\s*)?[:#=]?\s*)"
    r"(?P<value>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]*(?:[ ][0-9][0-9-]*){0,3})(?![\w])",
    re.IGNORECASE)
_LABEL_KIND = (
    (re.compile(r"(?i)ssn|social|n\.?s\.?s|nuss|seguro|afiliaci"), SSN),
    (re.compile(r"(?i)nhs|chi|ihi|medicare|ohip|health\s+card|nhi|pps|dni|nie|nif|curp|"
                r"rfc|id$|identifica|c[eé]dula|ine$"), NATIONAL_ID),
)
# Labels too short or too common to stand alone: only with a "no/number/#/:" after them.
_WEAK_LABELS = frozenset({"record", "chart", "hospital", "hosp", "account", "acct", "encounter",
                          "admission", "member", "policy", "id", "ine", "hc", "h.c", "h.c.",
                          "h. c.", "serial", "device", "plate", "chi", "insurance", "licence",
                          "patient", "pt",
                          "license", "licencia", "historia", "cip"})

# National identifiers validated by checksum (or, for the NI number, strict structure).
_NHS = re.compile(r"(?<![\w-])\d{3}[\s-]?\d{3}[\s-]?\d{4}(?![\w-])")
_SIN = re.compile(r"(?<![\w-])\d{3}[\s-]?\d{3}[\s-]?\d{3}(?![\w-])")
_MEDICARE_AU = re.compile(r"(?<![\w-])[2-6]\d{3}[\s-]?\d{5}[\s-]?\d(?:[\s-]?\d)?(?![\w-])")
_IHI = re.compile(r"(?<![\w-])8003[\s-]?6\d{3}[\s-]?\d{4}[\s-]?\d{4}(?![\w-])")
_NHI = re.compile(r"(?i)(?<![\w])[A-HJ-NP-Z]{3}(?:\d{4}|\d{2}[A-HJ-NP-Z]{2})(?![\w])")
_SA_ID = re.compile(r"(?<![\w])\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}[01]\d\d(?![\w])")
_PPSN = re.compile(r"(?i)(?<![\w])\d{7}[A-W][A-IW]?(?![\w])")
_DNI = re.compile(r"(?i)(?<![\w.-])(?:[XYZ]-?\d{7}|\d{8})-?[A-Z](?![\w])")
_CURP = re.compile(r"(?i)(?<![\w])[A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[A-Z\d]\d(?![\w])")
_RFC = re.compile(r"(?i)(?<![\w])[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}(?![\w])")
_UK_NINO = re.compile(r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
                      r"\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D](?![\w])")

_ADDRESS_EN = re.compile(
    r"(?<![\w/.,-])\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][a-z'-]+\.?\s+){1,3}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Boulevard|Blvd|Court|Ct|Place|Pl|Way|"
    r"Terrace|Tce|Crescent|Cres|Close|Parade|Pde|Highway|Hwy|Square|Sq|Grove|Gardens|Mews)\b\.?")
_ADDRESS_ES = re.compile(
    r"(?:\b(?i:calle|avenida|avda|paseo|plaza|pza|carrera|camino|carretera|ctra|colonia|"
    r"glorieta|ronda|traves[ií]a|boulevard|bulevar|blvd)\b\.?|\b(?i:av|col)\.|(?i:\bc/))\s*"
    r"(?:[A-ZÁÉÍÓÚÑ0-9][\wáéíóúñü'.-]*|(?:de|del|la|las|los|el|y)\b)"
    r"(?:\s+(?:[A-ZÁÉÍÓÚÑ0-9][\wáéíóúñü'.-]*|(?:de|del|la|las|los|el|y)\b)){0,5}"
    r"(?:,?\s*(?:(?i:n[º°o]\.?|núm\.?|#)\s*)?\d{1,5}[A-Za-z]?)?")
_POSTCODE = re.compile(
    # UK: SW1A 1AA, M1 1AE; Canada: K1A 0B1; ZIP+4; US state or Australian state + code
    r"(?<![\w])[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}(?![\w])"
    r"|(?<![\w])[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d(?![\w])"
    r"|(?<![\w-])\d{5}-\d{4}(?![\w-])"
    r"|\b(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY),?\s+\d{5}(?![\w-])"
    r"|\b(?:NSW|VIC|QLD|TAS|ACT),?\s+\d{4}(?![\w])"
    r"|(?i:\bc\.?\s?p\.?)\s*:?\s*\d{5}(?![\w])")

_AGE_OLD = r"(?:9\d|1[0-2]\d)"
# Words that say the age without the number.
_AGE_WORDS = re.compile(r"(?i)\b(?:(?:late|mid|early)\s+)?nineties\b|\bnonagenarian|"
                        r"\bcentenarian|\bnonagenari[oa]s?\b|\bcentenari[oa]s?\b|"
                        r"\bin\s+(?:his|her|their)\s+(?:late\s+)?90s\b|\bnoventa\s+y\s+tantos\b")
_AGE_EN = re.compile(
    r"(?i:\b" + _AGE_OLD + r"(?:\s*|-)(?:years?|yrs?|y)(?:\s*|-)old\b"
    r"|\b" + _AGE_OLD + r"\s+(?:years?|yrs?)\s+of\s+age\b"
    r"|\b" + _AGE_OLD + r"\s*(?:yo|y/o|y\.o\.?|yr-old)(?!\w)"
    r"|\b(?:aged?|age:)\s*:?\s*" + _AGE_OLD + r"\b(?!\s*" + _UNIT + r"))"
    # "93M", "F 96", "pt is 97", "Ethel, 95,"
    r"|\b" + _AGE_OLD + r"\s?[MF]\b|\b[MF]\s" + _AGE_OLD + r"\b(?!\s*" + _UNIT + r")"
    r"|(?i:\b(?:pt|patient|she|he|mum|mom|dad|paciente|él|ella)(?:\s+(?:is|es|tiene)|'s)\s+)"
    + _AGE_OLD + r"\b(?!\s*" + _UNIT + r")"
    r"|(?<=[A-Za-z]),\s" + _AGE_OLD + r"(?=,)")
_AGE_ES = re.compile(
    r"(?i:\b" + _AGE_OLD + r"\s*(?:años|anos|a\.)(?:\s+de\s+edad)?(?!\w)"
    r"|\bedad\s*:?\s*(?:de\s+)?" + _AGE_OLD + r"\b(?!\s*" + _UNIT + r"))")

_NAME_CHARS = r"[A-ZÁÉÍÓÚÑ][a-záéíóúñü'-]+"
_NAME_TITLE = re.compile(
    # Titles are matched case-sensitively: "MS" (multiple sclerosis) is not "Ms".
    r"\b(?:Mr|Mrs|Ms|Mx|Miss|Sr|Sra|Srta|Dña|Doña|Don)\.?\s+" + _NAME_CHARS
    + r"(?:\s+(?:(?:de|del|de\s+la|y)\s+)?" + _NAME_CHARS + r"){0,3}")
# "name:" needs its colon ("brand name Lasix" is a drug); "named", "se llama" do not.
_NAME_LABEL = re.compile(
    r"(?i:(?:name|surname|nombre(?:\s+(?:del\s+paciente|completo))?|apellidos?)\s*:\s*|"
    r"(?:named|llamad[oa]|llama)\s+)(?P<name>" + _NAME_CHARS + r"(?:\s+(?:(?:de|del|de\s+la|y)\s+)?"
    + _NAME_CHARS + r"){0,3})")
_YEAR_ONLY = re.compile(_YEAR)
# A holiday with a year is a full date ("Christmas Day 2023").
_HOLIDAY = re.compile(r"(?i)\b(?:christmas(?:\s+day|\s+eve)?|boxing\s+day|new\s+year'?s\s+(?:day|eve)|"
                      r"navidad|nochebuena|nochevieja|d[ií]a\s+de\s+a[ñn]o\s+nuevo|a[ñn]o\s+nuevo)"
                      r"(?:\s+(?:de\s+|del\s+)?" + _YEAR + r")\b")
# A photograph, video or biometric of the patient (Safe Harbor: full-face photographs and
# comparable images, biometric identifiers). A photo of an ECG or an X-ray is not one.
_PHOTO_WORDS = ("photo", "picture", "pic", "image", "video", "vídeo", "selfie", "foto", "imagen",
                "fingerprint", "huella", "retina", "iris scan", "voiceprint", "facial recog",
                "reconocimiento facial", "full-face")
_PHOTO = re.compile(
    r"(?i)\b(?:selfies?|fingerprints?|huellas?\s+dactilar(?:es)?|retina(?:l)?\s+scan|iris\s+scan|"
    r"voiceprint|facial\s+recognition|reconocimiento\s+facial|full[- ]face\s+(?:photo|picture|"
    r"image)s?)\b"
    r"|\b(?:photo(?:graph)?s?|pictures?|pics?|images?|videos?|vídeos?|fotos?|fotograf[ií]as?|"
    r"im[aá]gen(?:es)?)\b[^.;\n]{0,40}?\b(?:face|facial|cara|rostro|patient|paciente|tattoo|"
    r"tatuaje|wristband|pulsera|(?:of|with)\s+(?:him|her)\b(?![ \t]+(?:ecg|cxr|x-?ray|ct|mri|"
    r"scan|rash|wound|ulcer|leg|arm|foot|hand|chest|skin|knee|hip|back)))")
# A town or neighbourhood after "lives in", "vive en", "natural de", … (Safe Harbor: any
# geographic subdivision smaller than a state).
_PLACE_CUES = ("lives", "living", "from", "vive", "reside", "natural", "es de", "procedente",
               "vecin", "home is", "based in")
_PLACE = re.compile(
    r"(?:\b(?i:lives|living|resides|resident)(?i:\s+alone|\s+with\s+(?:her|his|their|a)\s+\w+)?"
    r"\s+(?:in|at)|\b(?i:home\s+is\s+in|based\s+in)|"
    r"\b(?i:originally|comes\s+in|comes|is|moved|transferred\s+in)\s+from|"
    r"\b(?i:vive|reside|residente|vecin[oa])(?i:\s+sol[oa]|\s+con\s+(?:su|sus|el|la)\s+\w+)?"
    r"\s+en|"
    r"\b(?i:natural|procedente|originari[oa]|vecin[oa])\s+de|\b(?i:es)\s+de)\s+"
    r"(?i:(?:el\s+barrio|la\s+colonia|el\s+pueblo|la\s+ciudad|la\s+zona|the\s+town|the\s+village)"
    r"\s+(?:de\s+|of\s+)?)?"
    r"(?P<place>[A-ZÁÉÍÓÚÑ][\wáéíóúñü'-]+(?:\s+(?:(?:de|del|de\s+la|la)\s+)?[A-ZÁÉÍÓÚÑ][\wáéíóúñü'-]+)"
    r"{0,3})")
_NOT_PLACES = frozenset({"a", "an", "the", "una", "un", "la", "el", "casa", "home", "ward",
                         "icu", "uci", "digestivo", "cardiología", "cardiologia", "urgencias",
                         "medicina", "cirugía", "cirugia", "neurología", "neurologia", "monday",
                         "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                         "lunes", "martes", "miércoles", "jueves", "viernes", "sábado",
                         "domingo", "hospital", "clínica", "clinica", "cardiology", "a&e",
                         "ed", "theatre", "quirófano", "planta", "residencia"})


# --- Scanning helpers ------------------------------------------------------------------------

def _digits(s: str) -> str:
    return "".join(filter(str.isdigit, s))


# --- Scanning ---------------------------------------------------------------------------------
# Running ~35 patterns over every message would cost about a millisecond on the event loop.
# So most patterns run only in a small window around something that can start them: a run
# of digits (found in one pass) or a keyword (found in one pass over the lower-cased text). A
# clean message with short numbers and no keyword costs those two passes and little else.

# Digits joined by single separators: "03/04/2024", "(555) 123-4567", "943 476 5919".
_RUN = re.compile(r"\d+(?:[ .()/\-]{1,2}\d+)*")
_DROP_SEPARATORS = str.maketrans("", "", " .()/-")
_POSTCODE_UK = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}(?![\w])")
_POSTCODE_CA = re.compile(r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d(?![\w])")

_MONTH_WORDS_EN = frozenset(_MONTHS_EN.split("|")) | frozenset(
    w.lower() for w in (_MONTHS_EN_ABBR + "|sep|sept").split("|"))
_MONTH_WORDS_ES = frozenset(_MONTHS_ES.split("|")) | frozenset(
    (_MONTHS_ES_ABBR + "|sep|sept|mar").split("|"))
_MONTH_WORDS = _MONTH_WORDS_EN | _MONTH_WORDS_ES
_TITLE_WORDS = frozenset({"mr", "mrs", "ms", "mx", "miss", "sr", "sra", "srta", "dña", "doña",
                          "don"})
_NAME_LABEL_WORDS = frozenset({"name", "surname", "nombre", "apellido", "apellidos", "named",
                               "llamado", "llamada", "llama"})
_ID_LABEL_WORDS = frozenset({
    "mrn", "medical", "record", "chart", "hospital", "hosp", "patient", "pt", "account", "acct",
    "encounter", "admission", "case", "nhc", "historia", "hc", "expediente", "número", "numero",
    "ssn", "social", "nss", "nuss", "seguro", "afiliación", "afiliacion", "nhs", "chi", "ihi",
    "medicare", "medicaid", "ohip", "health", "nhi", "ppsn", "pps", "insurance", "member",
    "policy", "beneficiary", "póliza", "poliza", "cip", "tarjeta", "dni", "nie", "nif", "curp",
    "rfc", "passport", "pasaporte", "licence", "license", "licencia", "id", "identification",
    "identificación", "identificacion", "cédula", "cedula", "ine", "serial", "device", "vin",
    "plate", "matrícula", "matricula"})
_PHONE_LABEL_WORDS = frozenset({"tel", "teléfono", "telefono", "phone", "cell", "cellphone",
                                "mobile", "mob", "móvil", "movil", "celular", "cel", "fax",
                                "whatsapp", "contact", "contacto"})
_STREET_EN_WORDS = frozenset({"street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive",
                              "boulevard", "blvd", "court", "ct", "place", "pl", "way", "terrace",
                              "tce", "crescent", "cres", "close", "parade", "pde", "highway",
                              "hwy", "square", "sq", "grove", "gardens", "mews"})
_STREET_ES_WORDS = frozenset({"calle", "avenida", "avda", "av", "paseo", "plaza", "pza", "carrera",
                              "camino", "carretera", "ctra", "colonia", "col", "glorieta", "ronda",
                              "travesía", "travesia", "boulevard", "bulevar", "blvd"})
_KEYWORDS = (frozenset(TRIGGERS) | _MONTH_WORDS | _TITLE_WORDS | _NAME_LABEL_WORDS | _ID_LABEL_WORDS
             | _PHONE_LABEL_WORDS | _STREET_EN_WORDS | _STREET_ES_WORDS)
# Lower-cased text → words: every ASCII byte that is not a letter becomes a space (one C pass;
# non-ASCII bytes, the accented letters of "teléfono", stay).
_ASCII_NOT_LETTERS = bytes.maketrans(bytes(range(128)), bytes(
    c if 65 <= c <= 90 or 97 <= c <= 122 else 32 for c in range(128)))
def _keyword_positions(low: str, word: str):
    """(start, end) of each occurrence of ``word`` as a whole word (str.find: C speed)."""
    size = len(word)
    at = low.find(word)
    while at >= 0:
        end = at + size
        if (at == 0 or not low[at - 1].isalpha()) and (end == len(low) or not low[end].isalpha()):
            yield at, end
        at = low.find(word, at + 1)


def _date_numeric_ok(m: re.Match) -> bool:
    a, b, year = int(m.group(1)), int(m.group(3)), m.group(4)
    if not (1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)):
        return False
    # A two-digit "year" after dots is more often a lab or version triple ("7.4.12").
    return not (len(year) == 2 and m.group(2) == ".")


# How far a window may grow to reach a word boundary. The longest identifier (a CURP) has 18
# characters; the bound keeps a pathological "a1a1a1…" message linear instead of quadratic.
_MAX_REACH = 24


def _left(text: str, i: int) -> int:
    """``i`` moved left to the start of the word it is in (windows never cut a token)."""
    i = max(i, 0)
    stop = max(i - _MAX_REACH, 0)
    while i > stop and text[i - 1].isalnum():
        i -= 1
    return i


def _right(text: str, i: int) -> int:
    n = len(text)
    i = min(i, n)
    stop = min(i + _MAX_REACH, n)
    while i < stop and text[i].isalnum():
        i += 1
    return i


def phi_scan(text: str, *, lang: str | None = None) -> list[Finding]:
    """Spans of suspected patient identifiers in ``text``, sorted, overlaps merged.

    ``lang`` ("en", "es" or None for both) selects the word-based patterns (written dates,
    ages, street words); numbers, e-mails, URLs, identifiers and names are always checked.
    """
    found: list[Finding] = []
    add = found.append
    english = lang != "es"
    spanish = lang != "en"

    if "@" in text:
        for m in _EMAIL.finditer(text):
            add(Finding(EMAIL, m.start(), m.end()))
    if "://" in text or "www." in text or "WWW." in text:
        for m in _URL.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] in ".,;:!?":
                end -= 1
            add(Finding(URL, m.start(), end))
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            add(Finding(IP_ADDRESS, m.start(), m.end()))

    longest = _scan_numbers(text, add, english, spanish)
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two; keep offsets aligned
        low = "".join(c.lower()[0] for c in text)
    hits = _KEYWORDS.intersection(
        low.encode().translate(_ASCII_NOT_LETTERS).decode().split())
    for word in hits:
        for start, end in _keyword_positions(low, word):
            _keyword(text, word, start, end, longest, add, english, spanish)
    if any(w in low for w in ("ninet", "nonagenar", "centenar", "90s", "noventa")):
        for m in _AGE_WORDS.finditer(text):
            add(Finding(AGE_OVER_89, m.start(), m.end()))
    if any(w in low for w in ("christmas", "navidad", "nochebuena", "nochevieja", "new year",
                              "boxing day", "año nuevo")):
        for m in _HOLIDAY.finditer(text):
            add(Finding(DATE, m.start(), m.end()))
    if any(w in low for w in _PHOTO_WORDS):
        for m in _PHOTO.finditer(text):  # the span is the word that names the picture
            add(Finding(PHOTO, m.start(), _right(text, m.start() + 1)))
    if any(w in low for w in _PLACE_CUES):
        for m in _PLACE.finditer(text):
            if m.group("place").split()[0].lower() not in _NOT_PLACES:
                add(Finding(ADDRESS, m.start("place"), m.end("place")))
    scan_names(text, lambda s, e: add(Finding(NAME, s, e)))
    if any(w in low for w in _SIGNOFF_WORDS):
        scan_signoffs(text, lambda s, e: add(Finding(NAME, s, e)))
    if spanish and "c/" in low:
        at = low.find("c/")
        while at >= 0:
            m = _ADDRESS_ES.match(text, at)
            if m and _spanish_address_ok(text, m):
                add(Finding(ADDRESS, m.start(), m.end()))
            at = low.find("c/", at + 2)
    return _merge(found) if found else found


def _scan_numbers(text: str, add, english: bool, spanish: bool) -> int:
    """Every pattern that starts at or around a run of digits; returns the most digits in
    one run (keyword-introduced identifiers need at least four)."""
    longest = 0
    size = len(text)
    token_end = 0  # runs inside a word already looked at are not looked at again
    parses = _PHONE_PARSES
    for run in _RUN.finditer(text):
        s = run.start()
        e = run.end()
        if e - s <= 3:
            if e - s > longest:
                longest = e - s
            # The common case (a dose, a vital, a count): only a digit inside a word or a
            # possible age over 89 needs a closer look.
            if (s and text[s - 1].isalpha()) or (e < size and text[e].isalpha()):
                if s >= token_end:
                    token_end = _alphanumeric(text, s, e, add)
            if e - s >= 2 and (text[s] == "9" or (e - s == 3 and text[s] == "1"
                                                  and text[s + 1] in "012")):
                _age(text, s, e, add, english, spanish)
            continue
        r = run.group()
        pure = r.isdigit()
        n = len(r) if pure else len(r.translate(_DROP_SEPARATORS))
        if n > longest:
            longest = n
        if n >= 6:
            parses -= _long_number(text, s, e, n, add, parses > 0)
        if not pure and r.count(".") >= 3:
            for m in _IPV4.finditer(text, s, _right(text, e)):
                add(Finding(IP_ADDRESS, m.start(), m.end()))
        if ((s and text[s - 1].isalpha()) or (e < size and text[e].isalpha())) and s >= token_end:
            token_end = _alphanumeric(text, s, e, add)
        # Day and month only, after a word that introduces a date: "el 11/09", "on 3/4".
        if not pure and r.count("/") == 1 and _DAY_MONTH.fullmatch(r) and \
                _DATE_INTRO.search(text, max(0, s - 12), s):
            a, b = (int(x) for x in r.split("/"))
            if 1 <= a <= 31 and 1 <= b <= 12 or 1 <= a <= 12 and 1 <= b <= 31:
                add(Finding(DATE, s, e))
        # A numeric date has two of the same separator ("3/4/24"); "128/82" and "0.04" do not.
        if not pure and (r.count("/") > 1 or r.count("-") > 1 or r.count(".") > 1):
            lo, hi = _left(text, s - 5), _right(text, e + 1)
            for m in _DATE_NUMERIC.finditer(text, lo, hi):
                if _date_numeric_ok(m):
                    add(Finding(DATE, m.start(), m.end()))
            for m in _DATE_ISO.finditer(text, lo, hi):
                add(Finding(DATE, m.start(), m.end()))
        elif pure and n == 4 and text[e:e + 1] in (" ", "-") and text[e + 1:e + 2].isupper():
            unlabelled(text, s, e, lambda k, s, e: add(Finding(k, s, e)))  # "1234 BCD"
        elif pure and n in (4, 5) and s >= 3:
            for m in _POSTCODE.finditer(text, _left(text, s - 8), _right(text, e)):
                add(Finding(ADDRESS, m.start(), m.end()))
    return longest


_DAY_MONTH = re.compile(r"\d{1,2}/\d{1,2}")
_DATE_INTRO = re.compile(r"(?i)\b(?:el|on|since|desde|del|seen|visto|vista|from|until|hasta|"
                         r"dated|fecha:?)\s+$")


def _age(text: str, s: int, e: int, add, english: bool, spanish: bool) -> None:
    """A number 90–129: an age when a year word, an age label, a sex or "pt is" is beside it."""
    lo, hi = _left(text, s - 16), _right(text, e + 20)
    for pattern, on in ((_AGE_EN, english), (_AGE_ES, spanish)):
        if on:
            for m in pattern.finditer(text, lo, hi):
                add(Finding(AGE_OVER_89, m.start(), m.end()))


_ASCII_LETTER = re.compile(r"[A-Za-z]")

# libphonenumber parses per message; past them a phone-shaped number counts by its layout.
_PHONE_PARSES = 32


def _long_number(text: str, s: int, e: int, n: int, add, parse: bool) -> int:
    """Six or more digits: phones, SSN, ZIP+4 and the numeric national identifiers. Returns
    how many libphonenumber parses it spent (0 or 1)."""
    spent = 0
    lo, hi = _left(text, s - 4), _right(text, e + 3)
    checks: list[tuple[re.Pattern, str, object]] = []
    glued = (s and text[s - 1].isalpha()) or (e < len(text) and text[e].isalpha())
    if n >= 8 and not glued:  # "r695310752" is a token, not a phone number
        start = s - 1 if s and text[s - 1] in "+(" else s
        spent = 1 if parse else 0
        if is_phone(text[start:e], text[e:e + 12], parse=parse):
            add(Finding(PHONE, start, e))
    # A NI number, a PPSN and a DNI carry letters: with none in the window, none is there.
    # (The cheap gates below only skip patterns that cannot match; the findings are the same.)
    lettered = _ASCII_LETTER.search(text, lo, hi) is not None
    if n >= 6 and lettered:
        checks.append((_UK_NINO, NATIONAL_ID, None))
    if n >= 7 and lettered:
        checks += [(_PPSN, NATIONAL_ID, ppsn_ok), (_DNI, NATIONAL_ID, dni_ok)]
    if n >= 9:
        # An SSN is written with hyphens; every postcode form has a letter or a hyphen.
        dashed = text.find("-", lo, hi) >= 0
        if dashed:
            checks.append((_SSN, SSN, None))
        checks.append((_SIN, NATIONAL_ID, _sin_in_context))
        if lettered or dashed:
            checks.append((_POSTCODE, ADDRESS, None))
    if n >= 10:
        checks += [(_NHS, NATIONAL_ID, lambda v: nhs_number_ok(_digits(v))),
                   (_MEDICARE_AU, NATIONAL_ID, lambda v: medicare_au_ok(_digits(v)))]
    if n >= 13:
        checks.append((_SA_ID, NATIONAL_ID, sa_id_ok))
        checks.append((_CARD, ACCOUNT_NUMBER, _card_ok))
    if n >= 16:
        checks.append((_IHI, NATIONAL_ID, lambda v: luhn_ok(_digits(v))))
    for pattern, kind, valid in checks:
        for m in pattern.finditer(text, lo, hi):
            if valid is _sin_in_context:
                if not _sin_in_context(text, m):
                    continue
            elif valid is not None and not valid(m.group(0)):
                continue
            add(Finding(kind, m.start(), m.end()))
    return spent


# A payment card number: 13–19 digits starting 2–6, bare or in groups, Luhn-valid (ISO/IEC 7812).
# (15 digits only for American Express, 34/37: a 15-digit IMEI starting 35 passes Luhn too.)
_CARD = re.compile(r"(?<![\w-])(?:[2-6]\d{3}(?:[ -]?\d{4}){3}(?:\d{1,3})?"
                   r"|3[47]\d{2}[ -]?\d{6}[ -]?\d{5})(?![\w-])")


def _card_ok(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _sin_in_context(text: str, m: re.Match) -> bool:
    # Nine digits starting 6, 7 or 9 are also Spanish phone numbers (and flagged as such by
    # the phone shapes); one in ten passes Luhn by chance, so those are left to the phones.
    digits = _digits(m.group(0))
    return digits[0] not in "679" and sin_ok(digits)


def _alphanumeric(text: str, s: int, e: int, add) -> int:
    """Digits inside a word: the letter-and-digit identifiers and UK/Canadian postcodes.
    Returns where the word ends."""
    lo, hi = _left(text, s), _right(text, e)
    size = hi - lo
    token = text[lo:hi]
    if size >= 4 and any(c.isupper() for c in token) and sum(c.isdigit() for c in token) >= 2:
        unlabelled(text, lo, hi, lambda k, s, e: add(Finding(k, s, e)))
    checks: tuple = ()
    if size == 7:
        checks = ((_NHI, nhi_ok),)
    elif size in (8, 9):
        checks = ((_PPSN, ppsn_ok), (_DNI, dni_ok))
    elif size in (12, 13):
        checks = ((_RFC, rfc_ok),)
    elif size == 18:
        checks = ((_CURP, curp_ok),)
    for pattern, valid in checks:
        if pattern.fullmatch(token) and valid(token):
            add(Finding(NATIONAL_ID, lo, hi))
            return hi
    if 2 <= size <= 4 and hi < len(text) and text[hi] == " ":
        m = _POSTCODE_UK.match(text, lo) or (size == 3 and _POSTCODE_CA.match(text, lo))
        if m:
            add(Finding(ADDRESS, m.start(), m.end()))
    return hi


def _keyword(text: str, word: str, start: int, end: int, longest: int, add, english: bool,
             spanish: bool) -> None:
    """Patterns introduced by a word: written dates, titles and labels, street names."""
    if longest and word in TRIGGERS:
        labelled_value(text, word, start, lambda k, s, e: add(Finding(k, s, e)))
    if word in _MONTH_WORDS:
        if longest:
            lo, hi = _left(text, start - 12), _right(text, end + 16)
            for pattern, on in ((_DATE_EN, english and word in _MONTH_WORDS_EN),
                                (_DATE_ES, spanish and word in _MONTH_WORDS_ES)):
                if on:
                    for m in pattern.finditer(text, lo, hi):
                        # Only the date this month word is part of (the window also reaches
                        # its neighbours, which their own month words report).
                        if m.start() > start:
                            break
                        if start < m.end() and not _names_an_institution(text, m.start()):
                            add(Finding(DATE, m.start(), m.end()))
        if word not in ("may", "mar"):
            return
    if word in _TITLE_WORDS:
        m = _NAME_TITLE.match(text, start)
        if m:
            add(Finding(NAME, m.start(), m.end()))
        if word != "don":
            return
    if word in _NAME_LABEL_WORDS:
        m = _NAME_LABEL.match(text, start)
        if m:
            add(Finding(NAME, m.start("name"), m.end("name")))
        return
    if word in _ID_LABEL_WORDS and longest >= 4:
        m = _LABELLED_ID.match(text, start)
        if m:
            _labelled(text, m, add)
    if word in _PHONE_LABEL_WORDS and longest >= 7:
        m = _PHONE_LABELLED.match(text, start)
        if m and 7 <= len(_digits(m.group(1))) <= 15:
            add(Finding(PHONE, m.start(1), m.end(1)))
    if english and word in _STREET_EN_WORDS and longest:
        for m in _ADDRESS_EN.finditer(text, _left(text, start - 45), end + 1):
            add(Finding(ADDRESS, m.start(), m.end()))
    if spanish and word in _STREET_ES_WORDS:
        m = _ADDRESS_ES.match(text, start)
        if m and _spanish_address_ok(text, m):
            add(Finding(ADDRESS, m.start(), m.end()))


# A date that names a hospital or a street: "Hospital 12 de Octubre", "Hospital Universitario
# 20 de Noviembre", "Avenida 5 de Mayo".
_INSTITUTION_BEFORE = re.compile(r"(?i)\b(?:hospital|hosp|cl[ií]nica|centro|sanatorio|instituto|"
                                 r"avenida|av|calle|plaza|colegio)\.?(?:\s+[A-ZÁÉÍÓÚ][\wáéíóú]+){0,2}"
                                 r"\s+$")


_INSTITUTION_HINTS = ("hosp", "clínica", "clinica", "centro", "sanatorio", "instituto", "av",
                      "calle", "plaza", "colegio")
# Any of the hints anywhere in the window, lower-cased (one C pass instead of eleven ``in``).
_INSTITUTION_HINT = re.compile("|".join(map(re.escape, _INSTITUTION_HINTS)))


def _names_an_institution(text: str, start: int) -> bool:
    window = text[max(0, start - 30):start]
    return _INSTITUTION_HINT.search(window.lower()) is not None and \
        bool(_INSTITUTION_BEFORE.search(window))


def _spanish_address_ok(text: str, m: re.Match) -> bool:
    """A street word needs a proper name or a number after it: "en situación de calle" and
    "la avenida principal" are not addresses."""
    matched = m.group(0)
    rest = matched.split(None, 1)[1] if " " in matched.strip() else matched[2:]
    if _DOSING_INTERVAL.match(text, m.start()):
        return False  # "c/8h", "c/12 h", "c/24 horas": every 8 hours
    return any(c.isupper() or c.isdigit() for c in rest)


_DOSING_INTERVAL = re.compile(r"(?i)c/\s*\d+(?:[.,]\d+)?\s*(?:h|hs|hrs?|horas?|d|d[ií]as?|sem|semanas?|"
                              r"min|meses?)\b")


def _labelled(text: str, m: re.Match, add) -> None:
    label = re.sub(r"\s+", " ", m.group("label").lower())
    introducer = text[m.end("label"):m.start("value")]
    if label in _WEAK_LABELS and not _INTRODUCER.search(introducer):
        return
    value = m.group("value")
    if len(_digits(value)) < 4 or _YEAR_ONLY.fullmatch(value):
        return
    kind = RECORD_NUMBER
    for pattern, k in _LABEL_KIND:
        if pattern.match(label):
            kind = k
            break
    add(Finding(kind, m.start("value"), m.end("value")))


_INTRODUCER = re.compile(r"(?i)no|n[º°]|num|núm|number|n[uú]mero|#|:")


def _merge(found: list[Finding]) -> list[Finding]:
    """Sort by position; overlapping findings become one span of the highest-priority kind."""
    found.sort(key=lambda f: (f.start, -f.end))
    out: list[Finding] = [found[0]]
    for f in found[1:]:
        last = out[-1]
        if f.start < last.end:
            kind = f.kind if _PRIORITY[f.kind] < _PRIORITY[last.kind] else last.kind
            out[-1] = Finding(kind, last.start, max(last.end, f.end))
        else:
            out.append(f)
    return out


class PhiDetected(DomainError):
    """The text looks like it carries patient identifiers; ``details`` has the spans."""

    code = "phi_detected"
    http_status = 422


def phi_guard(text: str, *, field: str, confirmed: bool = False,
              lang: str | None = None) -> list[Finding]:
    """Scan ``text`` before it is stored. Clean text returns ``[]``; text with findings is
    refused unless the author ``confirmed`` that they are not patient data, in which case the
    findings are returned for the caller to record in the audit log (``phi_audit``).

    Raises:
        PhiDetected: findings and no confirmation. ``details`` is ``{"field", "findings":
            [{"kind", "start", "end"}]}``: spans only, never the matched text.
    """
    findings = phi_scan(text, lang=lang if lang in ("en", "es") else None)
    if findings and not confirmed:
        kinds = ", ".join(k.replace("_", " ") for k in phi_kinds(findings))
        raise PhiDetected(
            f"This looks like it contains patient identifiers ({kinds}). Remove them, or send "
            "it again with confirm_phi if they are not patient data.",
            details={"field": field, "findings": [f.as_dict() for f in findings]})
    return findings


def phi_kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds of ``findings``, sorted (what the audit log records)."""
    return sorted({f.kind for f in findings})
