"""@-mention autocomplete, in real headless Chromium against a real daphne: typing "@" and a
few letters lists the room's members (authors seen there, never oneself) in a listbox the
composer controls; the keyboard picks one (ArrowDown, Enter: the list eats the Enter, nothing
is sent); the message goes with the mention and the colleague, elsewhere, sees the room's
"@" mark; axe is clean with the list open; a phone fits it. Also the live member count: a
new member of the lounge raises the count in the header of those already there."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import PHONE, assert_fits, close_pages, join_room, login, new_page, send_message

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)

ROOM = "lounge-cardiology"


def test_mention_a_colleague_from_the_keyboard(browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()
    _, email_c, _ = make_physician()
    tag = uuid.uuid4().hex[:6]

    def steps(chromium: Browser) -> None:
        a = with_axe(new_page(chromium, viewport=PHONE))
        b = new_page(chromium)
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(b, ROOM)
        send_message(b, f"Anyone used inclisiran yet? [{tag}]")
        join_room(a, ROOM)
        count = int(re.search(r"\d+", a.locator("#room-members").inner_text()).group())

        # A third colleague's first visit: the count in A's header goes up by itself.
        c = new_page(chromium)
        login(c, daphne_server, email_c, password)
        join_room(c, ROOM)
        expect(a.locator("#room-members")).to_have_text(f"{count + 1} members")
        close_pages(c)

        theirs = a.locator("#messages .msg", has_text=tag).locator(".author")
        name = theirs.inner_text()
        b.locator("#home-open").click()  # B is elsewhere when mentioned

        box = a.locator("#composer-input")
        box.fill("")
        box.press_sequentially("Yes, @")
        listbox = a.get_by_role("listbox", name="Members to mention")
        expect(listbox).to_be_visible()
        letters = name.removeprefix("Dr. ")[:3]
        box.press_sequentially(letters)
        option = listbox.get_by_role("option", name=name)
        expect(option).to_have_count(1)
        expect(box).to_have_attribute("aria-controls", "mention-list")
        box.press("ArrowDown")
        box.press("ArrowUp")
        active = box.get_attribute("aria-activedescendant")
        expect(a.locator(f"#{active}")).to_have_attribute("aria-selected", "true")
        assert_accessible(a, "mention list")
        assert_fits(a, "#mention-list", "#composer-input")
        # Enter picks the highlighted member; it sends nothing.
        # The newest author first: B, who wrote last here.
        expect(a.locator(f"#{active}")).to_have_text(name)
        box.press("Enter")
        expect(listbox).to_be_hidden()
        expect(box).to_have_value(f"Yes, @{name} ")
        expect(a.locator("#messages .msg.own")).to_have_count(0)
        box.press_sequentially(f"twice, both well tolerated [{tag}]")
        box.press("Enter")
        expect(a.locator("#messages .msg[data-state=delivered]", has_text="twice")).to_have_count(1)
        # Escape closes the list and keeps the text.
        box.press_sequentially("@")
        expect(listbox).to_be_visible()
        box.press("Escape")
        expect(listbox).to_be_hidden()
        expect(box).to_have_value("@")

        # B, elsewhere, sees the room's "@" mark: the message carried the mention.
        expect(b.locator(f'#lounges-mine [data-room="{ROOM}"] .dot')).to_have_text("@")
        assert a.dialogs == [] and b.dialogs == []
        close_pages(a, b)

    browser.run(steps)
