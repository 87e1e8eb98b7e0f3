"""The digest mail (consult/digest.py, ``manage.py send_digests``), read from a real SMTP
server in-process (aiosmtpd): one mail per offline physician with counts and a link to the
inbox, no text; nothing counted twice; nothing for the online, nor for what was read."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from consult import digest
from consult.models import Notification
from crypto import envelope
from physicians.selectors import physician_profile
from rooms import roster
from tests.support import mail
from tests.support.people import Person

pytestmark = pytest.mark.django_db(transaction=True)

smtp = mail.smtp
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
SECRET = "Troponin flat, septal ST depression"


@pytest.fixture(autouse=True)
def fresh_caches(fresh_presence):
    envelope.cache_clear()
    roster._cache.clear()
    yield
    roster._cache.clear()


def _email(person) -> str:
    return physician_profile(physician=person.physician).email


def test_one_digest_per_offline_physician_counts_only_never_twice(smtp, make_physician):
    ana, ben, cy, dee = (Person(make_physician) for _ in range(4))
    first = ben.post("Is it " + SECRET)
    ana.post(SECRET + " again?", mentions=[cy.pseudonym, dee.pseudonym], reply_to=first)
    ana.post("And " + SECRET, mentions=[cy.pseudonym])
    Notification.objects.filter(user=dee.user).update(read_at=NOW)  # dee read it

    assert digest.digests_send(online={str(ben.user.pk)}, now=NOW) == 1  # ben is online
    assert [rcpts for rcpts, _ in smtp.mails] == [[_email(cy)]]
    message = smtp.mails[0][1]
    body = message.get_payload(decode=True).decode()
    assert "Mentions of you: 2" in body and "in 1 room." in body
    assert f"{mail.PUBLIC_URL}/#inbox" in body
    for text in ("Troponin", "septal", "ST depression", "lounge-cardiology"):
        assert text not in body and text not in message["Subject"]

    # Again: nothing new for cy; ben is offline now and gets his reply, once.
    assert digest.digests_send(online=set(), now=NOW) == 1
    assert [rcpts for rcpts, _ in smtp.mails][1:] == [[_email(ben)]]
    assert "Replies to your messages: 1" in smtp.mails[1][1].get_payload(decode=True).decode()
    assert digest.digests_send(online=set(), now=NOW) == 0
    assert len(smtp.mails) == 2

    # A new mention is a new digest, counting only the new one.
    ana.post("One more thing", mentions=[cy.pseudonym])
    out = io.StringIO()
    call_command("send_digests", stdout=out)
    assert "digests sent: 1" in out.getvalue()
    assert "Mentions of you: 1" in smtp.mails[2][1].get_payload(decode=True).decode()
