"""Every Safe Harbor kind the guard reports, in English and Spanish, positives and negatives.

Two layers:

- explicit examples per kind and language (the identifier and the clinical text most likely
  to be mistaken for it), so a regression names the kind it broke;
- the labelled corpus (phi/data/corpus.jsonl) through ``phi.evaluate``: each kind keeps the
  recall it reaches today within a small margin, and each language keeps its false-positive
  rate under the target. The corpus figures are in docs/phi.md; ``python -m phi.evaluate``
  prints them.

Pure functions: no database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from phi import guard as phi
from phi.evaluate import SPLITS, evaluate, load, render
from phi.guard import phi_kinds, phi_scan
from phi.labels import iban_ok, vin_ok
from phi.phones import is_phone

# (kind, language, text with that kind, clinical text without any identifier)
EXAMPLES = [
    (phi.NAME, "en", "Her daughter Rebecca wants to discuss DNACPR",
     "Known Parkinson's disease on Sinemet, Addison's excluded"),
    (phi.NAME, "en", "pt john hartley, 68, NSTEMI", "pt is for full escalation"),
    (phi.NAME, "es", "la madre de Sofía dice que no ha orinado", "enfermedad de Crohn con brote"),
    (phi.NAME, "es", "Un saludo, Dra. Marta Iglesias", "la Dra. de Digestivo dice que no sangra"),
    (phi.PHONE, "en", "call the ward on 0161 276 1234", "the 942.195372 figure in the pump log"),
    (phi.PHONE, "es", "llamar a la familia al 612 345 678",
     "penicilina benzatina 2.400.000 UI im"),
    (phi.ADDRESS, "en", "Lives at 14 Elm Road with her sister", "GCS E2V3M5 on arrival"),
    (phi.ADDRESS, "es", "vive en Móstoles, sola", "amoxicilina-clavulánico 875/125 c/8h"),
    (phi.DATE, "en", "admitted on 4 March with a fall", "follow the 2023 ESC guidelines"),
    (phi.DATE, "es", "ingresó el 3 de marzo por disnea", "Hospital 12 de Octubre, trasplante"),
    (phi.AGE_OVER_89, "en", "94yo F, fall at home", "89 yo man with CAP, SpO2 94%"),
    (phi.AGE_OVER_89, "es", "mujer de 94 años, caída", "saturación 92 % aa, peso 95 kg"),
    (phi.EMAIL, "en", "Send it to j.barnes@nhs.net", "troponin 14 then 62 ng/L"),
    (phi.EMAIL, "es", "correo: dra.sanchez@imss.gob.mx", "PCR 15,4 mg/dl, PCT 2,3"),
    (phi.URL, "en", "video: https://youtu.be/dQw4w9WgXcQ", "version 3.2.1 of the bundle"),
    (phi.URL, "es", "perfil www.instagram.com/pepita_lopez_88", "versión 3.2.1 del protocolo"),
    (phi.IP_ADDRESS, "en", "uploads from 82.132.45.201", "pH 7.35 7.40 7.45, pCO2 40"),
    (phi.IP_ADDRESS, "es", "acceso desde 192.168.10.15", "FEVI 35 %, TAPSE 14 mm"),
    (phi.SSN, "en", "SSN 219-09-9999 for the form", "10-12 days of antibiotics"),
    (phi.SSN, "es", "NSS 12345678901 del IMSS", "CIE-10 J18.9 neumonía"),
    (phi.NATIONAL_ID, "en", "NHS number 943 476 5919", "lot 9434765918 of the vaccine"),
    (phi.NATIONAL_ID, "es", "DNI 12345678Z", "ratio 12345678A"),
    (phi.RECORD_NUMBER, "en", "MRN 00456123, please review", "bed 12, room 5"),
    (phi.RECORD_NUMBER, "es", "NHC 7788990", "cama 14, habitación 312"),
    (phi.HEALTH_PLAN_ID, "en", "Aetna member ID W219834756", "MUST score 2, dietitian"),
    (phi.HEALTH_PLAN_ID, "es", "póliza de Mapfre 0012-4455-99", "dosis de 3/4 de comprimido"),
    (phi.ACCOUNT_NUMBER, "en", "sort code 20-00-00 account 55779911",
     "we should account for the fluid from the last 24 h"),
    (phi.ACCOUNT_NUMBER, "es", "CLABE 002180700123456789", "cuenta con apoyo familiar"),
    (phi.LICENCE_NUMBER, "en", "Dr. A. Hughes, GMC 7012345, FY2", "licence to prescribe pending"),
    (phi.LICENCE_NUMBER, "es", "colegiado 28/12345", "Glasgow 3+4+5, pupilas isocóricas"),
    (phi.VEHICLE_ID, "en", "reg AB12 CDE, police informed", "VIN 2 on vulval biopsy"),
    (phi.VEHICLE_ID, "es", "matrícula del coche 1234 BCD", "placa de tórax con derrame"),
    (phi.DEVICE_ID, "en", "pacemaker serial PJN123456H", "serial troponins 14 then 62"),
    (phi.DEVICE_ID, "es", "número de serie del marcapasos PJN123456H",
     "serie de radiografías sin cambios"),
    (phi.PHOTO, "en", "photo of her face attached", "photo of the ECG attached"),
    (phi.PHOTO, "es", "foto de la cara del paciente", "foto de la herida quirúrgica adjunta"),
]


@pytest.mark.parametrize(("kind", "lang", "positive", "negative"), EXAMPLES,
                         ids=[f"{k}-{lang}-{i}" for i, (k, lang, _, _) in enumerate(EXAMPLES)])
def test_each_kind_is_found_and_its_look_alike_is_not(kind, lang, positive, negative):
    assert kind in phi_kinds(phi_scan(positive, lang=lang)), phi_scan(positive, lang=lang)
    assert phi_scan(negative, lang=lang) == []


def test_every_kind_has_an_example_in_each_language():
    assert {(k, lang) for k, lang, _, _ in EXAMPLES} == {
        (k, lang) for k in phi.KINDS for lang in ("en", "es")}


# --- the corpus ----------------------------------------------------------------------------

# What the guard reaches on the corpus today, less a margin for a snippet or two: a change
# that loses a kind fails here with the kind's name.
RECALL_FLOOR = 0.9
FPR_CEILING = 0.03


def test_the_corpus_has_every_kind_fifteen_times_in_both_languages():
    rows = load()
    assert len(rows) >= 400
    for kind in phi.KINDS:
        assert sum(kind in r["kinds"] for r in rows) >= 15, kind
    for lang in ("en", "es"):
        mine = [r for r in rows if r["lang"] == lang]
        share = sum(bool(r["kinds"]) for r in mine) / len(mine)
        assert 0.4 <= share <= 0.65, (lang, share)


@pytest.mark.parametrize("split", SPLITS)
def test_recall_per_kind_and_false_positives_per_language(split):
    report = evaluate(load(split))
    low = {k: round(c.recall, 3) for k, c in report.per_kind.items()
           if c.tp + c.fn and c.recall < RECALL_FLOOR}
    assert low == {}, f"kinds under {RECALL_FLOOR} recall on {split}: {low}"
    for lang, (flagged, total) in report.negatives.items():
        assert flagged / total <= FPR_CEILING, (split, lang, flagged, total)
    for lang, (caught, total) in report.positives.items():
        assert caught / total >= 0.97, (split, lang, caught, total)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_kind_is_labelled_and_found_in_each_language(lang):
    """Per kind and per language on the whole corpus: at least eight labelled snippets of
    each kind in this language, and the kind's recall in this language above the floor (a
    kind that works in English only fails here with the kind and the language)."""
    report = evaluate([r for r in load() if r["lang"] == lang])
    few = {k: c.tp + c.fn for k, c in report.per_kind.items() if c.tp + c.fn < 8}
    assert few == {}, f"kinds labelled fewer than 8 times in {lang}: {few}"
    low = {k: round(c.recall, 3) for k, c in report.per_kind.items() if c.recall < RECALL_FLOOR}
    assert low == {}, f"kinds under {RECALL_FLOOR} recall in {lang}: {low}"


# --- the checks behind some kinds ----------------------------------------------------------

def test_phones_are_valid_numbers_of_the_nine_countries_not_quantities():
    assert is_phone("+44 20 7946 0958")
    assert is_phone("0412 345 678")  # Australian mobile, trunk 0
    assert is_phone("612 345 678")  # Spanish mobile
    assert is_phone("(555) 123-4567")  # laid out as a phone: a possible number is enough
    assert not is_phone("942.195372")  # one decimal point: a measurement
    assert not is_phone("2.400.000", " UI")  # thousands groups and a unit
    assert not is_phone("125 000 000", " copies/mL")
    assert not is_phone("9434765918")  # unbroken ten digits in English text: a lot, a code


def test_vin_and_iban_check_digits():
    assert vin_ok("1M8GDM9AXKP042788")
    assert not vin_ok("1M8GDM9A1KP042788")
    assert iban_ok("GB82 WEST 1234 5698 7654 32")
    assert not iban_ok("GB82 WEST 1234 5698 7654 33")


def test_findings_never_carry_the_text():
    text = "Pt James Walker, MRN 5512887, for CT today"
    for finding in phi_scan(text):
        assert set(finding.as_dict()) == {"kind", "start", "end"}


DOC = Path(__file__).resolve().parents[2] / "docs" / "phi.md"


def _shown(doc: str, marker: str) -> str:
    assert f"<!-- {marker} -->\n" in doc, f"docs/phi.md lost its marker <!-- {marker} -->"
    return doc.split(f"<!-- {marker} -->\n", 1)[1].split("\n<!-- end phi.evaluate -->")[0]


def test_docs_phi_md_shows_the_tables_the_command_prints():
    """docs/phi.md's tables are ``python -m phi.evaluate --markdown [--split …]`` on this
    corpus: change the guard or the corpus, regenerate the tables (a change that forgets the
    docs fails here)."""
    doc = DOC.read_text(encoding="utf-8")
    assert _shown(doc, "phi.evaluate: all") == render(evaluate(load("all")), markdown=True)
    for split in SPLITS:
        languages = render(evaluate(load(split)), markdown=True).split("\n\n")[1]
        assert _shown(doc, f"phi.evaluate --split {split}: languages") == languages, split


def test_docs_phi_md_counts_the_corpus_it_describes():
    doc = DOC.read_text(encoding="utf-8")
    rows = load()
    per_lang = {lang: sum(r["lang"] == lang for r in rows) for lang in ("en", "es")}
    with_phi = sum(bool(r["kinds"]) for r in rows)
    assert (f"**{len(rows)} snippets** ({per_lang['en']} English, {per_lang['es']} Spanish; "
            f"{with_phi} carry") in doc.replace("\n", " ")
    for split in SPLITS:
        assert f"| {split} | {len(load(split))} |" in doc, split


def test_a_label_word_in_a_sentence_is_not_a_label():
    # Found by tests/physicians/test_licence_reason_privacy.py: a verifier's clean reason.
    assert phi_scan("GMC register checked canaryclean3f9a2b1c0d") == []
    assert phi_scan("account checked, see note abc12word") == []
    assert phi_kinds(phi_scan("HPCSA MP 0612345")) == [phi.LICENCE_NUMBER]
