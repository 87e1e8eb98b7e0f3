"""Editing and deleting one's own messages in the web client (real Chromium, real daphne):
inline, without browser dialogs; the other member sees the edit and the deletion live."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import close_pages, join_room, login, new_page, send_message

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def test_edit_and_delete_own_message(browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()
    tag = uuid.uuid4().hex[:6]

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium), new_page(chromium)
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)
        send_message(a, f"Start amiodarone 300 mg [{tag}]")
        delivered = a.locator("#messages .msg[data-state=delivered]", has_text=tag)
        expect(delivered).to_have_count(1)
        seq = delivered.get_attribute("data-seq")
        mine = a.locator(f'#messages .msg[data-seq="{seq}"]')  # its text leaves the page while edited
        # Only one's own messages can be edited or deleted.
        seen = b.locator("#messages .msg", has_text=tag)
        expect(seen.locator(".edit-btn")).to_have_count(0)

        mine.get_by_role("button", name="Edit").click()
        box = mine.locator("textarea.edit-input")
        expect(box).to_be_focused()
        box.press("Escape")  # cancel: nothing changes
        expect(mine.locator(".body")).to_have_text(f"Start amiodarone 300 mg [{tag}]")
        expect(mine.get_by_role("button", name="Edit")).to_be_focused()

        mine.get_by_role("button", name="Edit").click()
        mine.locator("textarea.edit-input").fill(f"Start amiodarone 150 mg over 10 min [{tag}]")
        mine.locator("textarea.edit-input").press("Enter")
        expect(seen.locator(".body")).to_have_text(f"Start amiodarone 150 mg over 10 min [{tag}]")
        expect(seen.locator(".marker.edited")).to_have_text("(edited)")
        expect(mine.locator(".body")).to_have_text(f"Start amiodarone 150 mg over 10 min [{tag}]")

        mine.get_by_role("button", name="Delete").click()
        a.get_by_role("button", name="Keep it").click()  # asked first, in place
        expect(mine.locator(".body")).to_contain_text("150 mg")
        mine.get_by_role("button", name="Delete").click()
        a.get_by_role("button", name="Yes, delete").click()
        expect(b.locator(f'#messages .msg[data-seq="{seq}"] .body')).to_have_text("Message deleted")
        expect(a.locator(f'#messages .msg[data-seq="{seq}"] .body')).to_have_text("Message deleted")
        assert a.dialogs == [] and b.dialogs == []
        close_pages(a, b)

    browser.run(steps)
