"""Offline alerts: an on-call specialist with no open socket gets the urgent case by e-mail
from a real SMTP server in-process (aiosmtpd), and the accept link in it works once, for its
addressee, while the case is open; anything else is a clear error, never a 500."""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from consult import driver, services
from consult.models import Case
from physicians.services import physician_on_call_set
from presence import runtime
from presence.store import PresenceProfile
from tests.support import mail

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Syncope with QT 520 ms after azithromycin: admit to telemetry?"


smtp = mail.smtp


@pytest.fixture(autouse=True)
def _fresh(fresh_presence):
    """Nobody online at the start."""


async def _online(user_id: str) -> None:
    store = runtime.store()
    now = time.time()
    await store.connect(user_id=user_id, conn_id=f"c-{uuid.uuid4().hex}", process_id="test",
                        profile=PresenceProfile(specialties=["cardiology"], languages=["en"],
                                                country="GB"), now=now)
    await store.set_on_call(user_id=user_id, on_call=True, now=now)


def _client(physician) -> Client:
    client = Client()
    client.force_login(physician.user)
    return client


def _accept(client: Client, token: str):
    return client.post(f"/api/v1/alerts/{token}/accept", {}, content_type="application/json")


def test_an_offline_on_call_specialist_gets_the_offer_by_mail_and_the_link_works_once(
        smtp, make_physician):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    (ana, ana_mail, _), (bo, bo_mail, _) = make_physician(), make_physician()
    online, _, _ = make_physician()
    off_call, _, _ = make_physician()
    for p in (ana, bo, online):
        physician_on_call_set(user_id=str(p.user_id), on_call=True)
    async_to_sync(_online)(str(online.user_id))

    case = services.case_open(poster=poster.user, specialty="cardiology", summary=QUESTION,
                              urgency="urgent")
    urgent = services.urgent_case(case)
    state = async_to_sync(driver.case_route_start)(urgent)
    # The online specialist gets the socket offer; the two offline on-call ones a mail each.
    assert [o.user_id for o in state.outstanding] == [str(online.user_id)]
    by_rcpt = {rcpts[0]: message for rcpts, message in smtp.mails}
    assert sorted(by_rcpt) == sorted([ana_mail, bo_mail]), smtp.mails
    sent = by_rcpt[ana_mail]
    assert "Urgent" in sent["Subject"]
    assert QUESTION not in sent.as_string() and "azithromycin" not in sent.as_string()

    # Starting the same routing again (another process) mails nobody twice.
    async_to_sync(driver.case_route_start)(urgent)
    assert len(smtp.mails) == 2

    token, bo_token = mail.alert_token(sent), mail.alert_token(by_rcpt[bo_mail])
    path = f"/api/v1/alerts/{token}"
    # Needs their login, and only theirs.
    anonymous = _accept(Client(), token)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    other = _accept(_client(bo), token)
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    assert _client(off_call).get(path).status_code == 403

    ana_client = _client(ana)
    shown = ana_client.get(path)
    assert shown.status_code == 200, shown.content
    assert shown.json()["alert"] == {"case": str(case.pk), "specialty": "cardiology",
                                     "open": True, "used": False}
    taken = _accept(ana_client, token)
    assert taken.status_code == 200, taken.content
    assert taken.json() == {"case": str(case.pk), "room": case.room_id}
    case.refresh_from_db()
    assert case.status == "claimed" and case.accepted_by_id == ana.user_id

    again = _accept(ana_client, token)
    assert again.status_code == 409, again.content
    assert again.json()["error"]["code"] == "conflict"
    assert again.json()["error"]["details"]["reason"] == "used"
    assert ana_client.get(path).json()["alert"]["open"] is False

    # The other mailed specialist's link, after the case was taken: closed, not a 500.
    late = _accept(_client(bo), bo_token)
    assert late.status_code == 409, late.content
    assert late.json()["error"]["details"]["reason"] == "closed"
    assert Case.objects.get(pk=case.pk).accepted_by_id == ana.user_id


def test_a_forged_or_expired_link_is_a_clear_error(smtp, make_physician, settings):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    ana, _, _ = make_physician()
    physician_on_call_set(user_id=str(ana.user_id), on_call=True)
    case = services.case_open(poster=poster.user, specialty="cardiology", summary=QUESTION,
                              urgency="urgent")
    async_to_sync(driver.case_route_start)(services.urgent_case(case))
    token = mail.alert_token(smtp.mails[0][1])
    client = _client(ana)
    forged = _accept(client, token[:-2] + "xx")
    assert forged.status_code == 404 and forged.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/alerts/nonsense").status_code == 404
    settings.CURBSIDE_OFFER_ALERT_TTL_S = -1  # every link is now too old
    expired = _accept(client, token)
    assert expired.status_code == 409
    assert expired.json()["error"]["details"]["reason"] == "expired"
    case.refresh_from_db()
    assert case.status == "open"
