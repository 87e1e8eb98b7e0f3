"""Reports and the moderator console, in real headless Chromium against a real daphne: a
member reports a message; the report reaches the open console at once (`report.filed`), with
the message and its context, an edited one's earlier version a click away; the moderator
hides it (members see it hidden), mutes its author (their next message is refused), and
resolves the report with a note; the PHI-confirmation log shows an overridden warning by its
kind, never its text."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import LOUNGE, close_pages, join_room, login, login_staff, new_page, send_message
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

expect.set_options(timeout=15_000)


def test_a_report_reaches_the_console_and_the_moderator_acts(browser, daphne_server, make_physician):
    _, author_email, password = make_physician()
    _, reporter_email, _ = make_physician()
    _, mod_email, _ = make_physician(role="moderator", specialty="family-medicine")
    code = otp_fields(mod_email)["otp"]
    tag = uuid.uuid4().hex[:6]
    rude = f"Only an idiot would order a D-dimer here [{tag}]"

    def steps(chromium: Browser) -> None:
        author, reporter, mod = new_page(chromium), new_page(chromium), new_page(chromium)
        login(author, daphne_server, author_email, password)
        login(reporter, daphne_server, reporter_email, password)
        login_staff(mod, daphne_server, mod_email, password, code)
        mod.get_by_role("button", name="Moderation").click()
        expect(mod.locator("#mod-title")).to_be_focused()

        join_room(author)
        join_room(reporter)
        send_message(author, f"Wells score 2, PERC negative [{tag}]")
        first = author.locator("#messages .msg[data-state=delivered]", has_text="Wells score")
        expect(first).to_have_count(1)
        first_seq = first.get_attribute("data-seq")
        mine = author.locator(f'#messages .msg[data-seq="{first_seq}"]')
        mine.get_by_role("button", name="Edit").click()
        mine.locator("textarea.edit-input").fill(f"Wells score 1, PERC negative [{tag}]")
        mine.locator("textarea.edit-input").press("Enter")
        expect(mine.locator(".body")).to_have_text(f"Wells score 1, PERC negative [{tag}]")
        # A phone number: the PHI guard asks, the author says it is not patient data.
        send_message(author, f"Page me on 555-867-5309 if it changes [{tag}]")
        author.get_by_role("button", name="Send anyway (not patient data)").click()
        expect(author.locator("#messages .msg[data-state=delivered]", has_text="555-867")).to_have_count(1)
        send_message(author, rude)
        message = reporter.locator("#messages .msg", has_text=rude)
        expect(message).to_have_count(1)
        # No "Report" on one's own message.
        expect(author.locator("#messages .msg", has_text=rude).locator(".report-btn")).to_have_count(0)
        message.get_by_role("button", name="Report").click()
        reporter.get_by_label("Why report it").fill("Insulting a colleague")
        reporter.get_by_role("button", name="Send the report").click()
        expect(message.locator(".report-status")).to_have_text("Reported. A moderator will look at it.")

        # The open console takes the new report at once: report.filed, not the 60 s poll.
        card = mod.locator("#mod-queue .report-card", has_text="Insulting a colleague")
        expect(card).to_be_visible()
        expect(card.locator("h3")).to_have_text("Report in Cardiology")
        # The reporter by their pseudonym's handle in the room, as the context names authors
        # (not the raw pseudonym id).
        reporter_handle = re.search(r"Others see you here as (.+?)\. Each",
                                    reporter.locator("#room-me").inner_text()).group(1)
        expect(card).to_contain_text(f"Reported by {reporter_handle}")
        expect(card.locator(".ctx-msg.reported")).to_contain_text(rude)
        edited = card.locator(f'.ctx-msg[data-seq="{first_seq}"]')
        expect(edited.locator(".body")).to_have_text(f"Wells score 1, PERC negative [{tag}]")
        # What the author took back, for the moderator only (an audited read).
        edited.get_by_role("button", name="Earlier versions").click()
        expect(edited.locator(".versions")).to_be_focused()
        expect(edited.locator(".versions .version")).to_have_count(1)
        expect(edited.locator(".versions .version .body")).to_have_text(
            f"Wells score 2, PERC negative [{tag}]")

        seq = message.get_attribute("data-seq")  # its text goes once hidden
        card.get_by_role("button", name="Hide").click()
        expect(card.locator(".mod-status")).to_have_text("Hidden.")
        expect(reporter.locator(f'#messages .msg[data-seq="{seq}"]')).to_contain_text("Hidden by a moderator")

        card.get_by_label("Mute for").select_option("60")
        card.get_by_role("button", name="Mute").click()
        expect(card.locator(".mod-status")).to_have_text("Muted.")
        send_message(author, f"Why can I not post? [{tag}]")
        expect(author.locator("#composer-error")).not_to_be_empty()

        card.get_by_role("button", name="Resolve").click()
        expect(card.locator(".mod-status")).to_have_text("Write a note first.")
        card.get_by_label(re.compile("Resolution note")).fill("Hidden and muted for an hour.")
        card.get_by_role("button", name="Resolve").click()
        expect(mod.locator("#mod-queue .report-card", has_text="Insulting a colleague")).to_have_count(0)

        # The PHI-confirmation log: the kind of finding, never the number.
        mod.locator("#mod-refresh").click()
        expect(mod.locator("#mod-phi .phi-entry").first).to_contain_text("Message sent")
        expect(mod.locator("#mod-phi .phi-entry").first).to_contain_text("phone number")
        expect(mod.locator("#mod-phi")).not_to_contain_text("867")
        assert author.dialogs == [] and reporter.dialogs == [] and mod.dialogs == []
        close_pages(author, reporter, mod)

    browser.run(steps)


def test_report_is_in_spanish_and_only_moderators_get_the_console(browser, daphne_server, make_physician):
    _, email_a, password = make_physician(languages=("es",))
    _, email_b, _ = make_physician(languages=("es",))

    def steps(chromium: Browser) -> None:
        a, b = new_page(chromium, locale="es-ES"), new_page(chromium, locale="es-ES")
        login(a, daphne_server, email_a, password)
        login(b, daphne_server, email_b, password)
        expect(b.locator("#mod-open")).to_be_hidden()  # not a moderator
        join_room(a, LOUNGE)
        join_room(b, LOUNGE)
        send_message(a, f"¿Alguien ha usado levosimendán en shock cardiogénico? [{uuid.uuid4().hex[:6]}]")
        seen = b.locator("#messages .msg", has_text="levosimendán")
        seen.get_by_role("button", name="Denunciar").click()
        b.get_by_role("button", name="Enviar la denuncia").click()
        expect(seen.locator(".report-status")).to_have_text("Di por qué, en pocas palabras.")
        close_pages(a, b)

    browser.run(steps)
