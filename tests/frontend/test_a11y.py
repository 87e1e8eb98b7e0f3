"""Accessibility of every screen, in real headless Chromium against a real daphne: axe-core
(vendored, tests/support/axe/) finds no serious or critical violation on the login, sign-up,
pending, home, lounge, post-a-case, offer, verifier and moderator screens (desktop and phone, English and
Spanish); the post-a-case dialog and the room drawer work from the keyboard and give focus
back where it was."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from physicians.states import LicenceStatus
from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import DESKTOP, PHONE, close_pages, login, new_page, send_message
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def _page(chromium: Browser, **kw) -> Page:
    return with_axe(new_page(chromium, **kw))


@pytest.mark.parametrize("viewport,locale", [(DESKTOP, "en-US"), (PHONE, "es-ES")],
                         ids=["desktop-en", "phone-es"])
def test_every_screen_passes_axe(browser, daphne_server, make_physician, viewport, locale):
    phone = viewport == PHONE
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()
    _, pending_email, _ = make_physician(status=LicenceStatus.PENDING)
    _, verifier_email, _ = make_physician(role="verifier", specialty="family-medicine")
    code = otp_fields(verifier_email)["otp"]
    _, mod_email, _ = make_physician(role="moderator", specialty="family-medicine")
    mod_code = otp_fields(mod_email)["otp"]
    summary = f"Hyperkalaemia 7.1 with peaked T waves: calcium first? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        page = _page(chromium, viewport=viewport, locale=locale)
        page.goto(daphne_server.http + "/")
        expect(page.locator("#login-submit")).to_be_enabled()
        assert_accessible(page, "login")
        page.locator("#signup-open").click()
        expect(page.locator("#signup-first")).to_be_focused()
        assert_accessible(page, "sign-up")
        page.locator("#signup-back").click()

        page.fill("#login-email", pending_email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        expect(page.locator("#pending-view")).to_be_visible()
        assert_accessible(page, "pending")
        page.locator("#pending-logout").click()
        expect(page.locator("#login-view")).to_be_visible()

        login(page, daphne_server, cardio_email, password)
        expect(page.locator("#home")).to_be_visible()
        assert_accessible(page, "home")
        if phone:
            page.locator("#drawer-toggle").click()
            expect(page.locator("#sidebar")).to_be_visible()
            expect(page.locator("#sidebar [aria-current=page]")).to_be_focused()
            page.keyboard.press("Escape")
            expect(page.locator("#sidebar")).to_be_hidden()
            expect(page.locator("#drawer-toggle")).to_be_focused()
            page.locator("#drawer-toggle").click()
        page.locator('#lounges-mine [data-room="lounge-cardiology"]').click()
        expect(page.locator("#room-members")).not_to_be_empty()
        send_message(page, "Anyone seen the new ESC syncope guideline?")
        expect(page.locator("#messages .msg[data-state=delivered]")).to_have_count(1)
        assert_accessible(page, "lounge")

        # The post-a-case dialog from the keyboard: focus goes in, Escape gives it back.
        if phone:
            page.locator("#drawer-toggle").click()
        page.locator("#post-open").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#tpl-dialog")).to_be_visible()
        expect(page.locator("#tpl-title")).to_be_focused()  # the template's first field
        assert_accessible(page, "post a case")
        page.keyboard.press("Escape")
        expect(page.locator("#tpl-dialog")).to_be_hidden()
        # Back where it was: "Post a case", or on a phone the drawer's button (the drawer closed).
        expect(page.locator("#drawer-toggle" if phone else "#post-open")).to_be_focused()

        # An urgent offer on screen.
        page.locator("#on-call").check()
        expect(page.locator("#on-call")).to_be_enabled()
        if page.locator("#notify-ask").is_visible():
            assert_accessible(page, "notification explanation")
            page.locator("#notify-later").click()
        poster = new_page(chromium)
        login(poster, daphne_server, poster_email, password)
        poster.click("#post-open")
        poster.locator("#tpl-specialty").select_option("cardiology")
        poster.locator("#tpl-question").fill(summary)
        poster.locator("#tpl-urgency").select_option("urgent")
        poster.click("#tpl-submit")
        expect(page.locator("#offers .offer", has_text=summary)).to_be_visible()
        assert_accessible(page, "offer")
        page.locator("#offers .offer .accept").click()
        expect(page.locator("#case-summary")).to_have_text(summary)
        assert_accessible(page, "case room")
        close_pages(poster)

        # The verifier console.
        page.locator("#logout").click()
        expect(page.locator("#login-view")).to_be_visible()
        page.fill("#login-email", verifier_email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.fill("#login-otp", code)
        page.click("#login-submit")
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        page.locator("#verify-open").click()
        expect(page.locator("#verify-queue .console-card").first).to_be_visible()
        expect(page.locator("#verify-title")).to_be_focused()
        assert_accessible(page, "verifier console")

        # The moderator console.
        page.locator("#logout").click()
        expect(page.locator("#login-view")).to_be_visible()
        page.fill("#login-email", mod_email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        page.fill("#login-otp", mod_code)
        page.click("#login-submit")
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        page.locator("#mod-open").click()
        expect(page.locator("#mod-queue li").first).to_be_visible()
        expect(page.locator("#mod-title")).to_be_focused()
        assert_accessible(page, "moderator console")
        close_pages(page)

    browser.run(steps)
