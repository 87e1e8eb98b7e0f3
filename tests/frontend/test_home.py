"""The home (what needs me) and what survives a reload, in real headless Chromium against a
real daphne: open offers with their countdown, my cases by status, unread counts, the last
room reopened, and offers and cases read back (`offers.list`, `rooms.list`) after a reload."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import PHONE, assert_fits, close_pages, from_sidebar, login, new_page, send_message

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def test_home_offers_cases_unread_and_reload(browser, daphne_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()
    summary = f"Complete heart block, HR 32, on atropine: pace now? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        cardio = new_page(chromium, viewport=PHONE)
        poster = new_page(chromium)
        login(cardio, daphne_server, cardio_email, password)
        login(poster, daphne_server, poster_email, password)
        # Nothing open yet: the home says so, in words.
        expect(cardio.locator("#room-title")).to_have_text("Home")
        expect(cardio.locator("#home-offers")).to_have_text("No urgent case is waiting for you.")
        expect(cardio.locator("#composer")).to_be_hidden()
        cardio.locator("#on-call").check()
        expect(cardio.locator("#on-call")).to_be_enabled()

        poster.click("#post-open")
        poster.locator("#tpl-specialty").select_option("cardiology")
        poster.locator("#tpl-question").fill(summary)
        poster.locator("#tpl-urgency").select_option("urgent")
        poster.click("#tpl-submit")
        expect(poster.locator("#case-summary")).to_have_text(summary)

        offer = cardio.locator("#home-offers .home-offer", has_text=summary)
        expect(offer.locator(".offer-countdown")).to_have_text(re.compile(r"Answer within \d:\d\d"))

        # A reload forgets nothing: the offer is read back and shown again.
        cardio.reload()
        expect(cardio.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        expect(cardio.locator("#offers .offer", has_text=summary)).to_be_visible()
        offer.get_by_role("button", name="Accept").click()
        expect(cardio.locator("#case-summary")).to_have_text(summary)
        expect(cardio.locator("#room-members")).to_have_text("2 members")

        # The last room reopens after a reload, with its case.
        cardio.reload()
        expect(cardio.locator("#room-title")).to_have_text("Cardiology case")
        expect(cardio.locator("#case-summary")).to_have_text(summary)
        expect(cardio.locator("#composer")).to_be_visible()

        # Home: the case is "in consult"; the poster's messages there count as unread.
        cardio.locator("#drawer-toggle").click()
        cardio.locator("#home-open").click()
        claimed = '#home-cases .case-group[data-status="claimed"] .room-btn'
        consult = cardio.locator(claimed, has_text=summary[:30])
        expect(consult).to_contain_text("you are consulting")
        send_message(poster, "Pads on, BP 80/50.")
        send_message(poster, "Isoprenaline running.")
        expect(consult.locator(".unread")).to_have_text("2")
        expect(cardio.locator("#home-unread .room-btn", has_text="Cardiology case")).to_contain_text("2")
        consult.click()
        expect(cardio.locator("#messages .msg", has_text="Isoprenaline")).to_have_count(1)
        # Read now: the count goes, here and after a reload.
        cardio.locator("#drawer-toggle").click()
        expect(cardio.locator("#cases-mine .unread")).to_have_count(0)
        cardio.reload()
        expect(cardio.locator("#messages .msg", has_text="Isoprenaline")).to_have_count(1)
        cardio.locator("#drawer-toggle").click()
        cardio.locator("#home-open").click()
        expect(cardio.locator("#home-unread")).to_have_text("You are all caught up.")

        poster.locator("#home-open").click()
        mine = poster.locator(claimed, has_text=summary[:30])
        expect(mine).to_contain_text("you posted it")
        assert cardio.dialogs == [] and poster.dialogs == []
        close_pages(cardio, poster)

    browser.run(steps)


def test_home_shows_the_new_cases_of_my_specialties(browser, daphne_server, make_physician):
    """Issue 13 item 1: the home shows the case feed of my specialties, on a phone too; a card
    opens the case, and the whole feed is one click away."""
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, cardio_email, _ = make_physician()  # cardiology
    title = f"Wide-complex tachycardia, stable [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        poster = new_page(chromium)
        login(poster, daphne_server, poster_email, password)
        poster.click("#post-open")
        poster.locator("#tpl-title").fill(title)
        poster.locator("#tpl-specialty").select_option("cardiology")
        poster.locator("#tpl-question").fill("Adenosine, or straight to amiodarone?")
        poster.click("#tpl-submit")
        expect(poster.locator("#case-detail-title")).to_have_text(title)

        cardio = new_page(chromium, viewport=PHONE)
        login(cardio, daphne_server, cardio_email, password)
        expect(cardio.locator("#home-feed-title")).to_have_text("New cases in your specialties")
        card = cardio.locator("#home-feed .home-case", has_text=title)
        expect(card).to_have_count(1)
        expect(card.locator(".badge.status")).to_have_text("open")
        assert_fits(cardio, "#home-feed .home-case", "#home-feed-all")
        card.click()
        expect(cardio.locator("#case-detail-title")).to_have_text(title)
        expect(cardio.locator("#home")).to_be_hidden()

        # Home again (from the drawer), then the whole feed, where the case is too.
        from_sidebar(cardio, "#home-open")
        cardio.locator("#home-feed-all").click()
        expect(cardio.locator("#feed-title")).to_be_focused()
        expect(cardio.locator("#feed-list .feed-item", has_text=title)).to_have_count(1)
        close_pages(poster, cardio)

    browser.run(steps)
