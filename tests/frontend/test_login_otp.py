"""The login form asks for a one-time code when the server says one is needed (a moderator
here: staff always sign in with a code), in English and Spanish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, expect

from tests.support.browser import new_page as _page
from tests.support.otp import device_code

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_moderator_is_asked_for_the_code_and_signs_in_with_it(browser,
                                                                daphne_server, make_physician):
    physician, email, password = make_physician(role="moderator")
    device = TOTPDevice.objects.get(user_id=physician.user_id)
    pages = {}

    def password_then_wrong_code(chromium: Browser) -> None:
        page = pages["en"] = _page(chromium)
        page.goto(daphne_server.http + "/")
        expect(page.locator("#login-otp-group")).to_be_hidden()
        page.fill("#login-email", email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text(
            "Enter the one-time code from your authenticator app.")
        expect(page.locator("#login-otp")).to_be_visible()
        expect(page.locator("#login-otp")).to_be_focused()
        expect(page.locator("label[for=login-otp]")).to_have_text("One-time code")
        assert page.sockets == []
        page.fill("#login-otp", "000000" if device_code(device) != "000000" else "111111")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text(
            "The code is wrong or was already used. Wait for the next one.")
        expect(page.locator("#chat-view")).to_be_hidden()

    browser.run(password_then_wrong_code)
    # django-otp's back-off after the wrong code (1 s), run out at once.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(hours=1))
    code = device_code(device)

    def right_code(chromium: Browser) -> None:
        page = pages["en"]
        page.fill("#login-otp", code)
        page.click("#login-submit")
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(page.locator("#login-view")).to_be_hidden()
        page.context.close()

    browser.run(right_code)

    def spanish(chromium: Browser) -> None:
        page = _page(chromium, locale="es-ES")
        page.goto(daphne_server.http + "/")
        page.fill("#login-email", email)
        page.fill("#login-password", password)
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text(
            "Escribe el código de un solo uso de tu aplicación de autenticación.")
        expect(page.locator("label[for=login-otp]")).to_have_text("Código de un solo uso")
        page.screenshot(path="/tmp/i5-login-otp-es.png")
        page.context.close()

    browser.run(spanish)
