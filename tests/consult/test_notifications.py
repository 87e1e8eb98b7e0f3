"""Stored notifications on the real database: an urgent offer that expires unanswered is a
missed offer in its specialist's inbox; a poll closing tells the case's audience; mutes end
by themselves. The socket side is tests/e2e/test_notifications.py."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from consult import driver, notifications, polls, services
from consult.models import Notification
from core.errors import ValidationFailed
from presence import runtime
from presence.store import PresenceProfile

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 2_000_000_000.0


@pytest.fixture(autouse=True)
def _fresh(fresh_presence):
    """Nobody online at the start."""


def _kinds(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("id")
                .values_list("kind", flat=True))


async def test_an_expired_offer_is_a_missed_offer_in_the_inbox(make_physician):
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    doc, *_ = await sync_to_async(make_physician)()
    store = runtime.store()
    await store.connect(user_id=str(doc.user_id), conn_id=f"c-{uuid.uuid4().hex}",
                        process_id="test", profile=PresenceProfile(
                            specialties=["cardiology"], languages=["en"], country="GB"), now=T0)
    await store.set_on_call(user_id=str(doc.user_id), on_call=True, now=T0)
    case = await sync_to_async(services.case_open)(poster=poster.user, specialty="cardiology",
                                                   summary="syncope", urgency="urgent")
    state = await driver.case_route_start(await sync_to_async(services.urgent_case)(case),
                                          now=T0)
    offer = state.outstanding[0].offer_id
    assert await sync_to_async(_kinds)(doc.user) == []
    await driver.tick(now=T0 + driver.policy().offer_ttl_s + 1)
    rows = await sync_to_async(list)(Notification.objects.filter(user=doc.user))
    assert [(n.kind, n.detail) for n in rows] == [("offer_missed", {"offer": offer})]
    assert rows[0].case_id == case.pk


def test_a_closing_poll_tells_the_case_audience_and_a_mute_ends_by_itself(make_physician):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    fan, _, _ = make_physician(specialty="neurology")
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope in a swimmer", urgency="routine")
    notifications.case_follow(case_id=str(case.pk), user=fan.user)
    poll, _ = polls.poll_create(case_id=str(case.pk), user=poster.user,
                                options=["Long QT", "Vasovagal"])
    now = timezone.now()
    notifications.room_mute(user=fan.user, room_id=case.room_id,
                            until=(now + timedelta(minutes=5)).timestamp(), now=now)
    polls.poll_close(poll_id=str(poll.pk), user=poster.user, now=now)
    assert _kinds(fan.user) == [] and _kinds(poster.user) == []  # muted; the actor
    # Five minutes later the mute is over by itself.
    later = now + timedelta(minutes=6)
    notifications.poll_closed(case=case, poll_id=str(poll.pk), votes=0, actor=poster.user,
                              now=later)
    assert _kinds(fan.user) == ["poll_closed"]


@pytest.mark.parametrize("until", [1e300, 1e18, 253402300800.0])  # the last: year 10000
def test_a_mute_past_any_date_is_refused_as_too_long_not_an_internal_error(make_physician,
                                                                           until):
    """``room.mute`` with a huge ``until`` (valid: a float ≥ 0) answered ``internal``: the
    year check came after ``datetime.fromtimestamp``, which overflows first."""
    fan, _, _ = make_physician(specialty="neurology")
    poster, _, _ = make_physician(specialty="emergency-medicine")
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope in a swimmer", urgency="routine")
    notifications.case_follow(case_id=str(case.pk), user=fan.user)
    with pytest.raises(ValidationFailed) as refused:
        notifications.room_mute(user=fan.user, room_id=case.room_id, until=until)
    assert refused.value.fields == {"until": "At most a year."}
