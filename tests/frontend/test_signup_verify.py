"""The acceptance flow of issue 13 as one story, in real headless Chromium against a real
daphne, on a desktop (1280×800) and on a phone (390×844): a new doctor signs up, waits on the
pending page, is verified by a verifier in the console (licence number and the registry's
answer shown, the decision in the audit trail), posts an urgent case; the on-call specialist
is alerted (a browser notification raised and the ring played, observed through the page),
accepts, answers, reloads and finds the consult again; a message in the case room is
reported and a moderator hides it and resolves the report from the console, the report
arriving there live; axe finds no serious or critical violation on any of those screens, and
nothing overflows the viewport."""

from __future__ import annotations

import random
import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import (
    ALERT_HOOKS,
    DESKTOP,
    PHONE,
    assert_fits,
    close_pages,
    from_sidebar,
    login,
    new_page,
    send_message,
    wait_for,
)
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def _staff_login(page, server, email: str, password: str, code: str) -> None:
    page.goto(server.http + "/")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")
    page.fill("#login-otp", code)
    page.click("#login-submit")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_sign_up_verified_case_alerted_accepted_reloaded_and_moderated(browser, daphne_server,
                                                                       make_physician, viewport):
    _, verifier_email, password = make_physician(role="verifier", specialty="family-medicine")
    code = otp_fields(verifier_email)["otp"]  # staff sign in with a one-time code
    _, mod_email, _ = make_physician(role="moderator", specialty="family-medicine")
    mod_code = otp_fields(mod_email)["otp"]
    _, cardio_email, _ = make_physician()
    email = f"lucia.marin.{uuid.uuid4().hex[:8]}@example.test"
    licence = f"28{random.randint(0, 9_999_999):07d}"
    summary = f"New AF with RVR 160 after hip surgery: rate or rhythm? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        doctor = with_axe(new_page(chromium, viewport=viewport))
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
        assert_accessible(doctor, "pending")
        verifier = with_axe(new_page(chromium, viewport=viewport))
        _staff_login(verifier, daphne_server, verifier_email, password, code)
        verifier.get_by_role("button", name="Verification").click()
        claim = verifier.locator("#verify-queue .console-card", has_text=email)
        expect(claim.locator("h3")).to_have_text("Lucía Marín")
        expect(claim.locator(".facts")).to_contain_text(licence)
        expect(claim.locator(".facts")).to_contain_text("ES")
        expect(claim.locator(".registry")).to_contain_text("licence number not found in the registry")
        expect(claim).to_contain_text("No decision yet.")
        assert_accessible(verifier, "verifier console")
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

        # The on-call cardiologist's browser records notifications and the ring (test_alerts).
        cardio = with_axe(new_page(chromium, viewport=viewport, permissions=["notifications"]))
        cardio.add_init_script(ALERT_HOOKS)
        login(cardio, daphne_server, cardio_email, password)
        cardio.locator("#on-call").check()  # a gesture: the page may play sound from now on
        expect(cardio.locator("#on-call")).to_be_enabled()

        # Verified: "Check again" lets the doctor in; an urgent case gets an answer.
        doctor.click("#pending-check")
        expect(doctor.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(doctor.locator("#room-title")).to_have_text("Home")
        assert_accessible(doctor, "home")
        from_sidebar(doctor, "#post-open")
        doctor.locator("#tpl-specialty").select_option("cardiology")
        doctor.locator("#tpl-question").fill(summary)
        doctor.locator("#tpl-urgency").select_option("urgent")
        assert_fits(doctor, "#tpl-submit")
        doctor.click("#tpl-submit")
        expect(doctor.locator("#case-summary")).to_have_text(summary)

        # Alerted: the card, the notification, the two tones, the title.
        offer = cardio.locator("#offers .offer", has_text=summary)
        expect(offer).to_be_visible()
        notes = wait_for(cardio, "window.__notes.length && window.__notes")
        assert notes == [{"title": "Urgent case: Cardiology", "body": summary, "closed": False}]
        assert cardio.evaluate("window.__beeps") >= 2
        expect(cardio).to_have_title("(1) ⚡ Urgent case waiting · Curbside")
        assert_fits(cardio, "#offers .offer[data-case] .accept")
        assert_accessible(cardio, "offer")
        offer.get_by_role("button", name="Accept").click()
        expect(cardio.locator("#case-summary")).to_have_text(summary)
        assert wait_for(cardio, "window.__notes[0].closed")
        send_message(cardio, "Rate control first: diltiazem; anticoagulate once bleeding risk allows.")
        expect(doctor.locator("#messages .msg", has_text="diltiazem")).to_have_count(1)
        expect(doctor.locator("#room-me")).to_contain_text("Others see you here as Dr. ")
        assert_accessible(doctor, "case room")

        # A reload: the consult is there again (the last room reopens, its messages too).
        cardio.reload()
        expect(cardio.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(cardio.locator("#case-summary")).to_have_text(summary)
        expect(cardio.locator("#messages .msg", has_text="diltiazem")).to_have_count(1)
        from_sidebar(cardio, "#home-open")
        expect(cardio.locator("#home-cases")).to_contain_text("you are consulting")

        # A remark in the case room is reported; the moderator acts from the console.
        rude = f"Thanks. Your colleague last night was useless, by the way [{summary[-7:-1]}]"
        send_message(doctor, rude)
        moderator = with_axe(new_page(chromium, viewport=viewport))
        _staff_login(moderator, daphne_server, mod_email, password, mod_code)
        moderator.get_by_role("button", name="Moderation").click()
        expect(moderator.locator("#mod-title")).to_be_focused()
        cardio.locator("#home-cases [data-room]", has_text="you are consulting").first.click()
        reported = cardio.locator("#messages .msg", has_text="useless")
        reported.get_by_role("button", name="Report").click()
        cardio.get_by_label("Why report it").fill("Unprofessional about a colleague")
        cardio.get_by_role("button", name="Send the report").click()
        expect(reported.locator(".report-status")).to_have_text("Reported. A moderator will look at it.")
        card = moderator.locator("#mod-queue .report-card", has_text="Unprofessional about a colleague")
        expect(card).to_be_visible()  # live: report.filed
        expect(card.locator(".ctx-msg.reported")).to_contain_text("useless")
        assert_accessible(moderator, "moderator console")
        card.get_by_role("button", name="Hide").click()
        expect(card.locator(".mod-status")).to_have_text("Hidden.")
        expect(doctor.locator("#messages .msg", has_text="Hidden by a moderator")).to_have_count(1)
        card.get_by_label(re.compile("Resolution note")).fill("Hidden; reminded of the code of conduct.")
        card.get_by_role("button", name="Resolve").click()
        expect(card).to_have_count(0)
        assert doctor.dialogs == [] and verifier.dialogs == [] and cardio.dialogs == []
        close_pages(doctor, verifier, cardio, moderator)

    browser.run(steps)
