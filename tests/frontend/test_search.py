"""Search in the web client (real Chromium, real daphne): the box in the top bar finds a case
by a word of its question — in English and in Spanish, with and without accents — and opens
it; a message hit opens its room at the message, paging back to it (a case room's under its
case page); a physician who may not
read an urgent case finds nothing; a refused query says why; at 390 px everything fits."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from consult import services
from rooms import messages, roster
from rooms import services as room_services
from tests.support.browser import DESKTOP, PHONE, assert_fits, assert_text_fits, close_pages, login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)

LOUNGE = "lounge-cardiology"


def _post_many(user, bodies: list[str]) -> list[int]:
    room_services.room_join(room_id=LOUNGE, user=user)
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    drafts = [messages.Draft(user=user, author=author, body=b, client_id=uuid.uuid4().hex)
              for b in bodies]
    return [p.seq for p in messages.messages_post(room_id=LOUNGE, drafts=drafts)]


def _search(page, q: str) -> None:
    page.fill("#find-input", q)
    page.click("#find-submit")


def test_search_opens_the_case_and_the_room_at_the_message(browser, daphne_server,
                                                           make_physician):
    poster, _, _ = make_physician(specialty="pediatrics")
    tag = uuid.uuid4().hex[:8]
    title = f"Neumonía complicada {tag}"
    case = services.case_open(poster=poster.user, specialty="pediatrics", language="es",
                              template=services.CaseTemplate(
                                  title=title, question="¿Qué antibiótico en una neumonía "
                                                        "con derrame pleural?"))
    # The word sits in the first of 70 messages: older than the room's first page (50).
    word = f"takotsubo{tag}"
    seqs = _post_many(poster.user, [f"Stress cardiomyopathy, {word} pattern on echo"]
                      + [f"filler {i}" for i in range(69)])
    answer = f"brugada{tag}"
    room_services.room_join(room_id=case.room_id, user=poster.user)
    in_case = messages.message_post(
        room_id=case.room_id, user=poster.user, client_id=uuid.uuid4().hex,
        body=f"Ajmaline test to unmask {answer}?",
        author=roster.author_for(user_id=str(poster.user.pk), room_id=case.room_id,
                                 role=poster.user.role, specialty="pediatrics",
                                 verified=True)).seq
    _, email, password = make_physician(specialty="neurology")

    def steps(chromium: Browser) -> None:
        page = new_page(chromium, viewport=DESKTOP)
        login(page, daphne_server, email, password)
        assert_text_fits(page, "#find-input", "#find-submit")  # the placeholder, whole
        _search(page, "NEUMONIA antibiotico")
        hit = page.locator("#find-list .find-hit", has_text=tag)
        expect(hit).to_have_count(1)
        expect(hit.locator(".find-kind")).to_have_text("case")
        expect(hit.locator(".find-snippet")).to_contain_text("neumonía")
        expect(page.locator("#find-results-title")).to_have_text("Results for “NEUMONIA antibiotico”")
        hit.click()
        expect(page.locator("#find-results")).to_be_hidden()
        expect(page.locator("#case-detail-title")).to_have_text(title)

        _search(page, word)
        hit = page.locator("#find-list .find-hit")
        expect(hit).to_have_count(1)
        expect(hit.locator(".find-kind")).to_have_text("message")
        hit.click()
        found = page.locator(f'#messages .msg[data-seq="{seqs[0]}"]')
        expect(found).to_have_class("msg found")
        expect(found).to_be_in_viewport()
        expect(found.locator(".body")).to_contain_text(word)

        # A message in the case room: the case page, and the room at the message.
        _search(page, answer)
        hit = page.locator("#find-list .find-hit")
        expect(hit).to_have_count(1)
        expect(hit.locator(".find-hit-title")).to_have_text(title)
        hit.click()
        expect(page.locator("#case-detail-title")).to_have_text(title)
        # showMessage is done when the found message has the focus.
        found = page.locator(f'#messages .msg[data-seq="{in_case}"]')
        expect(found).to_have_class("msg found")
        expect(found).to_be_focused()

        _search(page, "the of and")  # only stop words
        expect(page.locator("#find-error")).to_have_text(
            "Only very common words: add a more specific one.")
        page.locator("#find-close").click()
        expect(page.locator("#find-results")).to_be_hidden()
        assert page.dialogs == []
        close_pages(page)

    browser.run(steps)


def test_spanish_on_a_phone_and_never_what_you_may_not_read(browser, daphne_server,
                                                            make_physician):
    poster, _, _ = make_physician(specialty="cardiology")
    tag, secret = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    services.case_open(poster=poster.user, specialty="cardiology", language="es",
                       summary=f"¿Cardioversión eléctrica en fibrilación auricular {tag}?")
    services.case_open(poster=poster.user, specialty="cardiology", urgency="urgent",
                       language="es", summary=f"Taponamiento tras ablación {secret}, ¿drenamos?")
    said = uuid.uuid4().hex[:8]
    _post_many(poster.user, [f"Holter programado el martes {said}"])
    _, email, password = make_physician(specialty="neurology")

    def steps(chromium: Browser) -> None:
        page = new_page(chromium, locale="es-ES", viewport=PHONE)
        login(page, daphne_server, email, password)
        expect(page.locator("#find-submit")).to_have_text("Buscar")
        expect(page.locator("#adverse-link")).to_have_text("Notificar una reacción adversa")
        assert_fits(page, "#find-input", "#find-submit")
        _search(page, f"cardioversion {tag}")  # without the accent
        hits = page.locator("#find-list .find-hit")
        expect(hits).to_have_count(1)
        expect(hits.locator(".find-kind")).to_have_text("caso")
        expect(hits.locator(".find-snippet")).to_contain_text("Cardioversión eléctrica")
        assert_fits(page, "#find-list .find-hit", "#find-close")
        # A message in a lounge: the lounge by its Spanish name.
        _search(page, f"martes {said}")
        expect(hits.locator(".find-hit-title")).to_have_text("Cardiología")
        # The urgent case is private: its words find nothing for this physician.
        _search(page, f"taponamiento {secret}")
        expect(page.locator("#find-status")).to_have_text(
            "Nada de lo que puedes leer contiene estas palabras.")
        expect(hits).to_have_count(0)
        _search(page, "   ")
        expect(page.locator("#find-error")).to_have_text("Escribe una palabra para buscar.")
        close_pages(page)

    browser.run(steps)
