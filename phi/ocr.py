"""Text burned into an image, through the same PHI guard as typed text.

A photo of a wristband, a screenshot of a results page or a scan with the patient's name in
the corner carries identifiers no metadata stripping removes. ``image_findings`` reads the
text with Tesseract (the Debian packages ``tesseract-ocr``, ``tesseract-ocr-eng`` and
``tesseract-ocr-spa``, driven through ``pytesseract``), English and Spanish models together,
and runs ``phi_scan`` over it. Only the findings' kinds leave this module: the recognised text
is never returned, logged or stored (its spans would point into text nobody keeps).

Cost: Tesseract takes roughly 0.3–2 s of CPU per image on this machine, depending on size and
how much text there is (``python -m bench.phi --images``). Images are read at most
``MAX_SIDE`` pixels on their long side (burned-in labels stay legible, a 40 Mpx photo does not
cost ten seconds) and in grey levels.

Failing closed: when Tesseract is missing or breaks, ``OcrUnavailable`` is raised and the
upload is refused rather than stored unread.
"""

from __future__ import annotations

import logging

import pytesseract
from PIL import Image, ImageOps

from core.errors import Unavailable
from phi.guard import Finding, PhiDetected, phi_kinds, phi_scan

log = logging.getLogger(__name__)

LANGUAGES = "eng+spa"
MAX_SIDE = 2000
# Tesseract's own limit on one image, so a pathological picture cannot hold a worker.
TIMEOUT_S = 20
# Page segmentation 3 (automatic): finds the text blocks in a photograph (a wristband, a
# label, a screen); 11 ("sparse text") read nothing on the test photos, 6 (one uniform block)
# garbles a picture with text in several places.
CONFIG = "--psm 3"


class OcrUnavailable(Unavailable):
    """The OCR engine could not read the image (missing, timed out or failed)."""


def image_text(img: Image.Image) -> str:
    """The text Tesseract reads in ``img``.

    Raises:
        OcrUnavailable: Tesseract is not installed, timed out or failed.
    """
    grey = ImageOps.grayscale(img.convert("RGBA").convert("RGB") if img.mode in ("P", "LA", "RGBA")
                              else img)
    if max(grey.size) > MAX_SIDE:
        grey.thumbnail((MAX_SIDE, MAX_SIDE))
    try:
        return pytesseract.image_to_string(grey, lang=LANGUAGES, config=CONFIG,
                                           timeout=TIMEOUT_S)
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, RuntimeError,
            OSError) as exc:
        # The class only: Tesseract's message can quote what it read.
        log.error("OCR failed: %s", type(exc).__name__)
        raise OcrUnavailable("Images cannot be checked for patient identifiers right now; "
                             "try again later.") from None


def image_findings(img: Image.Image) -> list[Finding]:
    """The PHI guard's findings over the text in ``img`` (spans into text that is discarded:
    use the kinds only).

    Raises:
        OcrUnavailable: as ``image_text``.
    """
    text = image_text(img)
    # Tesseract breaks lines where the image does; the guard's cues work within a line, and
    # a name split over two lines of a wristband stays two words.
    return phi_scan(text)


def image_guard(img: Image.Image, *, confirmed: bool = False) -> list[Finding]:
    """The image counterpart of ``phi_guard``: an image whose text carries identifiers is
    refused unless the author ``confirmed`` it; then the findings come back for the audit
    entry (kinds only: ``phi_confirmation_record``).

    Raises:
        PhiDetected: findings and no confirmation. ``details`` is ``{"field": "image",
            "findings": [{"kind"}, …]}``: one entry per kind, no spans, no text.
        OcrUnavailable: as ``image_text``.
    """
    findings = image_findings(img)
    if findings and not confirmed:
        kinds = phi_kinds(findings)
        raise PhiDetected(
            f"The image shows text that looks like patient identifiers "
            f"({', '.join(k.replace('_', ' ') for k in kinds)}). Crop it out and upload the "
            "image again, or send it with confirm_phi if it is not patient data.",
            details={"field": "image", "findings": [{"kind": k} for k in kinds]})
    return findings
