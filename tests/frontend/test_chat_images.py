"""Images in chat, in real headless Chromium against a real daphne: a doctor on a phone
attaches an image (uploaded at once through the attachment path, shown as a thumbnail in the
composer), sends it with a few words; a colleague sees the thumbnail, opens it in the viewer
(a modal dialog: focus goes in, Escape closes it, focus comes back to the thumbnail); axe is
clean with the viewer open."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.a11y import assert_accessible, with_axe
from tests.support.browser import PHONE, assert_fits, close_pages, join_room, login, new_page, send_message
from tests.support.cases import png as make_png

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def test_an_image_sent_in_chat_opens_in_the_viewer(browser, daphne_server, make_physician):
    _, email_a, password = make_physician()
    _, email_b, _ = make_physician()
    tag = uuid.uuid4().hex[:6]
    png = make_png()

    def steps(chromium: Browser) -> None:
        a = new_page(chromium, viewport=PHONE)
        b = with_axe(new_page(chromium))
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        join_room(a)
        join_room(b)
        a.locator("#composer-file").set_input_files(
            files=[{"name": "ecg.png", "mimeType": "image/png", "buffer": png}])
        expect(a.locator("#composer-images-status")).to_have_text(
            "Image ready: it goes with your next message.")
        expect(a.locator("#composer-images img")).to_have_count(1)
        assert_fits(a, "#composer-attach", "#composer-images .thumb-remove", "#send")
        # An image alone is not a message: a few words are asked for.
        a.locator("#send").click()
        expect(a.locator("#composer-error")).to_have_text("Add a few words about the image.")
        send_message(a, f"Lead II strip from this morning [{tag}]")
        expect(a.locator("#composer-images img")).to_have_count(0)

        seen = b.locator("#messages .msg", has_text=tag)
        thumb = seen.get_by_role("button", name="View image 1 larger")
        expect(thumb).to_be_visible()
        # The image really loads (members only; the cleaned bytes).
        expect(thumb.locator("img")).to_have_js_property("complete", True)
        assert thumb.locator("img").evaluate("img => img.naturalWidth") > 0
        thumb.click()
        viewer = b.locator("#case-viewer")
        expect(viewer).to_be_visible()
        expect(b.locator("#case-viewer-close")).to_be_focused()
        assert_accessible(b, "image viewer")
        b.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        expect(thumb).to_be_focused()
        assert a.dialogs == [] and b.dialogs == []
        close_pages(a, b)

    browser.run(steps)
