"""A real SMTP server in-process (aiosmtpd) for tests that read the mail the server sent."""

from __future__ import annotations

import email
import email.message
import re

import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import free_port

PUBLIC_URL = "https://curbside.test"


class Inbox:
    """What the SMTP server received: (recipients, parsed message) per mail."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], email.message.Message]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.mails.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(settings):
    """Django's SMTP backend pointed at a fresh in-process SMTP server; yields its Inbox."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.CURBSIDE_PUBLIC_URL = PUBLIC_URL
    yield inbox
    controller.stop()


def alert_token(mail: email.message.Message) -> str:
    """The token of the offer-alert link in ``mail``."""
    body = mail.get_payload(decode=True).decode()
    match = re.search(re.escape(PUBLIC_URL) + r"/alerts/(\S+)", body)
    assert match, body
    return match.group(1)
