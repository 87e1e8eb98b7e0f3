"""The profile page, in real headless Chromium against a real daphne: languages and extra
specialties (the sidebar gains the new specialty's lounge), the on-call schedule edited in
local time and stored as physicians/oncall.py's windows in the browser's time zone, the
pseudonym explanation with this room's pseudonym, a password change that keeps this tab
signed in (its socket comes back) while the account's other session is closed (4401), and
the same page in Spanish; axe finds no serious or critical violation; everything fits a
phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from physicians.models import Physician
from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import PHONE, assert_fits, close_pages, join_room, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)

NEW_PASSWORD = "night-shift-passphrase-77"
CONTROLS = ("#profile-back", "#profile-languages input", "#profile-add-specialty", "#profile-add",
            "#profile-save", "#schedule-tz", "#schedule-add", "#schedule-save",
            "#password-current", "#password-new", "#password-save")


def test_profile_page_on_a_phone(browser, daphne_server, make_physician):
    user, email, password = make_physician(languages=("en",))
    zone = "America/Mexico_City"

    def steps(chromium: Browser) -> None:
        page = with_axe(new_page(chromium, viewport=PHONE, timezone_id=zone))
        login(page, daphne_server, email, password)
        other = new_page(chromium)  # the same account in another browser: signed out later
        login(other, daphne_server, email, password)
        join_room(page, "lounge-general")
        handle = page.locator("#room-me").inner_text()
        pseudonym = re.search(r"Others see you here as (.+?)\. Each", handle).group(1)

        page.locator("#profile-open").click()
        expect(page.locator("#profile-title")).to_be_focused()
        expect(page.locator("#profile-pseudo")).to_contain_text(
            "Only moderators, through an audited escrow, can link it to you")
        expect(page.locator("#profile-pseudo-rooms")).to_contain_text(
            f"Doctors' lounge: others see you as {pseudonym}")
        expect(page.locator("#profile-primary")).to_contain_text("Cardiology")
        # The licence's country, by its name and label (it once read "Licence number: GB").
        expect(page.locator("#profile-facts")).to_contain_text("Country of your licence")
        expect(page.locator("#profile-facts")).to_contain_text("United Kingdom")
        expect(page.locator("#profile-facts")).not_to_contain_text("Licence number")
        expect(page.locator("#schedule-tz")).to_have_value(zone)
        expect(page.locator("#schedule-tz-now")).to_contain_text("America/Mexico City")
        expect(page.locator("#schedule-empty")).to_be_visible()
        for sel in CONTROLS:
            expect(page.locator(sel).first).to_be_visible()
        assert_accessible(page, "profile")

        # Languages and one more specialty.
        page.locator("#profile-lang-es").check()
        page.locator("#profile-add-specialty").select_option("neurology")
        page.locator("#profile-add").click()
        expect(page.locator('#profile-extra [data-slug="neurology"]')).to_have_text(re.compile("Neurology"))
        page.locator("#profile-save").click()
        expect(page.locator("#profile-form-status")).to_have_text("Saved.")

        # Two weekly slots in local time: a night shift that ends the next day, a day shift.
        page.locator("#schedule-add").click()
        expect(page.locator("#slot-day-0")).to_be_focused()
        expect(page.locator('[data-slot="0"] .slot-next')).to_have_text("(ends the next day)")
        page.locator("#schedule-add").click()
        expect(page.locator("#slot-day-1")).to_have_value("tue")
        page.locator("#slot-start-1").fill("09:00")
        page.locator("#slot-end-1").fill("17:30")
        expect(page.locator('[data-slot="1"] .slot-next')).to_have_text("")
        page.locator("#schedule-add").click()
        page.get_by_role("button", name="Remove slot 3").click()
        expect(page.locator("#schedule-slots .slot")).to_have_count(2)
        page.locator("#schedule-save").click()
        expect(page.locator("#schedule-status")).to_have_text("Schedule saved.")
        assert_accessible(page, "profile, edited")
        assert_fits(page, *(s if s != "#profile-languages input" else "#profile-lang-es" for s in CONTROLS))

        # A wrong current password says so; the right one keeps this tab signed in.
        page.locator("#password-current").fill("not my password")
        page.locator("#password-new").fill(NEW_PASSWORD)
        page.locator("#password-save").click()
        expect(page.locator("#password-error")).to_have_text("The current password is wrong.")
        expect(page.locator("#password-current")).to_be_focused()
        page.locator("#password-current").fill(password)
        # The server closes this tab's socket too (4401); the tab opens a new one.
        with page.expect_websocket(timeout=15_000):
            page.locator("#password-save").click()
        expect(page.locator("#password-status")).to_contain_text("Password changed.")
        expect(other.locator("#login-error")).to_have_text("Your session has ended. Please sign in again.")
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(page.locator("#login-view")).to_be_hidden()

        # Back in the chat: the new specialty's lounge is one of mine.
        page.locator("#profile-back").click()
        expect(page.locator("#profile-view")).to_be_hidden()
        page.locator("#drawer-toggle").click()
        expect(page.locator('#lounges-mine [data-room="lounge-neurology"]')).to_be_visible()
        page.keyboard.press("Escape")

        # In Spanish after a reload: what was saved, in words of the other language.
        page.reload()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        page.get_by_role("button", name="Español").click()
        page.locator("#profile-open").click()
        expect(page.locator("#profile-title")).to_have_text("Tu perfil")
        expect(page.locator("#schedule-title")).to_have_text("Turnos de guardia")
        expect(page.locator("#schedule-slots .slot")).to_have_count(2)
        expect(page.locator("#slot-day-0 option:checked")).to_have_text("lunes")
        expect(page.locator("#slot-end-1")).to_have_value("17:30")
        expect(page.locator("#profile-lang-es")).to_be_checked()
        expect(page.locator('#profile-extra [data-slug="neurology"]')).to_have_text(re.compile("Neurología"))
        expect(page.locator("#password-title")).to_have_text("Cambiar la contraseña")
        assert_accessible(page, "perfil")
        assert page.dialogs == []
        close_pages(page, other)

    browser.run(steps)
    stored = Physician.objects.get(user=user)
    assert stored.on_call_schedule == [["mon", "18:00", "08:00"], ["tue", "09:00", "17:30"]]
    assert stored.time_zone == zone
    assert stored.languages == ["en", "es"]
    assert [s.slug for s in stored.specialties.all()] == ["neurology"]
    stored.user.refresh_from_db()
    assert stored.user.check_password(NEW_PASSWORD)
