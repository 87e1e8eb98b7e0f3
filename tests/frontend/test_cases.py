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
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import close_pages, from_sidebar, join_room, login, new_page, send_message
from tests.support.cases import png as make_png

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
           "missing": "Write the final diagnosis.",
           "metrics": re.compile(r"replies: 1 · viewers: 1 · participants: 2 · first response \d+ (s|min)"
                                 r" · resolved in \d+ (s|min)")},
    "es": {"feed": "Casos de colegas", "resolved": "resuelto", "open": "abierto",
           "thumb": "Imagen 1 del caso", "outcome": "Desenlace", "helpful": "★ Más útil",
           "dashboard": "Panel de la red", "week": re.compile(r"semana \d{4}-W\d\d"),
           "counts": "casos: 1 · mediana de respuestas: 1 · mediana de participantes: 2",
           "within24": "100 %", "sermo": "SERMO: 1,5 h", "faster": "más rápido que SERMO",
           "missing": "Escribe el diagnóstico final.",
           "metrics": re.compile(r"respuestas: 1 · lectores: 1 · participantes: 2"
                                 r" · primera respuesta \d+ (s|min) · resuelto en \d+ (s|min)")},
}


def _fits(page: Page, where: str) -> None:
    """Nothing of the screens is wider than the viewport or sticks out of its left edge.

    The top bar is left out: its phone layout is the responsive-layout work's (its own test
    holds it to 390 px); everything below it, and every dialog, is checked. What nobody sees
    is left out too: a phone's room drawer, closed, waits off-screen (visibility: hidden)."""
    wide = page.evaluate("""() => [...document.querySelectorAll("main *, dialog[open], dialog[open] *")]
        .filter((e) => e.tagName === "DIALOG"
          || (e.offsetParent !== null && getComputedStyle(e).visibility !== "hidden"))
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
    png = make_png()

    def steps(chromium: Browser) -> None:
        poster = _page(chromium, daphne_server, poster_email, password, lang=lang, viewport=viewport)
        colleague = _page(chromium, daphne_server, colleague_email, password, lang=lang, viewport=viewport)

        # The poster: the feed, then the template with an image.
        from_sidebar(poster, "#nav-feed")
        expect(poster.locator("#feed-title")).to_have_text(text["feed"])
        expect(poster.locator("#feed-title")).to_be_focused()  # the screen took the focus
        expect(poster.locator("#home")).to_be_hidden()
        expect(poster.locator("#chat-view")).to_have_attribute("data-drawer", "closed")
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
        from_sidebar(colleague, "#nav-feed")
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
        # A reload reopens the room with its case (rooms.list names the case of each room).
        colleague.reload()
        expect(colleague.locator("#case-detail .case-question")).to_have_text(question)
        expect(colleague.locator("#messages .msg", has_text=answer)).to_have_count(1)

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
        from_sidebar(colleague, "#nav-feed")
        colleague.select_option("#feed-status", "resolved")
        expect(colleague.locator("#feed-list .feed-item", has_text=title)).to_have_count(1)
        colleague.check("#feed-answered")
        expect(colleague.locator("#feed-list .feed-item", has_text=title)).to_have_count(1)
        colleague.check("#feed-mine")
        expect(colleague.locator("#feed-list .feed-item")).to_have_count(0)

        from_sidebar(poster, "#nav-dashboard")
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


def test_urgent_case_invite_answer_resolve_publish(browser, daphne_server, make_physician):
    """An urgent case is private: the poster brings in a colleague met in a lounge, resolves
    with their answer credited, and publishes it as a teaching case, which a physician who
    was never in it then finds in the feed."""
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, colleague_email, _ = make_physician(specialty="neurology")
    _, reader_email, _ = make_physician(specialty="dermatology")
    tag = uuid.uuid4().hex[:6]
    title = f"Thunderclap headache, normal CT [{tag}]"
    question = "Lumbar puncture or CT angiography next?"

    def steps(chromium: Browser) -> None:
        poster = _page(chromium, daphne_server, poster_email, password, lang="en", viewport=DESKTOP)
        colleague = _page(chromium, daphne_server, colleague_email, password, lang="en", viewport=DESKTOP)
        reader = _page(chromium, daphne_server, reader_email, password, lang="en", viewport=PHONE)
        for page in (colleague, poster):
            page.fill("#specialty-search", "Cardiology")
            page.locator('#lounges-all [data-room="lounge-cardiology"]').click()
            expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))
        # Busy: no urgent offer reaches her; she comes in only by the poster's invitation.
        colleague.locator("#presence-status").select_option("busy")
        expect(colleague.locator("#presence-status")).to_be_enabled()
        send_message(colleague, f"Happy to help with neuro questions [{tag}]")
        expect(poster.locator("#messages .msg", has_text=tag)).to_have_count(1)

        from_sidebar(poster, "#nav-feed")
        poster.click("#feed-post")
        poster.fill("#tpl-title", title)
        poster.fill("#tpl-question", question)
        poster.select_option("#tpl-specialty", "neurology")
        poster.select_option("#tpl-urgency", "urgent")
        expect(poster.locator("#tpl-audience")).to_be_disabled()  # urgent: a private consult
        poster.click("#tpl-submit")
        expect(poster.locator("#tpl-dialog")).to_be_hidden()
        detail = poster.locator("#case-detail")
        expect(detail.locator("#case-detail-title")).to_have_text(title)
        expect(detail.locator(".badge.urgent")).to_have_text("urgent")

        # Not in the feed of a colleague who was not brought in.
        from_sidebar(colleague, "#nav-feed")
        expect(colleague.locator("#feed-list .feed-item", has_text=title)).to_have_count(0)

        invite = detail.locator("#invite-form")
        expect(invite.locator("#invite-room option")).to_have_text(["Cardiology"])
        expect(invite.locator("#invite-who option")).to_have_count(1)
        invite.get_by_role("button", name="Invite").click()
        expect(poster.locator("#case-detail-error")).to_have_text("Invited: they can open the case now.")

        colleague.click("#feed-refresh")
        card = colleague.locator("#feed-list .feed-item", has_text=title)
        expect(card).to_have_count(1)
        card.locator(".feed-open").click()
        expect(colleague.locator("#case-detail .case-question")).to_have_text(question)
        send_message(colleague, f"CT angiography first; LP if negative [{tag}]")
        expect(poster.locator("#messages .msg", has_text="CT angiography first")).to_have_count(1)

        poster.click("#case-resolve")
        poster.fill("#resolve-diagnosis", "Reversible cerebral vasoconstriction syndrome")
        choice = poster.locator("#resolve-helpful .helpful-choice", has_text="CT angiography first")
        choice.locator("input").check()
        poster.click("#resolve-submit")
        expect(colleague.locator("#case-outcome .outcome-diagnosis")).to_have_text(
            "Reversible cerebral vasoconstriction syndrome")
        from_sidebar(reader, "#nav-feed")
        expect(reader.locator("#feed-list .feed-item", has_text=title)).to_have_count(0)

        poster.click("#case-publish")
        expect(poster.locator("#case-detail .badge.teaching")).to_have_text("teaching case")
        expect(poster.locator("#case-publish")).to_have_count(0)
        reader.select_option("#feed-urgency", "urgent")
        card = reader.locator("#feed-list .feed-item", has_text=title)
        expect(card).to_have_count(1)
        card.locator(".feed-open").click()
        expect(reader.locator("#case-outcome .outcome-diagnosis")).to_have_text(
            "Reversible cerebral vasoconstriction syndrome")
        _fits(reader, "teaching case")
        close_pages(poster, colleague, reader)

    browser.run(steps)


def test_feed_pages_by_cursor_and_template_phi_in_spanish(browser, daphne_server, make_physician):
    """21 dermatology cases: the feed shows a page of 20 and "load more" brings the last one;
    a template whose history carries a record number is flagged, then posted when confirmed."""
    from consult import services as consult_services

    tag = uuid.uuid4().hex[:6]
    posters = [make_physician(specialty="dermatology")[0].user for _ in range(2)]
    for n in range(21):
        consult_services.case_open(
            poster=posters[n % 2], specialty="dermatology", urgency="routine",
            template=consult_services.CaseTemplate(question=f"Lesión número {n} [{tag}]"))
    _, email, password = make_physician(specialty="neurology", languages=("es",))
    history = "Varón, NHC 7788990, placa eritematosa desde hace 3 meses."

    def steps(chromium: Browser) -> None:
        page = _page(chromium, daphne_server, email, password, lang="es", viewport=PHONE)
        from_sidebar(page, "#nav-feed")
        page.select_option("#feed-specialty", "dermatology")
        items = page.locator("#feed-list .feed-item", has_text=tag)
        expect(items).to_have_count(20)
        expect(items.first).to_contain_text(f"Lesión número 20 [{tag}]")  # newest first
        more = page.get_by_role("button", name="Cargar más casos")
        more.click()
        expect(items).to_have_count(21)
        expect(items.last).to_contain_text(f"Lesión número 0 [{tag}]")
        expect(more).to_be_hidden()
        page.select_option("#feed-language", "de")
        expect(page.locator("#feed-list .feed-empty")).to_have_text("Ningún caso coincide con estos filtros.")
        _fits(page, "feed, paged")

        page.click("#feed-post")
        expect(page.locator("#tpl-title-h")).to_have_text("Publicar un caso para colegas")
        page.fill("#tpl-history", history)
        page.fill("#tpl-question", f"¿Biopsia? [{tag}]")
        page.select_option("#tpl-specialty", "dermatology")
        page.click("#tpl-submit")
        warning = page.locator("#tpl-phi")
        expect(warning.locator(".phi-title")).to_have_text(
            "Antecedentes puede contener datos identificativos de un paciente")
        expect(warning.locator("mark.phi-span")).to_have_text(["7788990"])
        expect(page.locator("#tpl-dialog")).to_be_visible()  # nothing was posted
        _fits(page, "template, flagged")
        warning.get_by_role("button", name="Publicar de todos modos (no son datos de un paciente)").click()
        expect(page.locator("#tpl-dialog")).to_be_hidden()
        expect(page.locator("#case-detail .case-question")).to_have_text(f"¿Biopsia? [{tag}]")
        expect(page.locator("#case-detail .case-facts dd.long").first).to_have_text(history)
        close_pages(page)

    browser.run(steps)


def test_lounge_card_opens_the_case_and_the_page_switches_language(browser, daphne_server, make_physician):
    """A cardiologist in the lounge opens a routine case from its card (no invitation); the
    case page follows a switch to Spanish, and the poster's close and reopen live."""
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician(specialty="cardiology")
    question = f"Amiodarone and warfarin: how much to cut the dose? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        poster = _page(chromium, daphne_server, poster_email, password, lang="en", viewport=DESKTOP)
        cardio = _page(chromium, daphne_server, cardio_email, password, lang="en", viewport=DESKTOP)
        join_room(cardio, "lounge-cardiology")
        from_sidebar(poster, "#nav-feed")
        poster.click("#feed-post")
        poster.fill("#tpl-question", question)
        poster.select_option("#tpl-specialty", "cardiology")
        poster.click("#tpl-submit")
        expect(poster.locator("#case-detail .case-question")).to_have_text(question)

        card = cardio.locator("#messages .case-card", has_text=question)
        card.get_by_role("button", name="Open the case").click()
        expect(cardio.locator("#case-detail .case-question")).to_have_text(question)
        expect(cardio.locator("#case-detail-title")).to_have_text("Case")
        cardio.get_by_role("button", name="Español").click()
        expect(cardio.locator("#case-detail-title")).to_have_text("Caso")
        expect(cardio.locator('#case-detail .badge.status[data-status="open"]')).to_have_text("abierto")
        expect(cardio.locator("#case-detail dt")).to_have_text(["Tu pregunta"])
        _fits(cardio, "case page from a lounge card")

        # The poster closes the case and reopens it: the cardiologist's page follows live.
        poster.click("#case-close")
        expect(cardio.locator('#case-detail .badge.status[data-status="closed"]')).to_have_text("cerrado")
        expect(poster.locator("#case-close")).to_have_count(0)
        poster.click("#case-reopen")
        expect(cardio.locator('#case-detail .badge.status[data-status="open"]')).to_have_text("abierto")
        expect(poster.locator("#case-resolve")).to_be_visible()
        close_pages(poster, cardio)

    browser.run(steps)


def test_a_post_whose_answers_were_lost_is_one_case(browser, daphne_server, make_physician):
    """The server stores the case but its answer never reaches the browser, twice (the
    client's own retry included): the poster sees the error, presses Post again and gets
    the case — one case, every POST with the same client_id."""
    from consult.models import Case

    physician, email, password = make_physician(specialty="emergency-medicine")
    question = f"Wide QRS after a tricyclic overdose: bicarbonate first? [{uuid.uuid4().hex[:6]}]"
    sent: list[dict] = []

    def steps(chromium: Browser) -> None:
        page = _page(chromium, daphne_server, email, password, lang="en", viewport=DESKTOP)

        def lose_the_answer(route) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            sent.append(route.request.post_data_json)
            if len(sent) <= 2:
                route.fetch()  # the server stores (or finds) the case …
                route.abort("timedout")  # … and the browser never hears of it
            else:
                route.continue_()

        page.route("**/api/v1/cases", lose_the_answer)
        from_sidebar(page, "#nav-feed")
        page.click("#feed-post")
        page.fill("#tpl-question", question)
        page.select_option("#tpl-specialty", "cardiology")
        page.click("#tpl-submit")
        expect(page.locator("#tpl-error")).not_to_have_text("")  # both tries lost
        expect(page.locator("#tpl-dialog")).to_be_visible()
        page.click("#tpl-submit")
        expect(page.locator("#tpl-dialog")).to_be_hidden()
        expect(page.locator("#case-detail .case-question")).to_have_text(question)
        close_pages(page)

    browser.run(steps)
    assert len(sent) == 3
    assert len({body["client_id"] for body in sent}) == 1
    assert Case.objects.filter(poster=physician.user).count() == 1
