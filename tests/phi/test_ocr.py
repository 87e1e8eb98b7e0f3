"""Text in images through the PHI guard (phi/ocr.py), with the real Tesseract.

Images are drawn with Pillow here; the end-to-end upload path is tests/e2e/test_phi.py.
"""

from __future__ import annotations

import pytesseract
import pytest
from PIL import Image, ImageDraw, ImageFont

from phi.guard import PhiDetected
from phi.ocr import OcrUnavailable, image_guard


def _label(lines: list[str]) -> Image.Image:
    img = Image.new("RGB", (1100, 140 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=48)
    for i, line in enumerate(lines):
        draw.text((40, 50 + 90 * i), line, fill="black", font=font)
    return img


def test_a_wristband_is_refused_with_kinds_only():
    with pytest.raises(PhiDetected) as info:
        image_guard(_label(["GARCIA, Maria", "F. nac. 03/04/1941", "NHC 7788990"]))
    details = info.value.details
    assert details["field"] == "image"
    assert {f["kind"] for f in details["findings"]} >= {"name", "date", "record_number"}
    assert all(set(f) == {"kind"} for f in details["findings"])
    assert "GARCIA" not in str(details) and "GARCIA" not in info.value.message


def test_clinical_text_in_an_image_passes_and_a_confirmed_one_returns_its_findings():
    assert image_guard(_label(["Rash day 3, left forearm", "Hb 9,8  PCR 15,4"])) == []
    findings = image_guard(_label(["Patient: Margaret Ellis"]), confirmed=True)
    assert [f.kind for f in findings] == ["name"]


def test_without_tesseract_the_image_is_refused_not_passed(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailable):
        image_guard(_label(["Rash day 3"]))
