"""How long the PHI guard takes per message: ``python -m bench.phi``.

``phi.guard.phi_scan`` runs on the event loop for every message.send / message.edit and
case post, so its cost is paid inline. This prints microseconds per message for realistic
English and Spanish case texts of about 200 characters (clean ones, the common case, and ones
carrying identifiers), padded or cut to exactly 200 characters for the clean ones (the target
is ≤ 100 µs each), the labelled corpus of phi/data, and adversarial 8,000-character messages
(the target is ≤ 10 ms each), best of many short rounds. ``--images`` adds the OCR cost per
uploaded image (phi/ocr.py). Not a test: no threshold is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from phi.evaluate import load
from phi.guard import phi_kinds, phi_scan
from phi.ocr import image_findings

# Clean clinical messages: numbers everywhere, no identifiers (what the guard must pass).
CLEAN = [
    "68M, 3 days of pleuritic chest pain, BP 128/82, HR 104, RR 22, SpO2 93% on RA. D-dimer "
    "1.8, troponin 0.04 then 0.12. Started enoxaparin 1 mg/kg bid. CTPA or V/Q first given Cr 1.9?",
    "Varón de 72 años, FA con RVR 140 lpm, TA 95/60 mmHg. Amiodarona 300 mg en 1 h y luego 900 mg "
    "en 24 h. K 3.4, Mg 1.6. ¿Cardioversión eléctrica o seguimos con control de frecuencia?",
    "Kid 6 yo, 2 weeks of fever, CRP 150 mg/L, plt 650 000, Hb 9.8, ESR 90. Echo: LAD 3.8 mm "
    "(z 2.6). IVIG 2 g/kg given day 9 in 2024. Second dose, or infliximab 5 mg/kg?",
    "Mujer de 45 años, 32+4 semanas, TA 160/105, proteinuria 3+, plaquetas 98.000, GOT 120. "
    "Sulfato de magnesio 4 g en 20 min y 1 g/h. ¿Terminar la gestación hoy o esperar 48 h?",
]
# Messages with identifiers (what the guard must catch).
DIRTY = [
    "Mr. John Smith, 92-year-old, MRN 00123456, seen 03/04/2024: BP 150/90, HR 88. Call his "
    "daughter on (555) 123-4567 or jane.doe@example.com before the 10 mg dose tomorrow please.",
    "La Sra. García, de 93 años, historia clínica nº 445566, ingresó el 3 de marzo de 2024. "
    "Vive en Calle Mayor 5, Madrid; teléfono 612 345 678. DNI 12345678Z. ¿Anticoagulamos?",
]


def _per_message_us(texts: list[str], rounds: int, repeat: int) -> tuple[float, float]:
    """Best round's wall time and CPU time per message, in µs. CPU time is what the event
    loop spends; on a shared, loaded machine the wall time also counts waiting for a core."""
    best_wall = best_cpu = float("inf")
    count = repeat * len(texts)
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeat):
            for text in texts:
                phi_scan(text)
        best_wall = min(best_wall, (time.perf_counter() - wall) / count)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / count)
    return best_wall * 1e6, best_cpu * 1e6


def _at_200(text: str) -> str:
    """``text`` cut or padded with clinical words to exactly 200 characters."""
    pad = " Plan: repeat bloods in the morning, review after the ward round, keep NBM."
    while len(text) < 200:
        text += pad
    return text[:200]


# The worst inputs found so far, at the longest message allowed (8000 characters): each aims
# at one stage of the guard (digit runs, tokens of letters and digits, month words, capitalised
# name pairs, cue words before names, label words, phone-shaped groups, photo words).
ADVERSARIAL = {
    "'1 1 1 …'": "1 " * 4000,
    "'a1a1…'": "a1" * 4000,
    "'March 3 …'": ("March 3 " * 1000)[:8000],
    "'John Smith …'": ("John Smith " * 800)[:8000],
    "'de Sofía …'": ("de Sofía " * 1000)[:8000],
    "'Pt Pt …'": ("Pt " * 3000)[:8000],
    "'serial 12345 …'": ("serial 12345 " * 700)[:8000],
    "'+44 20 7946 0958 …'": ("+44 20 7946 0958 " * 500)[:8000],
    "'0412 345 678 …'": ("0412 345 678 " * 700)[:8000],
    "'photo of …'": ("photo of " * 1000)[:8000],
    "'AB12 CDE …'": ("AB12 CDE " * 1000)[:8000],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short rounds, best one kept: on a shared machine a long round always has other
    # processes' time in it, a short one often does not (the best is the guard's own cost).
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--images", action="store_true", help="also measure OCR per image")
    args = parser.parse_args()
    clean200 = [_at_200(t) for t in CLEAN]
    for label, texts in (("clean, English, 200 chars", clean200[0::2]),
                         ("clean, Spanish, 200 chars", clean200[1::2]),
                         ("with identifiers, English", DIRTY[:1]),
                         ("with identifiers, Spanish", DIRTY[1:])):
        chars = sum(len(t) for t in texts) / len(texts)
        wall, cpu = _per_message_us(texts, args.rounds, args.repeat)
        print(f"{label:26s} {chars:4.0f} chars/msg  {cpu:6.1f} µs CPU/msg  ({wall:.1f} µs wall)")
    rows = [r["text"] for r in load()]
    wall, cpu = _per_message_us(rows, 5, 1)
    chars = sum(len(t) for t in rows) / len(rows)
    print(f"{'labelled corpus (all)':26s} {chars:4.0f} chars/msg  {cpu:6.1f} µs CPU/msg  "
          f"({wall:.1f} µs wall, {len(rows)} snippets)")
    worst = 0.0
    for label, text in ADVERSARIAL.items():
        wall, cpu = _per_message_us([text], 15, 1)
        worst = max(worst, cpu)
        print(f"8000 chars {label:22s} {cpu / 1000:6.1f} ms CPU/msg  ({wall / 1000:.1f} ms wall)")
    print(f"worst adversarial message: {worst / 1000:.1f} ms CPU (target ≤ 10 ms)")
    for text in clean200:
        assert not phi_scan(text), text  # a clean text flagged is a false positive to fix
    if args.images:
        _images()


def _photo(size: tuple[int, int], lines: list[str]) -> Image.Image:
    """A skin-toned, blurred 'photo' with ``lines`` on a white label (none: no label)."""
    rnd = random.Random(17)
    img = Image.new("RGB", size, (186, 148, 128))
    draw = ImageDraw.Draw(img)
    for _ in range(size[0] * size[1] // 6000):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        draw.ellipse((x, y, x + 40, y + 40), fill=(rnd.randrange(120, 220),
                                                   rnd.randrange(90, 170), rnd.randrange(80, 150)))
    img = img.filter(ImageFilter.GaussianBlur(3))
    if lines:
        draw = ImageDraw.Draw(img)
        w, h = size
        draw.rectangle((w // 10, h // 3, w * 9 // 10, h // 3 + 100 * len(lines) + 40), fill="white")
        font = ImageFont.load_default(size=max(24, h // 25))
        for i, line in enumerate(lines):
            draw.text((w // 10 + 30, h // 3 + 30 + 90 * i), line, fill="black", font=font)
    return img


def _images() -> None:
    """OCR cost per uploaded image: Tesseract runs as a child process, so its CPU time is
    the children's (os.times), and wall time is what the upload waits."""
    cases = [
        ("phone photo 1600x1200, no text", _photo((1600, 1200), [])),
        ("phone photo 1600x1200, label", _photo((1600, 1200), ["SMITH, John", "DOB 03/04/1941"])),
        ("screenshot 1200x700, 3 lines", _photo((1200, 700), ["Patient: Margaret Ellis",
                                                              "MRN 00456123", "Ward 7, bed 12"])),
        ("camera 4000x3000 (read at 2000)", _photo((4000, 3000), ["Rash day 3, left forearm"])),
    ]
    for label, img in cases:
        best_wall = best_cpu = float("inf")
        kinds: list[str] = []
        for _ in range(3):
            t0, c0 = time.perf_counter(), os.times()
            kinds = phi_kinds(image_findings(img))
            c1 = os.times()
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_cpu = min(best_cpu, (c1.children_user + c1.children_system + c1.user + c1.system)
                           - (c0.children_user + c0.children_system + c0.user + c0.system))
        print(f"OCR {label:34s} {best_cpu:5.2f} s CPU  ({best_wall:.2f} s wall)  "
              f"kinds: {', '.join(kinds) or '-'}")


if __name__ == "__main__":
    main()
