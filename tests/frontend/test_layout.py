"""The web client's layout on a phone (390×844, touch) and on a desktop (1280×800), in real
headless Chromium against a real daphne.

Each screen of the main flow (login, a lounge, the post-a-case dialog, an urgent offer, the
case room) is checked the same way (``assert_fits`` in tests/support/browser.py): the page
is no wider than the viewport, and each control a user needs there lies inside the viewport
with nothing on top of it (the element at its centre is the control itself).
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    DESKTOP,
    PHONE,
    assert_fits,
    close_pages,
    login,
    new_page,
    send_message,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)
TOP_BAR = ("#logout", '.lang-btn[data-lang="en"]', '.lang-btn[data-lang="es"]', "#presence-status",
           "#on-call")


def _open_lounge(page: Page, room: str, *, phone: bool) -> None:
    if phone:
        expect(page.locator("#sidebar")).to_be_hidden()
        page.locator("#drawer-toggle").click()
        expect(page.locator("#sidebar")).to_be_visible()
        expect(page.locator("#drawer-toggle")).to_have_attribute("aria-expanded", "true")
        wait_for(page, "document.getElementById('sidebar').getBoundingClientRect().left >= 0")  # slid in
        assert_fits(page, "#post-open", f'#lounges-mine [data-room="{room}"]', "#specialty-search")
    page.locator(f'#lounges-mine [data-room="{room}"]').click()
    expect(page.locator("#room-members")).to_contain_text("member")
    if phone:
        # Picking a room closes the drawer and gives the room the whole width.
        expect(page.locator("#sidebar")).to_be_hidden()
        expect(page.locator("#drawer-toggle")).to_have_attribute("aria-expanded", "false")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone-390x844", "desktop-1280x800"])
def test_main_flow_fits_the_viewport(browser, daphne_server, make_physician, viewport):
    phone = viewport == PHONE
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()
    summary = f"Wide QRS tachycardia at 180, BP 95/60: adenosine or cardiovert? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        page = new_page(chromium, viewport=viewport)
        poster = new_page(chromium, viewport=DESKTOP)
        page.goto(daphne_server.http + "/")
        expect(page.locator("#login-submit")).to_be_enabled()
        assert_fits(page, "#login-email", "#login-password", "#login-submit", '.lang-btn[data-lang="es"]')

        login(page, daphne_server, cardio_email, password)
        login(poster, daphne_server, poster_email, password)
        assert_fits(page, *TOP_BAR)
        expect(page.locator("#drawer-toggle")).to_be_visible() if phone else \
            expect(page.locator("#drawer-toggle")).to_be_hidden()

        _open_lounge(page, "lounge-cardiology", phone=phone)
        send_message(page, "x" * 300 + " https://example.org/" + "a" * 200)  # nowhere to wrap
        # The PHI guard flags the web address: its panel and buttons fit too.
        expect(page.locator("#phi-warning .phi-title")).to_be_visible()
        assert_fits(page, "#phi-edit", "#phi-send-anyway")
        page.locator("#phi-send-anyway").click()
        expect(page.locator("#messages .msg[data-state=delivered]")).to_have_count(1)
        assert_fits(page, *TOP_BAR, "#composer-input", "#send", "#messages .msg .reply-btn")
        if phone:
            assert_fits(page, "#drawer-toggle")

        # The post-a-case dialog, from the drawer on a phone.
        if phone:
            page.locator("#drawer-toggle").click()
        page.locator("#post-open").click()
        expect(page.locator("#tpl-dialog")).to_be_visible()
        assert_fits(page, "#tpl-specialty", "#tpl-question", "#tpl-urgency", "#tpl-language",
                    "#tpl-cancel", "#tpl-submit")
        page.locator("#tpl-cancel").click()
        expect(page.locator("#tpl-dialog")).to_be_hidden()

        # An urgent offer while on call: the card and its buttons are on screen.
        page.locator("#on-call").check()
        expect(page.locator("#on-call")).to_be_enabled()
        # Going on call may explain notifications first (asked once): that panel fits too.
        if page.locator("#notify-ask").is_visible():
            assert_fits(page, "#notify-allow", "#notify-later", *TOP_BAR)
            page.locator("#notify-later").click()
        poster.click("#post-open")
        poster.locator("#tpl-specialty").select_option("cardiology")
        poster.locator("#tpl-question").fill(summary)
        poster.locator("#tpl-urgency").select_option("urgent")
        poster.click("#tpl-submit")
        offer = page.locator("#offers .offer", has_text=summary)
        expect(offer).to_be_visible()
        sel = f'#offers .offer[data-case="{offer.get_attribute("data-case")}"]'
        assert_fits(page, f"{sel} .accept", f"{sel} .decline", f"{sel} h2")
        page.screenshot(path=f"/tmp/web-pt/offer-{viewport['width']}.png")
        offer.locator(".accept").click()
        expect(page.locator("#case-summary")).to_have_text(summary)
        expect(page.locator("#room-members")).to_have_text("2 members")
        # This tab accepted: it is not told it accepted "in another tab".
        expect(page.locator("#urgent-notice")).to_be_hidden()
        page.screenshot(path=f"/tmp/web-pt/layout-{viewport['width']}.png")
        assert_fits(page, *TOP_BAR, "#composer-input", "#send", "#case-summary")
        assert page.dialogs == []
        close_pages(page, poster)

    browser.run(steps)
