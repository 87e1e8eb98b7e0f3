"""Alerts for urgent offers, observed through the page in real headless Chromium: the sound
(Web Audio oscillators started), the browser notification (Notification constructed and
closed), the tab title, the sound switch remembered across a reload, and the one-time
explanation before the browser asks for notification permission."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import ALERT_HOOKS, close_pages, login, new_page, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)



def _page(chromium: Browser, *, granted: bool, locale: str = "en-US") -> Page:
    """A page that records alerts; ``granted=False``: notifications never asked for yet."""
    page = new_page(chromium, locale=locale, permissions=["notifications"] if granted else [])
    page.add_init_script(ALERT_HOOKS if granted else 'window.__permission = "default";\n' + ALERT_HOOKS)
    return page


def _post_urgent(poster: Page, summary: str) -> None:
    poster.click("#post-open")
    poster.locator("#tpl-specialty").select_option("cardiology")
    poster.locator("#tpl-question").fill(summary)
    poster.locator("#tpl-urgency").select_option("urgent")
    poster.click("#tpl-submit")
    expect(poster.locator("#case-summary")).to_have_text(summary)


def test_an_offer_rings_notifies_and_marks_the_title(browser, daphne_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()
    first = f"Aortic dissection? Tearing pain, BP differs 30 mmHg [{uuid.uuid4().hex[:6]}]"
    second = f"Pericarditis vs STEMI: diffuse ST elevation [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        cardio = _page(chromium, granted=True)
        poster = new_page(chromium)
        login(cardio, daphne_server, cardio_email, password)
        login(poster, daphne_server, poster_email, password)
        expect(cardio).to_have_title("Curbside")
        expect(cardio.locator("#alert-sound")).to_be_checked()
        cardio.locator("#on-call").check()  # a click: the page may now play sound
        expect(cardio.locator("#on-call")).to_be_enabled()
        expect(cardio.locator("#notify-ask")).to_be_hidden()  # permission already granted

        _post_urgent(poster, first)
        expect(cardio.locator("#offers .offer", has_text=first)).to_be_visible()
        expect(cardio).to_have_title("(1) ⚡ Urgent case waiting · Curbside")
        notes = wait_for(cardio, "window.__notes.length && window.__notes")
        assert notes == [{"title": "Urgent case: Cardiology", "body": first, "closed": False}]
        assert cardio.evaluate("window.__beeps") >= 2  # two short tones

        cardio.locator("#offers .offer", has_text=first).get_by_role("button", name="Accept").click()
        expect(cardio.locator("#case-summary")).to_have_text(first)
        expect(cardio).to_have_title("Curbside")
        assert wait_for(cardio, "window.__notes[0].closed")
        expect(cardio.locator("#urgent-notice")).to_be_hidden()

        # Sound off, remembered across a reload: the next offer notifies but stays silent.
        cardio.locator("#alert-sound").uncheck()
        cardio.reload()
        expect(cardio.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(cardio.locator("#alert-sound")).not_to_be_checked()
        cardio.locator("#room-title").click()  # a gesture, so only the switch can keep it silent
        _post_urgent(poster, second)
        expect(cardio.locator("#offers .offer", has_text=second)).to_be_visible()
        assert wait_for(cardio, "window.__notes.length === 1 && window.__notes[0].body")  == second
        expect(cardio).to_have_title("(1) ⚡ Urgent case waiting · Curbside")
        assert cardio.evaluate("window.__beeps") == 0
        close_pages(cardio, poster)

    browser.run(steps)


def test_notification_permission_is_explained_and_asked_once(browser, daphne_server, make_physician):
    _, email, password = make_physician(specialty="neurology", languages=("es",))

    def steps(chromium: Browser) -> None:
        page = _page(chromium, granted=False, locale="es-ES")
        login(page, daphne_server, email, password)
        expect(page.locator("#notify-ask")).to_be_hidden()
        page.locator("#on-call").check()
        ask = page.locator("#notify-ask")
        expect(ask).to_be_visible()
        expect(ask).to_contain_text("Permite las notificaciones del navegador")
        ask.get_by_role("button", name="Ahora no").click()
        expect(ask).to_be_hidden()
        assert page.evaluate("window.__asked") == 0  # "not now" does not make the browser ask

        # Answered once: going on call again, even after a reload, does not ask again.
        page.locator("#on-call").uncheck()
        expect(page.locator("#on-call")).to_be_enabled()
        page.reload()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        page.locator("#on-call").check()
        expect(page.locator("#on-call")).to_be_enabled()
        expect(page.locator("#on-call")).to_be_checked()
        expect(ask).to_be_hidden()

        # Another browser: "Allow" hands over to the browser's own question, once.
        other = _page(chromium, granted=False)
        login(other, daphne_server, email, password)
        expect(other.locator("#on-call")).to_be_checked()  # the server's state, read back
        other.locator("#on-call").uncheck()
        expect(other.locator("#on-call")).to_be_enabled()
        other.locator("#on-call").check()
        other.get_by_role("button", name="Allow notifications").click()
        expect(other.locator("#notify-ask")).to_be_hidden()
        assert wait_for(other, "window.__asked") == 1
        close_pages(page, other)

    browser.run(steps)
