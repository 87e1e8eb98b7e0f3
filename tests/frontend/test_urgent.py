"""Urgent cases and on-call in the web client: real headless Chromium against a real daphne.

A browser thread of this module's own (tests/frontend/conftest.py; Playwright's sync API
must not share a thread with the ORM): users are made in the main thread, browser steps run
in the browser's.

The shared ``daphne_server`` keeps its own presence namespace, which other tests' users may
still occupy, so these tests assert only on their own users (an offer "to N specialists",
never "to 1"). The lounge-call test needs nobody else online at all, so it starts a daphne
with a presence namespace of its own (a fresh channel-layer prefix, which presence derives
its keys from; in embedded mode a new process is a fresh in-memory store anyway).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from crypto.pseudonyms import pseudonym_handle, pseudonym_id
from tests.support.browser import close_pages, join_room, login, new_page, send_message
from tests.support.servers import Daphne, free_port, server_env

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OFFER_SCREENSHOT = Path("/tmp/web2-pt/offer.png")
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def quiet_server(live_database_url, tmp_path_factory):
    """A daphne whose presence nobody else shares: only this module's users are online."""
    port = free_port()
    server = Daphne(
        port=port,
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
                       CURBSIDE_REDIS_PREFIX=f"web2-quiet-{uuid.uuid4().hex[:8]}"),
        log_path=tmp_path_factory.mktemp("daphne") / f"daphne-quiet-{port}.log",
    ).start()
    yield server
    server.stop()


def _tab(page: Page, server) -> Page:
    """A second tab of the same browser session (same cookie, its own socket)."""
    tab = page.context.new_page()
    tab.goto(server.http + "/")
    expect(tab.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
    return tab


def _on_call(page: Page) -> None:
    page.locator("#on-call").check()
    # Checked and enabled again: the presence.set reply said on_call = true.
    expect(page.locator("#on-call")).to_be_enabled()
    expect(page.locator("#on-call")).to_be_checked()


def _post(page: Page, *, specialty: str, summary: str, urgent: bool) -> str:
    """Post through the template ("Post a case" in the sidebar), the summary as its question;
    returns the case room's id once the poster is in it."""
    page.click("#post-open")
    expect(page.locator("#tpl-dialog")).to_be_visible()
    page.locator("#tpl-specialty").select_option(specialty)
    page.locator("#tpl-question").fill(summary)
    expect(page.locator("#tpl-urgency")).to_have_value("routine")
    if urgent:
        page.locator("#tpl-urgency").select_option("urgent")
        expect(page.locator("#tpl-audience")).to_be_disabled()  # an urgent case is private
    page.click("#tpl-submit")
    expect(page.locator("#tpl-dialog")).to_be_hidden()
    expect(page.locator("#case-panel")).to_be_visible()
    expect(page.locator("#case-summary")).to_have_text(summary)
    expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))  # joined
    return page.locator("#messages .msg-list").get_attribute("data-room")


def _offer(page: Page, summary: str):
    return page.locator("#offers .offer", has_text=summary)


def test_urgent_case_offered_to_both_tabs_accepted_in_one(browser, daphne_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    cardiologist, cardio_email, _ = make_physician()
    summary = f"STEMI? 58M, chest pain 40 min, ST elevation V2-V4 [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        poster, tab1 = new_page(chromium), new_page(chromium)
        login(poster, daphne_server, poster_email, password)
        login(tab1, daphne_server, cardio_email, password)
        expect(tab1.locator("#on-call")).not_to_be_checked()
        _on_call(tab1)
        # A tab opened now reads the server's state: on call, available.
        tab2 = _tab(tab1, daphne_server)
        expect(tab2.locator("#on-call")).to_be_checked()
        expect(tab2.locator("#presence-status")).to_have_value("available")

        room = _post(poster, specialty="cardiology", summary=summary, urgent=True)
        expect(poster.locator("#room-title")).to_have_text("Cardiology case")
        timeline = poster.locator("#case-timeline li")
        expect(timeline.first).to_contain_text("Posted as urgent")
        expect(poster.locator('#case-timeline li[data-step="offered"]')).to_have_text(
            re.compile(r"Offered to \d+ specialists? \(tier 1\)"))
        expect(poster.locator("#case-withdraw")).to_be_visible()
        expect(poster.locator("#case-meta")).to_have_text(re.compile(r"^urgent\s*Cardiology\s*English$"))

        for tab in (tab1, tab2):
            alert = _offer(tab, summary)
            expect(alert).to_be_visible()
            expect(alert).to_have_attribute("role", "alertdialog")
            expect(alert.locator("h2")).to_have_text("Urgent case: Cardiology")
            expect(alert.locator(".offer-countdown")).to_have_text(re.compile(r"Answer within \d:\d\d"))
            expect(alert.get_by_role("button", name="Accept")).to_be_enabled()
            expect(alert.get_by_role("button", name="Decline")).to_be_enabled()
        OFFER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        tab1.screenshot(path=str(OFFER_SCREENSHOT))

        _offer(tab1, summary).get_by_role("button", name="Accept").click()
        # The other tab's alert goes (offer.closed "accepted"), with a way into the room.
        expect(_offer(tab2, summary)).to_have_count(0)
        expect(tab2.locator("#urgent-notice-text")).to_have_text(
            "You accepted this case in another tab or device.")
        expect(_offer(tab1, summary)).to_have_count(0)
        expect(tab1.locator("#room-title")).to_have_text("Cardiology case")
        expect(tab1.locator("#case-summary")).to_have_text(summary)
        expect(tab1.locator("#room-members")).to_have_text("2 members")
        assert tab1.locator("#messages .msg-list").get_attribute("data-room") == room

        handle = pseudonym_handle(pseudonym_id(user_id=str(cardiologist.pk), room_id=room))
        accepted = poster.locator('#case-timeline li[data-step="accepted"]')
        expect(accepted).to_contain_text(f"Accepted by {handle}")
        expect(accepted.locator(".badge.verified")).to_be_visible()
        expect(accepted.locator(".specialty")).to_have_text("Cardiology")
        poster.screenshot(path=str(OFFER_SCREENSHOT.with_name("timeline.png")))

        send_message(poster, "Cath lab is 40 min away: lyse or transfer?")
        expect(tab1.locator("#messages .msg", has_text="lyse or transfer")).to_have_count(1)
        send_message(tab1, "Transfer for primary PCI; aspirin and heparin now.")
        expect(poster.locator("#messages .msg", has_text="primary PCI")).to_have_count(1)
        answer = poster.locator("#messages .msg", has_text="primary PCI")
        expect(answer.locator(".author")).to_have_text(handle)
        # The second tab follows the notice into the same room.
        tab2.click("#urgent-notice-open")
        expect(tab2.locator("#messages .msg", has_text="primary PCI")).to_have_count(1)
        assert poster.dialogs == [] and tab1.dialogs == []
        close_pages(poster, tab1)

    browser.run(steps)


def test_spanish_strings_decline_and_withdraw(browser, daphne_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine", languages=("es",))
    _, cardio_email, _ = make_physician(languages=("es",))
    summary = f"Mujer de 70 años, FA rápida a 150 lpm, hipotensa [{uuid.uuid4().hex[:6]}]"
    routine = f"Consulta rutinaria: QT largo con haloperidol [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        poster, cardio = new_page(chromium, locale="es-ES"), new_page(chromium, locale="es-ES")
        login(poster, daphne_server, poster_email, password)
        login(cardio, daphne_server, cardio_email, password)
        expect(cardio.locator('label[for="on-call"]')).to_have_text("De guardia")
        expect(cardio.locator("#presence-status option")).to_have_text(["Disponible", "Ocupado", "Ausente"])
        _on_call(cardio)
        join_room(cardio, "lounge-cardiology")

        poster.click("#post-open")
        expect(poster.locator("#tpl-title-h")).to_have_text("Publicar un caso para colegas")
        expect(poster.locator("#tpl-urgency option")).to_have_text(
            ["Rutinaria: los colegas responden cuando pueden",
             "Urgente: ofrecerlo ya a un especialista disponible"])
        cardiology = poster.locator("#tpl-specialty option", has_text=re.compile("^Cardiología$"))
        expect(cardiology).to_have_count(1)
        poster.click("#tpl-submit")  # nothing chosen yet
        expect(poster.locator("#tpl-error")).to_have_text("Elige una especialidad y escribe tu pregunta.")
        poster.click("#tpl-cancel")
        _post(poster, specialty="cardiology", summary=summary, urgent=True)
        expect(poster.locator("#room-title")).to_have_text("Caso de Cardiología")
        expect(poster.locator("#case-timeline li").first).to_contain_text("Publicado como urgente")
        expect(poster.locator('#case-timeline li[data-step="offered"]')).to_have_text(
            re.compile(r"Ofrecido a \d+ especialistas? \(nivel 1\)"))

        alert = _offer(cardio, summary)
        expect(alert.locator("h2")).to_have_text("Caso urgente: Cardiología")
        expect(alert.locator(".offer-countdown")).to_have_text(re.compile(r"Responde en \d:\d\d"))
        alert.get_by_role("button", name="Rechazar").click()
        expect(alert).to_have_count(0)
        expect(poster.locator('#case-timeline li[data-step="declined"]')).to_have_text(
            re.compile("Un especialista lo rechazó"))

        poster.get_by_role("button", name="Retirar el caso").click()
        expect(poster.locator('#case-timeline li[data-step="withdrawn"]')).to_contain_text("Retirado")
        expect(poster.locator("#case-meta .badge.withdrawn")).to_have_text("retirado")
        expect(poster.locator("#case-withdraw")).to_be_hidden()

        # A routine case shows as a card in the lounge, without an Accept button.
        _post(poster, specialty="cardiology", summary=routine, urgent=False)
        card = cardio.locator("#messages .case-card", has_text=routine)
        expect(card.locator(".case-kind")).to_have_text("Caso nuevo")
        expect(card.locator(".badge.routine")).to_have_text("rutinario")
        expect(card.get_by_role("button", name="Aceptar")).to_have_count(0)
        close_pages(poster, cardio)

    browser.run(steps)


def test_lounge_call_card_can_be_accepted(browser, quiet_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()
    summary = f"Tamponade? Pulsus paradoxus after a central line [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        poster, cardio = new_page(chromium), new_page(chromium)
        login(poster, quiet_server, poster_email, password)
        login(cardio, quiet_server, cardio_email, password)
        # Busy: no offer for her, so with nobody else online the router calls the lounge.
        cardio.locator("#presence-status").select_option("busy")
        expect(cardio.locator("#presence-status")).to_be_enabled()
        expect(cardio.locator("#presence-status")).to_have_value("busy")
        join_room(cardio, "lounge-cardiology")

        _post(poster, specialty="cardiology", summary=summary, urgent=True)
        expect(poster.locator('#case-timeline li[data-step="lounge_called"]')).to_contain_text(
            "Called the Cardiology lounge: any member may accept")
        expect(poster.locator('#case-timeline li[data-step="escalated"]')).to_have_count(3)

        card = cardio.locator("#messages .case-card", has_text=summary)
        expect(card.locator(".case-kind")).to_have_text("Urgent case: any member may accept")
        expect(cardio.locator("#offers .offer")).to_have_count(0)
        card.get_by_role("button", name="Accept").click()
        expect(cardio.locator("#room-title")).to_have_text("Cardiology case")
        expect(poster.locator('#case-timeline li[data-step="accepted"]')).to_contain_text("Accepted by Dr. ")
        close_pages(poster, cardio)

    browser.run(steps)


def test_a_case_summary_with_an_mrn_is_flagged_then_posted_when_confirmed(browser, daphne_server,
                                                                         make_physician):
    _, email, password = make_physician(specialty="emergency-medicine", languages=("es",))
    summary = "Varón de 58 años, NHC 7788990, BRIHH nuevo y dolor torácico de 2 h. ¿Cateterismo?"

    def steps(chromium: Browser) -> None:
        page = new_page(chromium, locale="es-ES")
        login(page, daphne_server, email, password)
        page.click("#post-open")
        page.locator("#tpl-specialty").select_option("cardiology")
        page.locator("#tpl-question").fill(summary)
        page.click("#tpl-submit")
        warning = page.locator("#tpl-phi")
        expect(warning.locator(".phi-title")).to_have_text(
            "Tu pregunta puede contener datos identificativos de un paciente")
        expect(warning.locator("mark.phi-span")).to_have_text(["7788990"])
        expect(warning.locator(".phi-kinds")).to_contain_text("número de historia o expediente")
        expect(page.locator("#tpl-dialog")).to_be_visible()  # nothing was posted

        warning.get_by_role("button",
                            name="Publicar de todos modos (no son datos de un paciente)").click()
        expect(page.locator("#tpl-dialog")).to_be_hidden()
        expect(page.locator("#case-summary")).to_have_text(summary)
        expect(page.locator("#room-members")).to_have_text(re.compile(r"\d+"))  # in the room
        close_pages(page)

    browser.run(steps)
