"""The PHI guard's detector (phi/guard.py): what it flags, and the clinical text it must not.

Table-driven: each positive names the kind and the exact text the span must cover; each
negative is a realistic clinical sentence (doses, vitals, labs, durations, years, ages up to
89) that must come back clean. English and Spanish both, and the identifiers of the nine
countries served. Pure functions: no database.
"""

from __future__ import annotations

import pytest

from phi import guard as phi
from phi import identifiers
from phi.guard import Finding, phi_scan

# (text, kind, the flagged text)
POSITIVES = [
    # dates more specific than the year
    ("Seen on 03/04/2024 in clinic", phi.DATE, "03/04/2024"),
    ("seen 3/4/24, better since", phi.DATE, "3/4/24"),
    ("Born 2024-03-03 at term", phi.DATE, "2024-03-03"),
    ("Admitted March 3rd 2024 with chest pain", phi.DATE, "March 3rd 2024"),
    ("admitted on March 3, 2024", phi.DATE, "March 3, 2024"),
    ("seen on the 3rd of March 2024", phi.DATE, "3rd of March 2024"),
    ("May 5 she was admitted", phi.DATE, "May 5"),
    ("Ingresó el 3 de marzo de 2024 por disnea", phi.DATE, "3 de marzo de 2024"),
    ("valorado el 15 de agosto en consulta", phi.DATE, "15 de agosto"),
    ("cita el 1º de mayo del 2023", phi.DATE, "1º de mayo del 2023"),
    ("nació el 12-dic-2019", phi.DATE, "12-dic-2019"),
    ("ingreso marzo 3 de 2024 (uso mexicano)", phi.DATE, "marzo 3 de 2024"),
    ("fecha 03.04.2024", phi.DATE, "03.04.2024"),
    ("seen 03/04/2024 10:30 in ED", phi.DATE, "03/04/2024"),
    ("dose 2 03/04/2024 ok", phi.DATE, "03/04/2024"),
    # Day and month without a year are a date element too (Safe Harbor keeps only the year)
    # when a word introduces them as a date; "3/4 of the dose" and "GCS 14/15" stay clean.
    ("review on 25/03, 0.9% saline 1000 mL x 3 days", phi.DATE, "25/03"),
    ("intervenido el 11/09 en otro centro", phi.DATE, "11/09"),
    # phones and faxes of the nine countries
    ("Call me at (555) 123-4567", phi.PHONE, "(555) 123-4567"),
    ("her cell is 555-123-4567", phi.PHONE, "555-123-4567"),
    ("toll free 1-800-555-0199", phi.PHONE, "1-800-555-0199"),
    ("Mobile 07700 900123", phi.PHONE, "07700 900123"),
    ("Fax 020 7946 0958", phi.PHONE, "020 7946 0958"),
    ("UK line +44 20 7946 0958", phi.PHONE, "+44 20 7946 0958"),
    ("Ring her on 0412 345 678", phi.PHONE, "0412 345 678"),
    ("office (02) 9876 5432", phi.PHONE, "(02) 9876 5432"),
    ("mobile 087 123 4567 (Dublin)", phi.PHONE, "087 123 4567"),
    ("NZ 021 123 4567", phi.PHONE, "021 123 4567"),
    ("Cape Town 082 123 4567", phi.PHONE, "082 123 4567"),
    ("llamar al +34 612 345 678", phi.PHONE, "+34 612 345 678"),
    ("fijo 91 234 56 78", phi.PHONE, "91 234 56 78"),
    ("Tel: 55 1234 5678", phi.PHONE, "55 1234 5678"),
    ("celular +52 55 1234 5678", phi.PHONE, "+52 55 1234 5678"),
    ("teléfono: 4567 8910", phi.PHONE, "4567 8910"),
    # e-mail, URL, IP
    ("Email jane.doe@example.com please", phi.EMAIL, "jane.doe@example.com"),
    ("correo: maria.lopez@hospital.es", phi.EMAIL, "maria.lopez@hospital.es"),
    ("see https://example.org/patient/123.", phi.URL, "https://example.org/patient/123"),
    ("foto en www.example.com/fotos/juan", phi.URL, "www.example.com/fotos/juan"),
    ("server at 192.168.1.20 logged it", phi.IP_ADDRESS, "192.168.1.20"),
    ("port 8 10.0.0.1 seen", phi.IP_ADDRESS, "10.0.0.1"),
    ("from fe80::1ff:fe23:4567:890a", phi.IP_ADDRESS, "fe80::1ff:fe23:4567:890a"),
    # SSN and record numbers introduced by a label
    ("SSN 123-45-6789", phi.SSN, "123-45-6789"),
    ("his 123-45-6789 is on file", phi.SSN, "123-45-6789"),
    ("MRN: 00123456", phi.RECORD_NUMBER, "00123456"),
    ("MRN 4567890", phi.RECORD_NUMBER, "4567890"),
    ("medical record # A1234567", phi.RECORD_NUMBER, "A1234567"),
    ("chart no. 55-1234", phi.RECORD_NUMBER, "55-1234"),
    ("Historia clínica nº 123456", phi.RECORD_NUMBER, "123456"),
    ("NHC 7788990", phi.RECORD_NUMBER, "7788990"),
    ("número de expediente: 2024-0012345", phi.RECORD_NUMBER, "2024-0012345"),
    ("Patient #4471023 again", phi.RECORD_NUMBER, "4471023"),
    ("NSS 12345678901", phi.SSN, "12345678901"),
    # national identifiers, checked by checksum
    ("NHS number 943 476 5919", phi.NATIONAL_ID, "943 476 5919"),
    ("his number 9434765919", phi.NATIONAL_ID, "9434765919"),
    ("SIN 046 454 286", phi.NATIONAL_ID, "046 454 286"),
    ("Medicare 2123 45670 1", phi.NATIONAL_ID, "2123 45670 1"),
    ("IHI 8003 6080 0001 0015", phi.NATIONAL_ID, "8003 6080 0001 0015"),
    ("NHI ZAC5361", phi.NATIONAL_ID, "ZAC5361"),
    ("new-format NHI ZBN77VL", phi.NATIONAL_ID, "ZBN77VL"),
    ("ID 8001015009087", phi.NATIONAL_ID, "8001015009087"),
    ("PPSN 1234567T", phi.NATIONAL_ID, "1234567T"),
    ("PPS 1234567FA", phi.NATIONAL_ID, "1234567FA"),
    ("DNI 12345678Z", phi.NATIONAL_ID, "12345678Z"),
    ("con NIE X1234567L", phi.NATIONAL_ID, "X1234567L"),
    ("CURP HEGG560427MVZRRL04", phi.NATIONAL_ID, "HEGG560427MVZRRL04"),
    ("RFC GODE561231GR8", phi.NATIONAL_ID, "GODE561231GR8"),
    ("NI number AB 12 34 56 C", phi.NATIONAL_ID, "AB 12 34 56 C"),
    # addresses
    ("lives at 42 Wallaby Way, Sydney", phi.ADDRESS, "42 Wallaby Way"),
    ("home 1600 Pennsylvania Avenue", phi.ADDRESS, "1600 Pennsylvania Avenue"),
    ("Sydney NSW 2000", phi.ADDRESS, "NSW 2000"),
    ("Boston, MA 02115", phi.ADDRESS, "MA 02115"),
    ("zip 02115-1234", phi.ADDRESS, "02115-1234"),
    ("postcode SW1A 1AA", phi.ADDRESS, "SW1A 1AA"),
    ("Ottawa K1A 0B1", phi.ADDRESS, "K1A 0B1"),
    ("vive en Calle Mayor 5, Madrid", phi.ADDRESS, "Calle Mayor 5"),
    ("domicilio c/ Alcalá 45", phi.ADDRESS, "c/ Alcalá 45"),
    ("en la calle de Alcalá 45", phi.ADDRESS, "calle de Alcalá 45"),
    ("Av. Reforma 222", phi.ADDRESS, "Av. Reforma 222"),
    ("C.P. 28001 Madrid", phi.ADDRESS, "C.P. 28001"),
    # a companion between "lives"/"vive" and "in"/"en" (fresh3, found from outside)
    ("nacida en 1931, vive sola en Tlalpan, CDMX", phi.ADDRESS, "Tlalpan"),
    ("vive con su hija en Móstoles", phi.ADDRESS, "Móstoles"),
    ("lives alone in Tullamore since his wife died", phi.ADDRESS, "Tullamore"),
    ("lives with her daughter in Ballarat", phi.ADDRESS, "Ballarat"),
    # ages over 89
    ("a 92-year-old woman", phi.AGE_OVER_89, "92-year-old"),
    ("93 years old, frail", phi.AGE_OVER_89, "93 years old"),
    ("91 yo man", phi.AGE_OVER_89, "91 yo"),
    ("At age 91 she had a stroke", phi.AGE_OVER_89, "age 91"),
    ("mujer de 92 años", phi.AGE_OVER_89, "92 años"),
    ("edad: 95, frágil", phi.AGE_OVER_89, "edad: 95"),
    # names introduced by a title or label
    ("Mr. John Smith presented with", phi.NAME, "Mr. John Smith"),
    ("Mrs Patel was seen", phi.NAME, "Mrs Patel"),
    ("La Sra. García acudió", phi.NAME, "Sra. García"),
    ("el Sr. José Luis de la Fuente", phi.NAME, "Sr. José Luis de la Fuente"),
    ("Patient name: Jane Doe", phi.NAME, "Jane Doe"),
    ("Nombre: Juan Pérez García", phi.NAME, "Juan Pérez García"),
    ("el paciente se llama Pedro Ruiz", phi.NAME, "Pedro Ruiz"),
    ("a man named Tom Jones", phi.NAME, "Tom Jones"),
]

NEGATIVES = [
    # English clinical text: doses, vitals, labs, durations, years, ages up to 89
    "BP 120/80, HR 88, RR 18, SpO2 97% on room air",
    "Started metoprolol 25 mg twice daily, amlodipine 5 mg, ASA 81 mg",
    "Hb 7.4 g/dL, WBC 12,000, plt 150 000, Na 138, K 4.2, Cr 1.1",
    "3 days of fever, 2 weeks of cough, since 2019",
    "A 45-year-old man; his 89 years old grandmother",
    "Troponin 0.04 then 0.12, EF 35%, QTc 480 ms",
    "INR 2.5, aPTT 35 s, fibrinogen 3.2 g/L",
    "AV block 2:1 at 40 bpm",
    "Titrate 5-10-20 mg over 3 weeks",
    "CA 125 of 350, CA 19-9 normal",
    "MS patient with new lesions",
    "pH 7.35 7.40 7.45, pCO2 40",
    "In March the symptoms got worse; seen again in 2023",
    "the patient may 5 mg be enough?",
    "Gleason 3+4=7, PSA 12.5",
    "HbA1c 7.2% in 2023, eGFR 55",
    "ECOG 1, Karnofsky 80, NYHA II",
    "ventolin 100 mcg 2 puffs q4-6h prn",
    "mutation c.1234G>A in BRCA1, HLA-B*57:01 negative",
    "follow up in 2-3 weeks, ratio 1:2, BP 150/95, pain 10/10, 3/4 of patients",
    "PMID 12345678, DOI 10.1056/NEJMoa2034577, NCT04368728",
    "K 3.5-5.0 mmol/L reference, range 3.5–5.0, Hb 13.5-17.5",
    "CD4 350 cells/µL, viral load 10000 copies/mL, log 4.2",
    "Lipase 1200 U/L (ref 13-60), ALT 250, AST 300",
    "tacrolimus trough 8-10 ng/mL at 12 h, day 7 post-transplant",
    "T 38.9 C, FiO2 0.40, PEEP 10, Vt 450 mL",
    "pregnant at 32+4 weeks, G3P2, para 2",
    "HR 104, glucose 110, sat 95%, 3 x 10 mg",
    "MRN pending; record unavailable",
    "Admission 2024: three admissions since",
    "She was seen by Dr. Chen in cardiology",
    "brand name Lasix, generic name: furosemide",
    "Don gloves and gown; MS flare; the Miss-Ex trial",
    # Spanish clinical text
    "TA 120/80 mmHg, FC 88 lpm, SatO2 97%, temperatura 38,5 ºC",
    "Paciente varón de 67 años con fiebre de 3 días, PCR 150 mg/L",
    "Dosis: paracetamol 1 g cada 8 h, 500 mg/12 h",
    "el 50% de los pacientes, ingreso hace 3 semanas, entre 2019-2021, Glasgow 15/15",
    "en 2020 tuvo un IAM, Sodio 135 145 mmol/L, CIE-10 J18.9, ICD-10 I21.4",
    "Plaquetas 250.000/mm3, leucocitos 15.300, creatinina 1,2 mg/dl",
    "Mujer de 89 años, 32+4 semanas de gestación en su hija",
    "en situación de calle desde hace 2 años",
    "vive sola en un piso sin ascensor; lives alone at home, independent with ADLs",
    "la avenida principal del pueblo está cortada",
    "Amiodarona 300 mg en 1 h y luego 900 mg en 24 h; K 3,4, Mg 1,6",
    "desde marzo empeora; ingresó en 2022",
    "FEVI 35%, BNP 1200 pg/ml, NYHA III, furosemida 40 mg/12 h",
    # whole consult questions, as physicians write them
    "67F with HFrEF (EF 25%), NYHA III, on sacubitril/valsartan 49/51 mg bid, bisoprolol 5 mg, "
    "spironolactone 25 mg. K 5.4, Cr 1.6 (baseline 1.2). Stop MRA or reduce ARNI?",
    "Post-op day 2 after CABG x3, new AF 150 bpm, BP 100/60. Amio bolus 150 mg over 10 min then "
    "1 mg/min x 6 h, 0.5 mg/min x 18 h. Anticoagulate at CHA2DS2-VASc 4?",
    "Pt is a 34 yo G2P1 at 28+3 wks with BP 150/100 x2, 4 h apart, UPCR 0.45, plt 140k.",
    "Room 12, bed 4: HR 130, lactate 4.1, MAP 58 after 30 mL/kg; norepi 0.05 mcg/kg/min?",
    "Weight 82 kg, height 175 cm, BMI 26.8, BSA 1.98 m2; vanc 25 mg/kg load = 2000 mg.",
    "Patient 2 of 3 in our series; ECOG 0; CEA 12.3 ng/mL; KRAS G12C positive; MSI stable.",
    "Paciente de 78 años, EPOC GOLD 3, pH 7,28, pCO2 68, pO2 55 con FiO2 0,28. ¿VMNI con IPAP 14?",
    "Niña de 7 años con fiebre de 5 días, PCR 120 mg/L, plaquetas 450.000. Eco: Z-score 2,1.",
    "Varón 55 a., DM2 (HbA1c 9,1 %), FG 45 ml/min/1,73 m2, albuminuria 350 mg/g.",
    "Ingresa por IAMCEST inferior, Killip I, puerta-balón 45 min. Troponina pico 12.000 ng/L.",
    "Seguimiento en 3 meses con TAC; si progresión, 2ª línea con docetaxel 75 mg/m2 cada 21 días.",
]


@pytest.mark.parametrize(("text", "kind", "flagged"), POSITIVES,
                         ids=[p[2] for p in POSITIVES])
def test_identifier_is_found_with_its_span(text, kind, flagged):
    findings = phi_scan(text)
    spans = [(f.kind, text[f.start:f.end]) for f in findings]
    assert (kind, flagged) in spans, spans


@pytest.mark.parametrize("text", NEGATIVES)
def test_clinical_text_passes_untouched(text):
    findings = phi_scan(text)
    assert findings == [], [(f.kind, text[f.start:f.end]) for f in findings]


def test_spans_are_offsets_into_the_text_sorted_and_disjoint():
    text = ("Mr. John Smith, 92-year-old, MRN 00123456, seen 03/04/2024; call (555) 123-4567 "
            "or jane.doe@example.com")
    findings = phi_scan(text)
    assert [f.kind for f in findings] == [phi.NAME, phi.AGE_OVER_89, phi.RECORD_NUMBER,
                                          phi.DATE, phi.PHONE, phi.EMAIL]
    for a, b in zip(findings, findings[1:], strict=False):
        assert a.end <= b.start
    assert findings[0] == Finding(phi.NAME, 0, len("Mr. John Smith"))
    assert findings[0].as_dict() == {"kind": "name", "start": 0, "end": 14}


def test_overlapping_findings_merge_into_the_most_specific_kind():
    # A checksum-valid NHS number also has the shape of a North American phone number.
    findings = phi_scan("call 943 476 5919")
    assert findings == [Finding(phi.NATIONAL_ID, 5, 17)]


def test_language_narrows_the_word_patterns_only():
    text = "Ingresó el 3 de marzo de 2024, tel 612 345 678"
    assert {f.kind for f in phi_scan(text, lang="es")} == {phi.DATE, phi.PHONE}
    assert {f.kind for f in phi_scan(text, lang="en")} == {phi.PHONE}


def test_offsets_stay_aligned_when_lower_casing_changes_length():
    text = "İİ Call me at (555) 123-4567"
    [finding] = phi_scan(text)
    assert text[finding.start:finding.end] == "(555) 123-4567"


@pytest.mark.parametrize(("check", "good", "bad"), [
    (identifiers.nhs_number_ok, "9434765919", "9434765918"),
    (identifiers.sin_ok, "046454286", "046454287"),
    (identifiers.medicare_au_ok, "2123456701", "2123456711"),
    (identifiers.nhi_ok, "ZAC5361", "ZZZ0044"),
    (identifiers.nhi_ok, "ZBN77VL", "ZZZ00AA"),
    (identifiers.sa_id_ok, "8001015009087", "8001015009088"),
    (identifiers.ppsn_ok, "1234567T", "1234567A"),
    (identifiers.dni_ok, "12345678Z", "12345678A"),
    (identifiers.dni_ok, "X1234567L", "X1234567A"),
    (identifiers.curp_ok, "HEGG560427MVZRRL04", "HEGG560427MVZRRL05"),
    (identifiers.rfc_ok, "GODE561231GR8", "GODE561231GR9"),
])
def test_checksums(check, good, bad):
    assert check(good)
    assert not check(bad)


def test_a_number_that_fails_its_checksum_is_not_an_identifier():
    assert phi_scan("ratio 12345678A") == []
    assert phi_scan("lot 9434765918 of the vaccine") == []


def test_the_guard_refuses_with_spans_only_and_passes_a_confirmed_text():
    from phi.guard import PhiDetected, phi_guard

    text = "Call her daughter on (555) 123-4567 tomorrow."
    assert phi_guard("BP 120/80, HR 88, furosemide 40 mg", field="body") == []
    with pytest.raises(PhiDetected) as refused:
        phi_guard(text, field="body")
    assert refused.value.code == "phi_detected" and refused.value.http_status == 422
    assert refused.value.details == {"field": "body",
                                     "findings": [{"kind": "phone", "start": 21, "end": 35}]}
    assert "555" not in refused.value.message and "phone" in refused.value.message
    assert phi_guard(text, field="body", confirmed=True) == [Finding(phi.PHONE, 21, 35)]
    assert phi.phi_kinds(phi_scan("MRN 1234567 on 03/04/2024, MRN 7654321")) == [
        phi.DATE, phi.RECORD_NUMBER]
