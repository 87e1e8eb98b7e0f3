"""The acceptance flow of a new doctor, in real headless Chromium against a real daphne: sign
up on a phone, wait on the pending page, get verified by a verifier in the console (licence
number and the registry's answer shown, the decision in the audit trail), then post an
urgent case and receive an on-call specialist's answer."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import DESKTOP, PHONE, assert_fits, close_pages, login, new_page, send_message
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def test_sign_up_pending_verified_in_the_console_then_a_case_answered(browser, daphne_server,
                                                                     make_physician):
    _, verifier_email, password = make_physician(role="verifier", specialty="family-medicine")
    code = otp_fields(verifier_email)["otp"]  # staff sign in with a one-time code
    _, cardio_email, _ = make_physician()
    email = f"lucia.marin.{uuid.uuid4().hex[:8]}@example.test"
    licence = f"28{random.randint(0, 9_999_999):07d}"
    summary = f"New AF with RVR 160 after hip surgery: rate or rhythm? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        doctor = new_page(chromium, viewport=PHONE)
        doctor.goto(daphne_server.http + "/")
        doctor.get_by_role("button", name="Create an account").click()
        expect(doctor.locator("#signup-title")).to_have_text("Create your Curbside account")
        expect(doctor.locator("#signup-first")).to_be_focused()
        doctor.fill("#signup-first", "Lucía")
        doctor.fill("#signup-last", "Marín")
        doctor.fill("#signup-email", email)
        doctor.fill("#signup-password", "a long passphrase 42")
        doctor.locator("#signup-country").select_option("ES")
        doctor.fill("#signup-licence", "12")
        expect(doctor.locator('#signup-specialty option[value="cardiology"]')).to_have_count(1)
        doctor.locator("#signup-specialty").select_option("emergency-medicine")
        doctor.get_by_label("Español").check()
        assert_fits(doctor, "#signup-first", "#signup-last", "#signup-country", "#signup-licence",
                    "#signup-submit")
        doctor.click("#signup-submit")
        expect(doctor.locator("#signup-error")).to_contain_text("licence number")
        doctor.fill("#signup-licence", licence)
        doctor.click("#signup-submit")

        # Signed in, not verified: what happens next, no chat.
        expect(doctor.locator("#pending-title")).to_have_text("Your licence is being checked")
        expect(doctor.locator("#pending-next")).to_contain_text(email)
        expect(doctor.locator("#chat-view")).to_be_hidden()
        assert_fits(doctor, "#pending-check", "#pending-logout")
        doctor.click("#pending-check")
        expect(doctor.locator("#pending-status")).to_have_text(re.compile("Not verified yet"))

        # The verifier finds the claim with everything needed to check it, and approves it.
        verifier = new_page(chromium, viewport=DESKTOP)
        verifier.goto(daphne_server.http + "/")
        verifier.fill("#login-email", verifier_email)
        verifier.fill("#login-password", password)
        verifier.click("#login-submit")
        verifier.fill("#login-otp", code)
        verifier.click("#login-submit")
        expect(verifier.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        verifier.get_by_role("button", name="Verification").click()
        claim = verifier.locator("#verify-queue .console-card", has_text=email)
        expect(claim.locator("h3")).to_have_text("Lucía Marín")
        expect(claim.locator(".facts")).to_contain_text(licence)
        expect(claim.locator(".facts")).to_contain_text("ES")
        expect(claim.locator(".registry")).to_contain_text("licence number not found in the registry")
        expect(claim).to_contain_text("No decision yet.")
        claim.get_by_role("button", name="Reject").click()
        expect(claim.locator(".error")).to_have_text("Give a reason to reject.")
        reason = "Colegio de Médicos de Madrid: número confirmado"
        claim.get_by_label("Reason").fill(reason)
        claim.get_by_role("button", name="Approve").click()
        expect(verifier.locator("#verify-queue .console-card", has_text=email)).to_have_count(0)
        done = verifier.locator("#verify-decided .console-card", has_text=email)
        expect(done.locator(".timeline li")).to_contain_text("pending → verified")
        expect(done.locator(".timeline li")).to_contain_text("by a verifier")
        expect(done.locator(".timeline li .reason")).to_have_text(reason)

        # Verified: "Check again" lets the doctor in; an urgent case gets an answer.
        cardio = new_page(chromium)
        login(cardio, daphne_server, cardio_email, password)
        cardio.locator("#on-call").check()
        expect(cardio.locator("#on-call")).to_be_enabled()
        doctor.click("#pending-check")
        expect(doctor.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(doctor.locator("#room-title")).to_have_text("Home")
        doctor.locator("#drawer-toggle").click()
        doctor.click("#post-open")
        doctor.locator("#tpl-specialty").select_option("cardiology")
        doctor.locator("#tpl-question").fill(summary)
        doctor.locator("#tpl-urgency").select_option("urgent")
        doctor.click("#tpl-submit")
        expect(doctor.locator("#case-summary")).to_have_text(summary)
        cardio.locator("#offers .offer", has_text=summary).get_by_role("button", name="Accept").click()
        expect(cardio.locator("#case-summary")).to_have_text(summary)
        send_message(cardio, "Rate control first: diltiazem; anticoagulate once bleeding risk allows.")
        expect(doctor.locator("#messages .msg", has_text="diltiazem")).to_have_count(1)
        expect(doctor.locator("#room-me")).to_contain_text("Others see you here as Dr. ")
        assert doctor.dialogs == [] and verifier.dialogs == []
        close_pages(doctor, verifier, cardio)

    browser.run(steps)
