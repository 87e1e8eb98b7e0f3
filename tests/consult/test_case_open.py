"""Opening an urgent case: the case and its routing row are stored together, and a case
whose fast-path start never came is started by a driver once the grace is over — once.

Time is a number passed in (``posted`` is the case's ``posted_at`` as epoch seconds);
presence is the configured store (Redis in CI) under a prefix of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from bus import hub
from consult import codec, services
from consult import driver as dispatch
from consult.models import Case, Routing
from consult.triage import RouteStatus
from crypto.models import AuditEntry
from presence import runtime
from presence.store import PresenceProfile
from rooms.models import Membership, Room

POSTED = 2_000_000_000.0  # a fixed posting time, far from the wall clock on purpose


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []

    async def fake_publish(items):
        sent.extend(items)

    monkeypatch.setattr(hub, "publish", fake_publish)
    return sent


def _offers_to(published, user_id: str) -> list[dict]:
    group = hub.user_group(user_id)
    return [json.loads(m["frame"])["data"] for g, m in published
            if g == group and m.get("type") == hub.FRAME
            and json.loads(m["frame"])["type"] == "offer.new"]


async def _online(user_id: str, now: float = POSTED) -> None:
    store = runtime.store()
    await store.connect(user_id=user_id, conn_id=f"c-{uuid.uuid4().hex}", process_id="test",
                        profile=PresenceProfile(specialties=["cardiology"], languages=["en"],
                                                country="GB"), now=now)
    await store.set_on_call(user_id=user_id, on_call=True, now=now)


def _open(poster, summary: str = "syncope, QT 520 ms", **kw) -> Case:
    kw.setdefault("urgency", "urgent")
    return services.case_open(poster=poster.user, specialty="cardiology", summary=summary,
                              now=datetime.fromtimestamp(POSTED, tz=UTC), **kw)


def _stored() -> tuple[int, int, int]:
    return (Case.objects.count(), Routing.objects.count(),
            Room.objects.filter(kind="case").count())


# --- one transaction ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_an_urgent_case_is_stored_with_its_routing_row_due_after_the_grace(make_physician):
    poster, *_ = make_physician(specialty="emergency-medicine")
    case = _open(poster)
    row = Routing.objects.get(pk=str(case.pk))
    assert row.state is None and row.active
    assert row.next_deadline == POSTED + services.START_GRACE_S
    assert services.routing_due(now=POSTED + services.START_GRACE_S) == [str(case.pk)]
    assert services.routing_due(now=POSTED + services.START_GRACE_S - 0.1) == []


@pytest.mark.django_db
def test_a_routine_case_has_no_routing_row(make_physician):
    poster, *_ = make_physician(specialty="emergency-medicine")
    case = _open(poster, urgency="routine")
    assert not Routing.objects.filter(pk=str(case.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_when_the_routing_row_cannot_be_stored_neither_is_the_case(make_physician, monkeypatch):
    poster, *_ = make_physician(specialty="emergency-medicine")
    before = _stored()
    members = Membership.objects.count()
    audit = AuditEntry.objects.count()

    def refuse(**kwargs):
        raise RuntimeError("the database refused the routing row")

    monkeypatch.setattr(Routing.objects, "create", refuse)
    with pytest.raises(RuntimeError):  # a confirmed PHI finding: its audit entry goes too
        _open(poster, summary="syncope, MRN: 00123456 is not a record number",
              confirm_phi=True)
    assert _stored() == before  # no case, no routing row, no case room
    assert Membership.objects.count() == members
    assert AuditEntry.objects.count() == audit
    monkeypatch.undo()
    _open(poster, summary="syncope, MRN: 00123456 is not a record number", confirm_phi=True)
    assert AuditEntry.objects.count() == audit + 1  # the same call, stored, is audited
    assert _stored() == (before[0] + 1, before[1] + 1, before[2] + 1)


# --- the driver starts what the fast path did not ----------------------------------------------

@pytest.mark.django_db(transaction=True)
async def test_the_driver_starts_a_case_nobody_started_after_the_grace(make_physician,
                                                                       fresh_presence,
                                                                       published):
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    docs = [(await sync_to_async(make_physician)())[0] for _ in range(2)]
    for doc in docs:
        await _online(str(doc.user_id))
    case = await sync_to_async(_open)(poster)
    case_id = str(case.pk)

    # Within the grace the poster's process may still start it: the driver leaves it alone.
    assert await dispatch.tick(now=POSTED + 0.5) == 0
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    assert row.state is None and row.active
    assert all(_offers_to(published, str(d.user_id)) == [] for d in docs)

    assert await dispatch.tick(now=POSTED + services.START_GRACE_S + 1) == 1
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    state = codec.state_load(row.state)
    assert state.status is RouteStatus.OFFERING
    assert {o.user_id for o in state.outstanding} == {str(d.user_id) for d in docs}
    # The first deadline: an expiry, or the first widening step if earlier (docs/routing.md).
    assert row.next_deadline == state.next_deadline()
    assert row.next_deadline <= min(o.expires_at for o in state.outstanding)
    for doc in docs:
        offers = _offers_to(published, str(doc.user_id))
        assert len(offers) == 1 and offers[0]["case"]["id"] == case_id
    # The next pass has nothing to start.
    assert await dispatch.tick(now=POSTED + services.START_GRACE_S + 2) == 0
    first_offer_at = await sync_to_async(
        lambda: Case.objects.values_list("first_offer_at", flat=True).get(pk=case_id))()
    assert first_offer_at is not None


async def _case_and_specialists(make_physician, n: int = 2):
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    docs = [(await sync_to_async(make_physician)())[0] for _ in range(n)]
    for doc in docs:
        await _online(str(doc.user_id))
    case = await sync_to_async(_open)(poster)
    urgent = await sync_to_async(services.urgent_case)(
        await sync_to_async(Case.objects.select_related("specialty", "subspecialty").get)(
            pk=case.pk))
    return case, urgent, docs


def _assert_offered_once(published, docs, state) -> None:
    for doc in docs:
        assert len(_offers_to(published, str(doc.user_id))) == 1
    assert state.offer_seq == len(docs) and len(state.outstanding) == len(docs)


@pytest.mark.django_db(transaction=True)
async def test_the_fast_path_then_the_driver_offers_once(make_physician, fresh_presence,
                                                         published):
    case, urgent, docs = await _case_and_specialists(make_physician)
    await dispatch.case_route_start(urgent, now=POSTED + 0.1)
    assert await dispatch.tick(now=POSTED + services.START_GRACE_S + 1) == 0
    again = await dispatch.case_route_start(urgent, now=POSTED + services.START_GRACE_S + 1)
    state = codec.state_load((await sync_to_async(Routing.objects.get)(pk=str(case.pk))).state)
    assert again == state
    _assert_offered_once(published, docs, state)


@pytest.mark.django_db(transaction=True)
async def test_the_driver_then_a_late_fast_path_offers_once(make_physician, fresh_presence,
                                                            published):
    case, urgent, docs = await _case_and_specialists(make_physician)
    assert await dispatch.tick(now=POSTED + services.START_GRACE_S + 1) == 1
    await dispatch.case_route_start(urgent, now=POSTED + services.START_GRACE_S + 1.5)
    state = codec.state_load((await sync_to_async(Routing.objects.get)(pk=str(case.pk))).state)
    _assert_offered_once(published, docs, state)


@pytest.mark.django_db(transaction=True)
async def test_the_driver_and_the_fast_path_at_once_offer_once(make_physician, fresh_presence,
                                                               published):
    case, urgent, docs = await _case_and_specialists(make_physician)
    now = POSTED + services.START_GRACE_S + 1
    await asyncio.gather(dispatch.case_route_start(urgent, now=now), dispatch.tick(now=now))
    state = codec.state_load((await sync_to_async(Routing.objects.get)(pk=str(case.pk))).state)
    _assert_offered_once(published, docs, state)
