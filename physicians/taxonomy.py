"""The specialty taxonomy: specialties and subspecialties, in English and Spanish.

``SPECIALTIES`` is the single source of truth; the data migration ``0002_specialties`` loads it
with ``load_specialties`` and a later migration can call the same function again after an
edit (it upserts by slug, so it never duplicates a row or breaks a foreign key).

Spanish names follow the official specialty titles used in Spain and Mexico where they differ
from a literal translation (``Anatomía patológica`` for pathology, ``Medicina de urgencias``
for emergency medicine). Only medical specialties live here: lounges and other rooms hang
off these rows, they are not rows themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# (slug, parent slug or None, English name, Spanish name). Parents may appear anywhere in the
# list: ``load_specialties`` orders them itself.
SPECIALTIES: list[tuple[str, str | None, str, str]] = [
    # --- Internal medicine and its subspecialties ---------------------------------------
    ("internal-medicine", None, "Internal Medicine", "Medicina interna"),
    ("cardiology", "internal-medicine", "Cardiology", "Cardiología"),
    (
        "interventional-cardiology",
        "cardiology",
        "Interventional Cardiology",
        "Cardiología intervencionista",
    ),
    (
        "electrophysiology",
        "cardiology",
        "Cardiac Electrophysiology",
        "Electrofisiología cardíaca",
    ),
    (
        "heart-failure",
        "cardiology",
        "Advanced Heart Failure and Transplant Cardiology",
        "Insuficiencia cardíaca avanzada y trasplante cardíaco",
    ),
    ("cardiac-imaging", "cardiology", "Cardiovascular Imaging", "Imagen cardiovascular"),
    ("gastroenterology", "internal-medicine", "Gastroenterology", "Gastroenterología"),
    ("hepatology", "gastroenterology", "Hepatology", "Hepatología"),
    ("pulmonology", "internal-medicine", "Pulmonary Medicine", "Neumología"),
    ("critical-care", "internal-medicine", "Critical Care Medicine", "Medicina intensiva"),
    ("nephrology", "internal-medicine", "Nephrology", "Nefrología"),
    ("endocrinology", "internal-medicine", "Endocrinology, Diabetes and Metabolism",
     "Endocrinología y nutrición"),
    ("rheumatology", "internal-medicine", "Rheumatology", "Reumatología"),
    ("infectious-disease", "internal-medicine", "Infectious Diseases",
     "Enfermedades infecciosas"),
    ("hematology", "internal-medicine", "Hematology", "Hematología"),
    ("medical-oncology", "internal-medicine", "Medical Oncology", "Oncología médica"),
    ("geriatrics", "internal-medicine", "Geriatric Medicine", "Geriatría"),
    ("allergy-immunology", "internal-medicine", "Allergy and Immunology",
     "Alergología e inmunología clínica"),
    ("sleep-medicine", "internal-medicine", "Sleep Medicine", "Medicina del sueño"),
    ("hospital-medicine", "internal-medicine", "Hospital Medicine", "Medicina hospitalaria"),
    ("palliative-medicine", "internal-medicine", "Hospice and Palliative Medicine",
     "Cuidados paliativos"),
    # --- Pediatrics ------------------------------------------------------------------------
    ("pediatrics", None, "Pediatrics", "Pediatría"),
    ("neonatology", "pediatrics", "Neonatal-Perinatal Medicine", "Neonatología"),
    ("pediatric-cardiology", "pediatrics", "Pediatric Cardiology", "Cardiología pediátrica"),
    ("pediatric-critical-care", "pediatrics", "Pediatric Critical Care Medicine",
     "Medicina intensiva pediátrica"),
    ("pediatric-emergency-medicine", "pediatrics", "Pediatric Emergency Medicine",
     "Urgencias pediátricas"),
    ("pediatric-gastroenterology", "pediatrics", "Pediatric Gastroenterology",
     "Gastroenterología pediátrica"),
    ("pediatric-hematology-oncology", "pediatrics", "Pediatric Hematology-Oncology",
     "Hematología y oncología pediátrica"),
    ("pediatric-infectious-disease", "pediatrics", "Pediatric Infectious Diseases",
     "Infectología pediátrica"),
    ("pediatric-nephrology", "pediatrics", "Pediatric Nephrology", "Nefrología pediátrica"),
    ("pediatric-endocrinology", "pediatrics", "Pediatric Endocrinology",
     "Endocrinología pediátrica"),
    ("pediatric-pulmonology", "pediatrics", "Pediatric Pulmonology", "Neumología pediátrica"),
    ("pediatric-rheumatology", "pediatrics", "Pediatric Rheumatology",
     "Reumatología pediátrica"),
    ("child-neurology", "pediatrics", "Child Neurology", "Neurología pediátrica"),
    # --- General surgery and its branches ------------------------------------------------
    ("surgery", None, "General Surgery", "Cirugía general"),
    ("colorectal-surgery", "surgery", "Colon and Rectal Surgery", "Coloproctología"),
    ("surgical-oncology", "surgery", "Surgical Oncology", "Cirugía oncológica"),
    ("trauma-surgery", "surgery", "Trauma and Acute Care Surgery",
     "Cirugía de trauma y urgencias"),
    ("vascular-surgery", "surgery", "Vascular Surgery", "Angiología y cirugía vascular"),
    ("cardiothoracic-surgery", "surgery", "Cardiothoracic Surgery",
     "Cirugía cardiotorácica"),
    ("cardiac-surgery", "cardiothoracic-surgery", "Cardiac Surgery", "Cirugía cardíaca"),
    ("thoracic-surgery", "cardiothoracic-surgery", "Thoracic Surgery", "Cirugía torácica"),
    ("pediatric-surgery", "surgery", "Pediatric Surgery", "Cirugía pediátrica"),
    ("plastic-surgery", "surgery", "Plastic and Reconstructive Surgery",
     "Cirugía plástica, estética y reparadora"),
    ("transplant-surgery", "surgery", "Transplant Surgery", "Cirugía de trasplantes"),
    ("hepatobiliary-surgery", "surgery", "Hepatopancreatobiliary Surgery",
     "Cirugía hepatobiliopancreática"),
    ("bariatric-surgery", "surgery", "Bariatric Surgery", "Cirugía bariátrica"),
    ("breast-surgery", "surgery", "Breast Surgery", "Cirugía de mama"),
    ("endocrine-surgery", "surgery", "Endocrine Surgery", "Cirugía endocrina"),
    # --- Surgical specialties with their own training pathway ----------------------------
    ("neurosurgery", None, "Neurological Surgery", "Neurocirugía"),
    ("pediatric-neurosurgery", "neurosurgery", "Pediatric Neurosurgery",
     "Neurocirugía pediátrica"),
    ("orthopedic-surgery", None, "Orthopaedic Surgery",
     "Cirugía ortopédica y traumatología"),
    ("hand-surgery", "orthopedic-surgery", "Hand Surgery", "Cirugía de la mano"),
    ("spine-surgery", "orthopedic-surgery", "Spine Surgery", "Cirugía de columna"),
    ("orthopedic-trauma", "orthopedic-surgery", "Orthopaedic Trauma",
     "Traumatología ortopédica"),
    ("pediatric-orthopedics", "orthopedic-surgery", "Pediatric Orthopaedics",
     "Ortopedia pediátrica"),
    ("urology", None, "Urology", "Urología"),
    ("pediatric-urology", "urology", "Pediatric Urology", "Urología pediátrica"),
    ("urologic-oncology", "urology", "Urologic Oncology", "Uro-oncología"),
    ("otolaryngology", None, "Otolaryngology – Head and Neck Surgery",
     "Otorrinolaringología"),
    ("head-neck-surgery", "otolaryngology", "Head and Neck Surgery",
     "Cirugía de cabeza y cuello"),
    ("pediatric-otolaryngology", "otolaryngology", "Pediatric Otolaryngology",
     "Otorrinolaringología pediátrica"),
    ("ophthalmology", None, "Ophthalmology", "Oftalmología"),
    ("retina", "ophthalmology", "Retina and Vitreous", "Retina y vítreo"),
    ("glaucoma", "ophthalmology", "Glaucoma", "Glaucoma"),
    ("cornea", "ophthalmology", "Cornea and External Disease", "Córnea y superficie ocular"),
    ("pediatric-ophthalmology", "ophthalmology", "Pediatric Ophthalmology",
     "Oftalmología pediátrica"),
    ("oculoplastics", "ophthalmology", "Oculoplastic Surgery", "Cirugía oculoplástica"),
    ("neuro-ophthalmology", "ophthalmology", "Neuro-ophthalmology", "Neurooftalmología"),
    # --- Emergency medicine ---------------------------------------------------------------
    ("emergency-medicine", None, "Emergency Medicine", "Medicina de urgencias"),
    ("medical-toxicology", "emergency-medicine", "Medical Toxicology", "Toxicología clínica"),
    ("ems", "emergency-medicine", "Emergency Medical Services",
     "Medicina de emergencias prehospitalaria"),
    # --- Psychiatry -------------------------------------------------------------------------
    ("psychiatry", None, "Psychiatry", "Psiquiatría"),
    ("child-adolescent-psychiatry", "psychiatry", "Child and Adolescent Psychiatry",
     "Psiquiatría infantil y de la adolescencia"),
    ("addiction-psychiatry", "psychiatry", "Addiction Psychiatry",
     "Psiquiatría de las adicciones"),
    ("geriatric-psychiatry", "psychiatry", "Geriatric Psychiatry", "Psicogeriatría"),
    ("forensic-psychiatry", "psychiatry", "Forensic Psychiatry", "Psiquiatría forense"),
    ("consultation-liaison-psychiatry", "psychiatry", "Consultation-Liaison Psychiatry",
     "Psiquiatría de enlace"),
    # --- Imaging and laboratory -------------------------------------------------------------
    ("radiology", None, "Diagnostic Radiology", "Radiodiagnóstico"),
    ("interventional-radiology", "radiology", "Interventional Radiology",
     "Radiología intervencionista"),
    ("neuroradiology", "radiology", "Neuroradiology", "Neurorradiología"),
    ("pediatric-radiology", "radiology", "Pediatric Radiology", "Radiología pediátrica"),
    ("breast-imaging", "radiology", "Breast Imaging", "Radiología de mama"),
    ("musculoskeletal-radiology", "radiology", "Musculoskeletal Radiology",
     "Radiología musculoesquelética"),
    ("nuclear-medicine", None, "Nuclear Medicine", "Medicina nuclear"),
    ("radiation-oncology", None, "Radiation Oncology", "Oncología radioterápica"),
    ("pathology", None, "Pathology", "Anatomía patológica"),
    ("clinical-pathology", "pathology", "Clinical Pathology", "Patología clínica"),
    ("forensic-pathology", "pathology", "Forensic Pathology", "Patología forense"),
    ("dermatopathology", "pathology", "Dermatopathology", "Dermatopatología"),
    ("hematopathology", "pathology", "Hematopathology", "Hematopatología"),
    ("cytopathology", "pathology", "Cytopathology", "Citopatología"),
    # --- Anesthesiology ---------------------------------------------------------------------
    ("anesthesiology", None, "Anesthesiology", "Anestesiología"),
    ("pain-medicine", "anesthesiology", "Pain Medicine", "Medicina del dolor"),
    ("pediatric-anesthesiology", "anesthesiology", "Pediatric Anesthesiology",
     "Anestesiología pediátrica"),
    ("cardiac-anesthesiology", "anesthesiology", "Cardiothoracic Anesthesiology",
     "Anestesiología cardiotorácica"),
    ("obstetric-anesthesiology", "anesthesiology", "Obstetric Anesthesiology",
     "Anestesiología obstétrica"),
    # --- Obstetrics and gynecology ----------------------------------------------------------
    ("obstetrics-gynecology", None, "Obstetrics and Gynecology", "Obstetricia y ginecología"),
    ("maternal-fetal-medicine", "obstetrics-gynecology", "Maternal-Fetal Medicine",
     "Medicina materno-fetal"),
    ("reproductive-endocrinology", "obstetrics-gynecology",
     "Reproductive Endocrinology and Infertility", "Medicina reproductiva"),
    ("gynecologic-oncology", "obstetrics-gynecology", "Gynecologic Oncology",
     "Ginecología oncológica"),
    ("urogynecology", "obstetrics-gynecology", "Urogynecology and Pelvic Reconstructive Surgery",
     "Uroginecología"),
    # --- Dermatology ------------------------------------------------------------------------
    ("dermatology", None, "Dermatology", "Dermatología"),
    ("pediatric-dermatology", "dermatology", "Pediatric Dermatology",
     "Dermatología pediátrica"),
    ("mohs-surgery", "dermatology", "Micrographic Dermatologic Surgery",
     "Cirugía micrográfica de Mohs"),
    # --- Neurology --------------------------------------------------------------------------
    ("neurology", None, "Neurology", "Neurología"),
    ("vascular-neurology", "neurology", "Vascular Neurology (Stroke)", "Neurología vascular"),
    ("epilepsy", "neurology", "Epilepsy", "Epilepsia"),
    ("neuromuscular-medicine", "neurology", "Neuromuscular Medicine",
     "Enfermedades neuromusculares"),
    ("movement-disorders", "neurology", "Movement Disorders", "Trastornos del movimiento"),
    ("neurocritical-care", "neurology", "Neurocritical Care", "Cuidados neurocríticos"),
    ("headache-medicine", "neurology", "Headache Medicine", "Cefaleas"),
    # --- Primary care and the rest -----------------------------------------------------------
    ("family-medicine", None, "Family Medicine", "Medicina familiar y comunitaria"),
    ("sports-medicine", "family-medicine", "Sports Medicine", "Medicina del deporte"),
    ("adolescent-medicine", "family-medicine", "Adolescent Medicine",
     "Medicina de la adolescencia"),
    ("physical-medicine-rehabilitation", None, "Physical Medicine and Rehabilitation",
     "Medicina física y rehabilitación"),
    ("occupational-medicine", None, "Occupational Medicine", "Medicina del trabajo"),
    ("preventive-medicine", None, "Preventive Medicine and Public Health",
     "Medicina preventiva y salud pública"),
    ("medical-genetics", None, "Medical Genetics and Genomics", "Genética médica"),
    ("clinical-pharmacology", None, "Clinical Pharmacology", "Farmacología clínica"),
]

# Pairs of specialties that can usefully take each other's urgent cases when nobody in the
# case's own specialty answers (urgent routing, tier 3). Kept short on purpose: a wrong pair
# sends a stranger a case they cannot help with. Listed once; ``RELATED`` is symmetric.
_RELATED_PAIRS: list[tuple[str, str]] = [
    ("cardiology", "cardiac-surgery"),
    ("cardiology", "pediatric-cardiology"),
    ("cardiology", "critical-care"),
    ("interventional-cardiology", "interventional-radiology"),
    ("critical-care", "pulmonology"),
    ("critical-care", "anesthesiology"),
    ("critical-care", "emergency-medicine"),
    ("emergency-medicine", "pediatric-emergency-medicine"),
    ("emergency-medicine", "trauma-surgery"),
    ("emergency-medicine", "medical-toxicology"),
    ("trauma-surgery", "orthopedic-trauma"),
    ("neurology", "neurosurgery"),
    ("neurology", "child-neurology"),
    ("vascular-neurology", "neuroradiology"),
    ("neurocritical-care", "critical-care"),
    ("gastroenterology", "pediatric-gastroenterology"),
    ("hepatology", "transplant-surgery"),
    ("nephrology", "pediatric-nephrology"),
    ("hematology", "medical-oncology"),
    ("medical-oncology", "radiation-oncology"),
    ("medical-oncology", "surgical-oncology"),
    ("pediatric-critical-care", "neonatology"),
    ("psychiatry", "child-adolescent-psychiatry"),
    ("infectious-disease", "pediatric-infectious-disease"),
    ("obstetrics-gynecology", "maternal-fetal-medicine"),
    ("dermatology", "dermatopathology"),
]


def _symmetric(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    related: dict[str, list[str]] = {}
    for a, b in pairs:
        related.setdefault(a, []).append(b)
        related.setdefault(b, []).append(a)
    return {slug: sorted(set(others)) for slug, others in sorted(related.items())}


RELATED: dict[str, list[str]] = _symmetric(_RELATED_PAIRS)


def parents_first(
    rows: Iterable[tuple[str, str | None, str, str]],
) -> list[tuple[str, str | None, str, str]]:
    """``rows`` reordered so that every parent comes before its children.

    Raises:
        ValueError: a parent slug is not in ``rows``, or the parent links form a cycle.
    """
    pending = list(rows)
    known = {slug for slug, *_ in pending}
    for slug, parent, *_ in pending:
        if parent is not None and parent not in known:
            raise ValueError(f"specialty {slug!r} names unknown parent {parent!r}")
    ordered: list[tuple[str, str | None, str, str]] = []
    placed: set[str] = set()
    while pending:
        ready = [row for row in pending if row[1] is None or row[1] in placed]
        if not ready:  # every remaining row waits on another remaining row
            raise ValueError(f"specialty parent links form a cycle: {[r[0] for r in pending]}")
        ordered.extend(ready)
        placed.update(row[0] for row in ready)
        pending = [row for row in pending if row[0] not in placed]
    return ordered


def load_specialties(specialty_model: Any) -> int:
    """Create or update every row of ``SPECIALTIES`` in ``specialty_model``; return the count.

    ``specialty_model`` is ``physicians.models.Specialty`` or, inside a migration, the historical
    model from ``apps.get_model("physicians", "Specialty")``. Rows are matched by slug, so running
    it twice changes nothing, and renaming a specialty keeps its id and every link to it.
    Specialties that are no longer listed are left alone (physicians may still point at them).

    Raises:
        ValueError: the taxonomy itself is inconsistent (unknown parent or a cycle).
    """
    by_slug: dict[str, Any] = {}
    for slug, parent, name_en, name_es in parents_first(SPECIALTIES):
        row, _ = specialty_model.objects.update_or_create(
            slug=slug,
            defaults={
                "name_en": name_en,
                "name_es": name_es,
                "parent": by_slug[parent] if parent else None,
            },
        )
        by_slug[slug] = row
    return len(by_slug)
