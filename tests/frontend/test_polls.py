"""Polls in the web client (polls.js, poll.js), real headless Chromium against a real
daphne, in English on a desktop and in Spanish on a 390 px phone:

- a case's poster makes a diagnosis poll on the case page; a colleague of another specialty
  opens the case from the feed, votes, sees the results (bars, "You voted") while the
  poster's page counts the vote live (``poll.updated``); the colleague's results page shows
  the server-drawn chart;
- a moderator makes an opinion poll in the cardiology lounge; a cardiologist votes there and
  the results page shows the chart and the table.
Each new screen passes axe (no serious or critical violation) and fits the viewport."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from consult import services
from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import (
    DESKTOP,
    PHONE,
    close_pages,
    from_sidebar,
    join_room,
    login,
    login_staff,
    new_page,
    open_case,
)
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)

TEXT = {
    "en": {"diagnosis": "Which diagnosis?", "voted": "You voted.", "one": "1 vote",
           "count": "1 (100 %)", "page": "See the results page", "hidden": re.compile("Results show once")},
    "es": {"diagnosis": "¿Qué diagnóstico?", "voted": "Ya votaste.", "one": "1 voto",
           "count": "1 (100 %)", "page": "Ver la página de resultados",
           "hidden": re.compile("Los resultados se ven")},
}
CASES = [("en", DESKTOP), ("es", PHONE)]
IDS = ["en-desktop", "es-phone"]
SHOTS = Path("/tmp/pollweb-shots")  # screenshots of each screen checked, to look at


def _page(chromium: Browser, lang: str, viewport: dict) -> Page:
    return with_axe(new_page(chromium, locale="es-ES" if lang == "es" else "en-US", viewport=viewport))


def _fits(page: Page, where: str) -> None:
    """Nothing under <main> sticks out of the viewport; a screenshot to look at."""
    wide = page.evaluate("""() => [...document.querySelectorAll("main *")]
        .filter((e) => e.offsetParent !== null && getComputedStyle(e).visibility !== "hidden")
        .filter((e) => { const r = e.getBoundingClientRect();
                         return r.right > window.innerWidth + 1 || r.left < -1; })
        .slice(0, 8).map((e) => `${e.tagName}#${e.id}.${e.className}`)""")
    assert wide == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{page.viewport_size['width']}-{where}.png"), full_page=True)


def _chart_shown(page: Page) -> None:
    chart = page.locator("#poll-chart")
    expect(chart).to_be_visible()
    chart.evaluate("img => img.decode()")
    assert chart.evaluate("img => img.naturalWidth") > 0
    assert chart.get_attribute("src").endswith(".svg?lang=" + page.evaluate("document.documentElement.lang"))


@pytest.mark.parametrize(("lang", "viewport"), CASES, ids=IDS)
def test_a_diagnosis_poll_in_a_case(browser, daphne_server, make_physician, lang, viewport):
    text = TEXT[lang]
    poster, poster_email, password = make_physician(specialty="emergency-medicine", languages=(lang,))
    _, voter_email, _ = make_physician(specialty="neurology", languages=(lang,))
    question = f"Exertional syncope in a swimmer: which diagnosis first? [{uuid.uuid4().hex[:6]}]"
    services.case_open(poster=poster.user, specialty="cardiology", summary=question, language=lang)
    options = ["Long QT syndrome", "Vasovagal syncope", "Brugada syndrome"]

    def steps(chromium: Browser) -> None:
        mine, theirs = _page(chromium, lang, viewport), _page(chromium, lang, viewport)
        login(mine, daphne_server, poster_email, password)
        login(theirs, daphne_server, voter_email, password)
        open_case(mine, question)
        box = mine.locator("#polls-box")
        mine.locator("#poll-new > summary").click()
        mine.fill("#poll-option-0", options[0])
        mine.fill("#poll-option-1", options[1])
        mine.click("#poll-add")
        mine.fill("#poll-option-2", options[2])
        _fits(mine, "diagnosis-form")
        assert_accessible(mine, "diagnosis poll form")
        mine.click("#poll-create")
        card = box.locator(".poll-card")
        expect(card).to_have_count(1)
        expect(card.locator(".poll-question")).to_have_text(text["diagnosis"])
        expect(card.locator(".poll-choice")).to_have_text(options)

        open_case(theirs, question)
        theirs_card = theirs.locator("#polls-box .poll-card")
        expect(theirs_card.locator(".poll-choice")).to_have_count(3)
        theirs_card.locator(".poll-choice", has_text=options[2]).locator("input").check()
        theirs_card.locator(".poll-vote-btn").click()
        expect(theirs_card.locator(".poll-voted")).to_have_text(text["voted"])
        bars = theirs_card.locator(".poll-bar")
        expect(bars).to_have_count(3)
        expect(bars.nth(2).locator(".poll-bar-value")).to_have_text(text["count"])
        _fits(theirs, "diagnosis-results")
        assert_accessible(theirs, "diagnosis poll results")
        # The poster has not voted: the count moves live, the results stay hidden.
        expect(card.locator(".poll-status")).to_contain_text(text["one"])
        expect(card.locator(".poll-bar")).to_have_count(0)
        # Home: the case page and its polls do not stay on screen under the home's blocks.
        from_sidebar(mine, "#home-open")
        expect(mine.locator("#home")).to_be_visible()
        expect(mine.locator("#case-detail")).to_be_hidden()
        expect(mine.locator("#polls-box .poll-card")).to_have_count(0)

        theirs_card.get_by_role("link", name=text["page"]).click()
        expect(theirs.locator("#poll-title")).to_have_text(text["diagnosis"])
        _chart_shown(theirs)
        expect(theirs.locator("#poll-csv")).to_be_hidden()  # open poll, not a moderator
        _fits(theirs, "results-page")
        assert_accessible(theirs, "results page")
        close_pages(mine, theirs)

    browser.run(steps)


@pytest.mark.parametrize(("lang", "viewport"), CASES, ids=IDS)
def test_a_moderators_opinion_poll_in_a_lounge(browser, daphne_server, make_physician, lang, viewport):
    text = TEXT[lang]
    _, mod_email, password = make_physician(role="moderator", specialty="cardiology", languages=(lang,))
    _, voter_email, _ = make_physician(specialty="cardiology", languages=(lang,))
    code = otp_fields(mod_email)["otp"]
    question = f"Colchicine after every myocardial infarction? [{uuid.uuid4().hex[:6]}]"

    def steps(chromium: Browser) -> None:
        mod, voter = _page(chromium, lang, viewport), _page(chromium, lang, viewport)
        login_staff(mod, daphne_server, mod_email, password, code)
        join_room(mod)
        mod.locator("#poll-new > summary").click()
        mod.click("#poll-create")  # nothing written: the form says what is missing
        expect(mod.locator("#poll-form-error")).not_to_be_empty()
        mod.fill("#poll-question", question)
        mod.fill("#poll-option-0", "Yes" if lang == "en" else "Sí")
        mod.fill("#poll-option-1", "No")
        _fits(mod, "opinion-form")
        assert_accessible(mod, "opinion poll form")
        mod.click("#poll-create")
        card = mod.locator("#polls-box .poll-card", has_text=question)
        expect(card).to_have_count(1)
        # A moderator sees the results from the start (and may export them).
        expect(card.locator(".poll-bar")).to_have_count(2)

        login(voter, daphne_server, voter_email, password)
        join_room(voter)
        theirs = voter.locator("#polls-box .poll-card", has_text=question)
        expect(theirs.locator(".muted", has_text=text["hidden"])).to_have_count(0)
        theirs.locator(".poll-choice").first.locator("input").check()
        theirs.locator(".poll-vote-btn").click()
        expect(theirs.locator(".poll-voted")).to_have_text(text["voted"])
        expect(theirs.locator(".poll-bar").first.locator(".poll-bar-value")).to_have_text(text["count"])
        assert_accessible(voter, "lounge poll results")
        expect(card.locator(".poll-status")).to_contain_text(text["one"])  # live, poll.updated

        theirs.get_by_role("link", name=text["page"]).click()
        expect(voter.locator("#poll-title")).to_have_text(question)
        _chart_shown(voter)
        expect(voter.locator(".poll-breakdown td").first).to_have_text(text["count"])
        _fits(voter, "opinion-results-page")
        assert_accessible(voter, "opinion results page")
        close_pages(mod, voter)

    browser.run(steps)
