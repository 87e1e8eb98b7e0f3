"""The adverse drug event page in a real Chromium: a physician files a report through the
form (a PHI finding first, shown on the field), sees it in "My reports"; an officer with the
page open is told live when the pair becomes a signal, and sees its statistics and its
chart. The main page links to it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from adverse import services
from tests.support.browser import close_pages, new_page, start_browser
from tests.support.clients import Http

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    thread = start_browser()
    yield thread
    thread.close()


def _login(page, server, email, password) -> None:
    response = page.request.post(server.http + "/api/v1/auth/login",
                                 data={"email": email, "password": password})
    assert response.status == 200, response.text()


def test_file_a_report_through_the_page_and_see_the_pair_as_an_officer(
        browser, daphne_server, make_reporter):
    _, email, password = make_reporter("ES")
    officer, officer_email, officer_password = make_reporter("GB")
    services.officer_grant(user=officer.user)
    server = daphne_server

    def reporter_files(chromium: Browser) -> None:
        page = new_page(chromium)
        page.goto(server.http + "/adverse")
        expect(page.locator("#adv-signin")).to_be_visible()
        page.goto(server.http + "/")
        expect(page.locator("#adverse-link")).to_have_attribute("href", "/adverse")
        _login(page, server, email, password)
        page.goto(server.http + "/adverse")
        expect(page.locator("#adv-form")).to_be_visible()
        expect(page.locator("#adv-country")).to_have_value("ES")
        page.fill(".drug-name", "Ozempic")
        page.fill(".drug-dose", "1 mg weekly")
        page.fill(".drug-start", "2025")
        page.fill(".reaction-term", "pancreatitis aguda")
        page.select_option(".reaction-outcome", "recovering")
        page.check('#adv-seriousness input[value="hospitalisation"]')
        page.fill("#adv-narrative", "Seen by Dr. Garcia on 12/03/2025, lipase 900.")
        page.click("#adv-submit")
        expect(page.locator("#adv-narrative")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#adv-confirm-group")).to_be_visible()
        page.fill("#adv-narrative", "Lipase 900 U/L four weeks after the dose increase.")
        page.click("#adv-submit")
        expect(page.locator("#adv-done")).to_contain_text("semaglutide")
        expect(page.locator("#adv-mine li")).to_have_count(1)
        expect(page.locator("#adv-mine li")).to_contain_text("pancreatitis aguda (pancreatitis)")
        expect(page.locator("#adv-officer")).to_be_hidden()
        close_pages(page)

    pages = {}

    def officer_opens(chromium: Browser) -> None:
        page = pages["officer"] = new_page(chromium)
        _login(page, server, officer_email, officer_password)
        page.goto(server.http + "/adverse")
        expect(page.locator("#adv-officer")).to_be_visible()
        # Its socket is up (welcomed) before any report comes in.
        expect(page.locator("#adv-live")).to_have_attribute("data-state", "online")

    def officer_looks(chromium: Browser) -> None:
        page = pages["officer"]
        expect(page.locator("#adv-live")).to_contain_text("New signal: semaglutide")
        expect(page.locator('#adv-signals tr[data-pair="semaglutide|pancreatitis"]')).to_be_visible()
        row = page.locator('#adv-pairs tr[data-pair="semaglutide|pancreatitis"]')
        expect(row).to_be_visible()
        row.get_by_role("button", name="Chart").click()
        expect(page.locator("#adv-chart-figure")).to_be_visible()
        # The SVG loaded and was drawn (an image that failed has no natural width).
        page.wait_for_function("() => document.getElementById('adv-chart').naturalWidth > 0")
        close_pages(page)

    browser.run(officer_opens)
    browser.run(reporter_files)
    # Two more reports of the pair from other countries, and five unrelated ones.
    for country, extra in (("MX", 2), ("ZA", 3)):
        _, other_email, other_password = make_reporter(country)
        http = Http(server.http)
        http.login(other_email, other_password)
        for drug, reaction in [("paracetamol", "headache"), ("ibuprofen", "rash"),
                               ("omeprazole", "nausea"), ("amoxicillin", "diarrhoea"),
                               ("metformin", "lactic acidosis")][:extra]:
            assert http.call("POST", "/api/v1/adverse/reports", {
                "suspect_drugs": [{"name": drug}], "reactions": [{"term": reaction}]})[0] == 201
        assert http.call("POST", "/api/v1/adverse/reports", {
            "suspect_drugs": [{"name": "Wegovy"}], "reactions": [{"term": "pancreatitis"}]})[0] == 201
    browser.run(officer_looks)
