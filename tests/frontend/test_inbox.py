"""The notification inbox in real headless Chromium against a real daphne, in English on a
desktop and in Spanish at 390 px (the drawer layout): A mentions B (over A's own socket, as
any client may), B's bell goes up live, B opens the inbox by keyboard, lands in the room and
the bell goes down; B mutes the room for an hour and a mention stores nothing; unmuted, the
next one rings again. axe finds nothing serious with the panel open and the mute shown."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from consult.models import CaseFollow, Notification
from crypto.pseudonyms import pseudonym_id
from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import (
    DESKTOP,
    LOUNGE,
    PHONE,
    assert_fits,
    close_pages,
    from_sidebar,
    join_room,
    login,
    new_page,
)
from tests.support.clients import Http, request
from tests.support.sockets import welcomed

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)

WORDS = {
    "en-US": {"kind": "You were mentioned", "mute": "1 hour", "muted": "Notifications muted until",
              "unmute": "Unmute", "all": "Mark all read"},
    "es-ES": {"kind": "Te han mencionado", "mute": "1 hora", "muted": "Notificaciones silenciadas hasta",
              "unmute": "Reactivar", "all": "Marcar todas como leídas"},
}


async def _say(server, email: str, password: str, body: str, *, room: str = LOUNGE,
               mentions: tuple[str, ...] = ()) -> dict:
    """A physician sends ``body`` to ``room`` over their own socket (mentioning
    ``mentions``), as any client may."""
    client = Http(server.http)
    client.login(email, password)
    ws = await welcomed(server.ws, client.ticket())
    try:
        assert (await request(ws, "room.join", room=room))["ok"]
        reply = await request(ws, "message.send", room=room, body=body,
                              client_id=uuid.uuid4().hex, mentions=list(mentions))
        assert reply["ok"], reply
        return reply
    finally:
        await ws.close()


def _mention(server, email: str, password: str, pseudonym: str, body: str) -> None:
    asyncio.run(_say(server, email, password, body, mentions=(pseudonym,)))


def _bell(page: Page):
    return page.locator("#inbox-badge")


@pytest.mark.parametrize("viewport,locale", [(DESKTOP, "en-US"), (PHONE, "es-ES")],
                         ids=["desktop-en", "phone-es"])
def test_a_mention_rings_the_bell_opens_the_room_and_a_mute_silences_it(
        browser, daphne_server, make_physician, viewport, locale):
    words = WORDS[locale]
    _, a_email, password = make_physician()
    b, b_email, _ = make_physician()
    b_pseudonym = pseudonym_id(user_id=str(b.pk), room_id=LOUNGE)
    pages: dict[str, Page] = {}

    def b_at_home(chromium: Browser) -> None:
        page = pages["b"] = with_axe(new_page(chromium, viewport=viewport, locale=locale))
        login(page, daphne_server, b_email, password)
        join_room(page, LOUNGE)  # B is a member of the lounge: A may mention B there
        expect(page.locator("#room-mute")).to_be_visible()
        from_sidebar(page, "#home-open")
        expect(page.locator("#home")).to_be_visible()
        expect(page.locator("#inbox-open")).to_be_visible()
        expect(_bell(page)).to_be_hidden()

    def b_sees_it_live_and_opens_it(chromium: Browser) -> None:
        page = pages["b"]
        expect(_bell(page)).to_have_text("1")
        expect(page.locator("#inbox-open")).to_have_attribute("aria-label", re.compile(r"\b1\b"))
        # By keyboard: the bell opens the panel, focus goes to its heading; Escape closes it
        # and gives focus back to the bell.
        page.locator("#inbox-open").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#inbox-panel")).to_be_visible()
        expect(page.locator("#inbox-title")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.locator("#inbox-panel")).to_be_hidden()
        expect(page.locator("#inbox-open")).to_be_focused()
        page.keyboard.press("Enter")
        item = page.locator(".inbox-item").first
        expect(item).to_have_attribute("data-read", "false")
        expect(item.locator(".inbox-kind")).to_have_text(words["kind"])
        expect(page.locator("#inbox-all")).to_have_text(words["all"])
        assert_fits(page, "#inbox-all", "#inbox-close", ".inbox-item")
        assert_accessible(page, f"inbox panel ({locale})")
        item.focus()
        page.keyboard.press("Enter")
        # Landed in the room; its notification is read, the bell is down.
        expect(page.locator("#inbox-panel")).to_be_hidden()
        expect(page.locator("#room-members")).to_be_visible()
        expect(page.locator(f'#messages ol[data-room="{LOUNGE}"]')).to_be_visible()
        expect(_bell(page)).to_be_hidden()
        # Mute the room for an hour, from the room's head.
        page.locator("#mute-for").select_option(label=words["mute"])
        page.locator("#mute-apply").click()
        expect(page.locator("#mute-text")).to_contain_text(words["muted"])
        expect(page.locator("#mute-unmute")).to_have_text(words["unmute"])
        assert_fits(page, "#mute-unmute")
        assert_accessible(page, f"muted room ({locale})")
        from_sidebar(page, "#home-open")
        expect(page.locator("#home")).to_be_visible()

    def b_unmutes(chromium: Browser) -> None:
        page = pages["b"]
        expect(_bell(page)).to_be_hidden()
        from_sidebar(page, f'#lounges-mine [data-room="{LOUNGE}"]')
        expect(page.locator("#mute-unmute")).to_be_visible()
        page.locator("#mute-unmute").click()
        expect(page.locator("#mute-apply")).to_be_visible()
        from_sidebar(page, "#home-open")

    def b_hears_again(chromium: Browser) -> None:
        page = pages["b"]
        expect(_bell(page)).to_have_text("1")  # one: the muted mention was never stored
        # The digest mail's link opens the inbox (a new tab of the same browser).
        tab = page.context.new_page()
        tab.goto(daphne_server.http + "/#inbox")
        expect(tab.locator("#inbox-panel")).to_be_visible()
        expect(tab.locator(".inbox-item")).to_have_count(2)
        close_pages(page)

    def mine() -> int:
        return Notification.objects.filter(user=b.user, kind="mention").count()

    browser.run(b_at_home)
    _mention(daphne_server, a_email, password, b_pseudonym, "What do you think?")
    assert mine() == 1
    browser.run(b_sees_it_live_and_opens_it)
    # Muted: the mention is stored with the message, in one transaction, or not at all.
    _mention(daphne_server, a_email, password, b_pseudonym, "Still there?")
    assert mine() == 1
    browser.run(b_unmutes)
    _mention(daphne_server, a_email, password, b_pseudonym, "And now?")
    assert mine() == 2
    browser.run(b_hears_again)


def test_follow_a_case_hear_of_its_answers_and_unfollow(browser, daphne_server, make_physician):
    _, poster_email, password = make_physician(specialty="emergency-medicine")
    _, fan_email, _ = make_physician()
    question = f"Wide QRS tachycardia, stable: amiodarone or procainamide? [{uuid.uuid4().hex[:6]}]"
    poster = Http(daphne_server.http)
    poster.login(poster_email, password)
    status, posted = poster.call("POST", "/api/v1/cases", {
        "question": question, "specialty": "cardiology", "urgency": "routine",
        "audience": "network"})
    assert status == 201, posted
    room = posted["case"]["room"]
    pages: dict[str, Page] = {}

    def fan_follows(chromium: Browser) -> None:
        page = pages["fan"] = with_axe(new_page(chromium))
        login(page, daphne_server, fan_email, password)
        from_sidebar(page, "#nav-feed")
        card = page.locator("#feed-list .feed-item", has_text=question)
        card.locator(".feed-open").click()
        follow = page.locator("#case-follow")
        expect(follow).to_have_text("Follow this case")
        follow.click()
        expect(page.locator("#case-follow")).to_have_text("Stop following")
        expect(page.locator("#case-follow")).to_be_focused()
        assert_accessible(page, "a followed case")
        page.reload()  # the server remembers
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "conn.online")
        # The reload reopens the last room (the case's) once rooms.list is in: wait for it,
        # or it would take the screen back from the feed.
        expect(page.locator("#room-members")).to_have_text(re.compile(r"\d"))
        from_sidebar(page, "#nav-feed")
        page.locator("#feed-list .feed-item", has_text=question).locator(".feed-open").click()
        expect(page.locator("#case-follow")).to_have_text("Stop following")
        from_sidebar(page, "#home-open")
        expect(page.locator("#home")).to_be_visible()

    def fan_hears_and_unfollows(chromium: Browser) -> None:
        page = pages["fan"]
        expect(_bell(page)).to_have_text("1")
        page.locator("#inbox-open").click()
        item = page.locator(".inbox-item").first
        expect(item.locator(".inbox-kind")).to_have_text("New answers on a case")
        item.click()
        expect(page.locator("#case-detail .case-question")).to_have_text(question)
        expect(_bell(page)).to_be_hidden()
        page.locator("#case-follow").click()
        expect(page.locator("#case-follow")).to_have_text("Follow this case")
        close_pages(page)

    browser.run(fan_follows)
    asyncio.run(_say(daphne_server, poster_email, password, "Any takers?", room=room))
    browser.run(fan_hears_and_unfollows)
    assert not CaseFollow.objects.filter(case_id=posted["case"]["id"]).exists()
