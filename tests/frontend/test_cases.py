"""The case screens of the web client (cases.js, dashboard.js): real headless Chromium against
a real daphne, in English on a desktop and in Spanish on a phone.

A doctor posts a routine case with the structured template and an image; a colleague of
another specialty, never invited, finds it in the feed, opens it and answers; the poster
resolves it crediting that answer; both case pages show the outcome (the colleague's live,
through ``case.updated``) and the network dashboard counts the case. At every screen nothing
is wider than the viewport.
"""

from __future__ import annotations

import re
import uuid
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import close_pages, login, new_page, send_message

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SHOTS = Path("/tmp/caseweb-shots")  # screenshots of each screen checked, to look at

# What the user reads, per language.
TEXT = {
    "en": {"feed": "Cases from colleagues", "resolved": "resolved", "open": "open",
           "thumb": "Case image 1", "outcome": "Outcome", "helpful": "★ Most helpful",
           "dashboard": "Network dashboard", "week": re.compile(r"week \d{4}-W\d\d"),
           "counts": "cases: 1 · median replies: 1 · median participants: 2",
           "within24": "100%", "sermo": "SERMO: 1.5 h", "faster": "faster than SERMO",
           "no_answers": "No answers from colleagues yet.", "missing": "Write the final diagnosis.",
           "metrics": re.compile(r"replies: 1 · viewers: 1 · participants: 2 · first response \d+ (s|min)"
                                 r" · resolved in \d+ (s|min)")},
    "es": {"feed": "Casos de colegas", "resolved": "resuelto", "open": "abierto",
           "thumb": "Imagen 1 del caso", "outcome": "Desenlace", "helpful": "★ Más útil",
           "dashboard": "Panel de la red", "week": re.compile(r"semana \d{4}-W\d\d"),
           "counts": "casos: 1 · mediana de respuestas: 1 · mediana de participantes: 2",
           "within24": "100 %", "sermo": "SERMO: 1,5 h", "faster": "más rápido que SERMO",
           "no_answers": "Aún no hay respuestas de colegas.", "missing": "Escribe el diagnóstico final.",
           "metrics": re.compile(r"respuestas: 1 · lectores: 1 · participantes: 2"
                                 r" · primera respuesta \d+ (s|min) · resuelto en \d+ (s|min)")},
}


def _png() -> bytes:
    """A small real PNG (the attachment path decodes and re-encodes it)."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    for x in range(32, 64):
        for y in range(48):
            image.putpixel((x, y), (30, 30, 200))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _fits(page: Page, where: str) -> None:
    """Nothing of the screens is wider than the viewport or sticks out of its left edge.

    The top bar is left out: its phone layout is the responsive-layout work's (its own test
    holds it to 390 px); everything below it, and every dialog, is checked."""
    wide = page.evaluate("""() => [...document.querySelectorAll("main *, dialog[open], dialog[open] *")]
        .filter((e) => e.offsetParent !== null || e.tagName === "DIALOG")
        .filter((e) => {
          const r = e.getBoundingClientRect();
          return r.right > window.innerWidth + 1 || r.left < -1;
        })
        .slice(0, 8).map((e) => `${e.tagName}#${e.id}.${e.className}`)""")
    assert wide == [], (where, wide)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{page.viewport_size['width']}-{where.replace(' ', '-')}.png"))


def _page(chromium: Browser, server, email: str, password: str, *, lang: str, viewport: dict) -> Page:
    page = new_page(chromium, locale="es-ES" if lang == "es" else "en-US")
    page.set_viewport_size(viewport)
    login(page, server, email, password)
    return page


def _loaded(locator) -> None:
    """The <img> decoded a real picture (the attachment was served to this reader)."""
    expect(locator).to_be_visible()
    locator.evaluate("img => img.decode()")
    assert locator.evaluate("img => img.naturalWidth") == 64


@pytest.mark.parametrize(("lang", "viewport"), [("en", DESKTOP), ("es", PHONE)],
                         ids=["en-desktop", "es-phone"])
def test_post_find_answer_resolve_and_dashboard(browser, daphne_server, make_physician, lang, viewport):
    text = TEXT[lang]
    _, poster_email, password = make_physician(specialty="emergency-medicine", languages=(lang,))
    _, colleague_email, _ = make_physician(specialty="neurology", languages=(lang,))
    tag = uuid.uuid4().hex[:6]
    title = f"Syncope with a long QT [{tag}]"
    question = "Start a beta blocker, or implant a defibrillator first?"
    answer = f"Beta blocker now; ICD only if syncope recurs on it [{tag}]"
    png = _png()

    def steps(chromium: Browser) -> None:
        poster = _page(chromium, daphne_server, poster_email, password, lang=lang, viewport=viewport)
        colleague = _page(chromium, daphne_server, colleague_email, password, lang=lang, viewport=viewport)

        # The poster: the feed, then the template with an image.
        poster.click("#nav-feed")
        expect(poster.locator("#feed-title")).to_have_text(text["feed"])
        _fits(poster, "feed")
        poster.click("#feed-post")
        dialog = poster.locator("#tpl-dialog")
        expect(dialog).to_be_visible()
        poster.click("#tpl-submit")  # nothing filled in: stays, says what is missing
        expect(poster.locator("#tpl-error")).not_to_be_empty()
        poster.fill("#tpl-title", title)
        poster.select_option("#tpl-age", "18-29")
        poster.select_option("#tpl-sex", "female")
        poster.fill("#tpl-complaint", "Two faints on exertion")
        poster.fill("#tpl-history", "Congenital deafness in a sibling.")
        poster.fill("#tpl-findings", "QTc 520 ms at rest; normal echo.")
        poster.fill("#tpl-question", question)
        poster.select_option("#tpl-specialty", "cardiology")
        expect(poster.locator("#tpl-urgency")).to_have_value("routine")
        expect(poster.locator("#tpl-audience")).to_have_value("network")
        poster.set_input_files("#tpl-images",
                               files=[{"name": "ecg.png", "mimeType": "image/png", "buffer": png}])
        _loaded(poster.locator("#tpl-thumbs img"))
        expect(poster.locator("#tpl-thumbs img")).to_have_attribute("alt", text["thumb"])
        _fits(poster, "template dialog")
        poster.click("#tpl-submit")
        expect(dialog).to_be_hidden()

        # The case page: the template, the image as a thumbnail and in the viewer.
        detail = poster.locator("#case-detail")
        expect(detail.locator("#case-detail-title")).to_have_text(title)
        expect(detail.locator(".case-question")).to_have_text(question)
        expect(detail.locator('.badge.status[data-status="open"]')).to_have_text(text["open"])
        _loaded(detail.locator("#case-thumbs img"))
        detail.locator("#case-thumbs button").click()
        expect(poster.locator("#case-viewer")).to_be_visible()
        _loaded(poster.locator("#case-viewer-img"))
        _fits(poster, "image viewer")
        poster.click("#case-viewer-close")
        expect(poster.locator("#case-viewer")).to_be_hidden()
        room = poster.locator("#messages .msg-list").get_attribute("data-room")
        assert room and room.startswith("case-")
        _fits(poster, "case page")

        # A neurologist, never invited, finds it in the feed (by specialty) and opens it.
        colleague.click("#nav-feed")
        colleague.select_option("#feed-specialty", "cardiology")
        card = colleague.locator("#feed-list .feed-item", has_text=title)
        expect(card).to_have_count(1)
        expect(card.locator(".feed-question")).to_have_text(question)
        _fits(colleague, "feed, filtered")
        colleague.select_option("#feed-status", "resolved")
        expect(card).to_have_count(0)
        colleague.select_option("#feed-status", "")
        expect(card).to_have_count(1)
        card.locator(".feed-open").click()
        expect(colleague.locator("#case-detail .case-question")).to_have_text(question)
        _loaded(colleague.locator("#case-thumbs img"))
        expect(colleague.locator("#room-members")).to_have_text(re.compile(r"2"))
        expect(colleague.locator("#case-resolve")).to_have_count(0)  # only the poster resolves
        send_message(colleague, answer)
        expect(colleague.locator('#messages .msg[data-state="delivered"]', has_text=answer)).to_have_count(1)

        # The poster sees the answer in the case room and resolves, crediting it.
        expect(poster.locator("#messages .msg", has_text=answer)).to_have_count(1)
        poster.click("#case-resolve")
        expect(poster.locator("#resolve-dialog")).to_be_visible()
        poster.click("#resolve-submit")
        expect(poster.locator("#resolve-error")).to_have_text(text["missing"])
        choice = poster.locator("#resolve-helpful .helpful-choice", has_text=answer)
        expect(choice).to_have_count(1)
        _fits(poster, "resolve dialog")
        poster.fill("#resolve-diagnosis", "Long QT syndrome type 1")
        poster.fill("#resolve-done", "Nadolol started; genetic testing sent.")
        choice.locator("input").check()
        poster.click("#resolve-submit")
        expect(poster.locator("#resolve-dialog")).to_be_hidden()

        for page in (poster, colleague):  # the colleague's page changes live (case.updated)
            outcome = page.locator("#case-outcome")
            expect(outcome.locator("h4")).to_have_text(text["outcome"])
            expect(outcome.locator(".outcome-diagnosis")).to_have_text("Long QT syndrome type 1")
            expect(outcome.locator(".helpful-items li")).to_have_text([re.compile(re.escape(answer[:60]))])
            status = page.locator('#case-detail .badge.status[data-status="resolved"]')
            expect(status).to_have_text(text["resolved"])
            credited = page.locator("#messages .msg", has_text=answer)
            expect(credited).to_have_attribute("data-helpful", text["helpful"])
            expect(page.locator("#case-metrics")).to_have_text(text["metrics"])
        expect(poster.locator("#case-resolve")).to_have_count(0)
        _fits(poster, "resolved case page")

        # The feed shows it resolved; the dashboard counts it beside SERMO's figures.
        colleague.click("#nav-feed")
        colleague.select_option("#feed-status", "resolved")
        expect(colleague.locator("#feed-list .feed-item", has_text=title)).to_have_count(1)
        colleague.check("#feed-answered")
        expect(colleague.locator("#feed-list .feed-item", has_text=title)).to_have_count(1)
        colleague.check("#feed-mine")
        expect(colleague.locator("#feed-list .feed-item")).to_have_count(0)

        poster.click("#nav-dashboard")
        expect(poster.locator("#dashboard-title")).to_have_text(text["dashboard"])
        row = poster.locator('.dash-row[data-specialty="cardiology"]')
        expect(row).to_have_count(1)
        expect(row.locator("h3 .muted")).to_have_text(text["week"])
        expect(row.locator(".dash-counts")).to_have_text(text["counts"])
        first = row.locator(".dash-figure").nth(0)
        expect(first.locator(".dash-value")).to_have_text(re.compile(r"^\d+ (s|min)$"))
        expect(first.locator(".dash-sermo")).to_have_text(text["sermo"])
        expect(first.locator(".badge")).to_have_text(text["faster"])
        expect(row.locator(".dash-figure").nth(2).locator(".dash-value")).to_have_text(text["within24"])
        _fits(poster, "dashboard")
        assert poster.dialogs == [] and colleague.dialogs == []
        close_pages(poster, colleague)

    browser.run(steps)
