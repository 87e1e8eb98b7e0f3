"""The page a mailed urgent-offer link opens, in real headless Chromium against a real
daphne: the addressee, signed in, takes the case with one button; the link then says it was
used; another specialist's link for the same case says the case is no longer waiting — in
Spanish for a Spanish browser."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from playwright.sync_api import Browser, expect

from consult import driver, services
from physicians.services import physician_on_call_set
from tests.support import mail
from tests.support.browser import close_pages, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

smtp = mail.smtp
expect.set_options(timeout=15_000)


def test_the_alert_link_takes_the_case_once(browser, daphne_server, smtp, make_physician,
                                            fresh_presence):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    (ana, ana_mail, ana_pw), (bo, bo_mail, bo_pw) = make_physician(), make_physician()
    for p in (ana, bo):
        physician_on_call_set(user_id=str(p.user_id), on_call=True)
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope with QT 520 ms: telemetry?", urgency="urgent")
    async_to_sync(driver.case_route_start)(services.urgent_case(case))
    tokens = {rcpts[0]: mail.alert_token(m) for rcpts, m in smtp.mails}
    assert set(tokens) == {ana_mail, bo_mail}

    def take(b: Browser) -> None:
        page = new_page(b)
        login(page, daphne_server, ana_mail, ana_pw)
        page.goto(f"{daphne_server.http}/alerts/{tokens[ana_mail]}")
        expect(page.locator("#alert-text")).to_contain_text("urgent cardiology case")
        page.click("#alert-accept")
        expect(page.locator("#alert-text")).to_have_text("The case is yours. Open it in Curbside.")
        page.reload()
        expect(page.locator("#alert-text")).to_have_text("This link was used already.")
        expect(page.locator("#alert-accept")).to_be_hidden()
        close_pages(page)

    def too_late(b: Browser) -> None:
        page = new_page(b, locale="es-ES")
        login(page, daphne_server, bo_mail, bo_pw)
        page.goto(f"{daphne_server.http}/alerts/{tokens[bo_mail]}")
        expect(page.locator("#alert-text")).to_contain_text("ya no espera")
        expect(page.locator("#alert-accept")).to_be_hidden()
        close_pages(page)

    browser.run(take)
    case.refresh_from_db()
    assert case.status == "claimed" and case.accepted_by_id == ana.user_id
    browser.run(too_late)
