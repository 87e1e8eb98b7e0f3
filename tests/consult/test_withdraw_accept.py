"""Withdrawing an urgent case and accepting its offers, on the real database.

An accept after the poster withdrew the case answers ``conflict`` (not an internal error),
over the service and over the socket; withdrawing closes every open offer on the offered
specialists' sockets; the usual refusals keep their codes. Then the pure transition,
``triage.route_on_withdraw``.

Time is a number passed in; presence is the configured store (Redis in CI) under a prefix
of the test's own (``fresh_presence``); events are what ``bus.hub.publish`` is handed after
commit.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from bus import hub
from consult import codec, services
from consult import driver as dispatch
from consult.models import Case, Routing
from consult.states import CaseStatus
from consult.triage import (
    Candidate,
    CloseOffer,
    RouteStatus,
    RoutingClosed,
    RoutingPolicy,
    Taxonomy,
    UrgentCase,
    route_on_accept,
    route_on_decline,
    route_on_expiry,
    route_on_online,
    route_on_withdraw,
    route_start,
)
from core.errors import Conflict, IllegalTransition, NotFound
from gateway import ops_consult
from gateway.consumer import CurbsideConsumer
from physicians.selectors import SocketIdentity
from presence import runtime
from presence.store import PresenceProfile

T0 = 2_000_000_000.0  # a fixed "now", far from the wall clock on purpose

db = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict]]:
    """Every (group, message) handed to ``hub.publish`` after a commit, in order."""
    sent: list[tuple[str, dict]] = []

    async def fake_publish(items):
        sent.extend(items)

    monkeypatch.setattr(hub, "publish", fake_publish)
    return sent


def _events(published, user_id: str, kind: str) -> list[dict]:
    group = hub.user_group(user_id)
    out = []
    for g, message in published:
        if g == group and message.get("type") == hub.FRAME:
            frame = json.loads(message["frame"])
            if frame.get("type") == kind:
                out.append(frame["data"])
    return out


async def _online(user_id: str, *, on_call: bool = True, specialty: str = "cardiology",
                  now: float = T0) -> None:
    store = runtime.store()
    await store.connect(user_id=user_id, conn_id=f"c-{uuid.uuid4().hex}", process_id="test",
                        profile=PresenceProfile(specialties=[specialty], languages=["en"],
                                                country="GB"), now=now)
    await store.set_on_call(user_id=user_id, on_call=on_call, now=now)


async def _routed(make_physician, *, specialists: int = 2):
    """An urgent cardiology case offered to ``specialists`` online on-call cardiologists."""
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    docs = [(await sync_to_async(make_physician)())[0] for _ in range(specialists)]
    for doc in docs:
        await _online(str(doc.user_id))
    case = await sync_to_async(services.case_open)(
        poster=poster.user, specialty="cardiology", summary="syncope, QT 520 ms",
        urgency="urgent")
    state = await dispatch.case_route_start(
        UrgentCase(case_id=str(case.pk), specialty="cardiology", poster_id=str(poster.user_id),
                   language="en"), now=T0)
    assert {o.user_id for o in state.outstanding} == {str(d.user_id) for d in docs}
    return str(case.pk), poster, docs, state


async def _heartbeat(user_id: str, now: float) -> None:
    store = runtime.store()
    presence = await store.get(user_id, now=now)
    for c in presence.connections:
        await store.heartbeat(user_id=user_id, conn_id=c.conn_id, now=now)


def _routing(case_id: str):
    row = Routing.objects.get(pk=case_id)
    return row, codec.state_load(row.state) if row.state is not None else None


def _withdraw(case_id: str, user, now: float = T0 + 5):
    return sync_to_async(services.case_withdraw)(case_id=case_id, user=user, now=now)


def _accept(case_id: str, user, now: float = T0 + 6):
    return sync_to_async(services.offer_accept)(case_id=case_id, user=user, now=now)


# --- accept after withdraw --------------------------------------------------------------------

@db
async def test_an_accept_after_withdraw_answers_conflict(make_physician, fresh_presence):
    case_id, poster, (doc, _), _ = await _routed(make_physician)
    await _withdraw(case_id, poster.user)
    with pytest.raises(Conflict) as refused:
        await _accept(case_id, doc.user)
    assert refused.value.code == "conflict"
    assert "withdrawn" in refused.value.message
    assert refused.value.details == {"case": case_id}
    case = await sync_to_async(Case.objects.get)(pk=case_id)
    assert case.status == CaseStatus.WITHDRAWN and case.accepted_by_id is None
    row, state = await sync_to_async(_routing)(case_id)
    assert not row.active and row.next_deadline is None
    assert state.status is RouteStatus.WITHDRAWN and state.claimed_by is None


@db
async def test_an_accept_after_withdraw_over_the_socket_handler_is_conflict(make_physician,
                                                                            fresh_presence):
    case_id, poster, (doc, _), state = await _routed(make_physician)
    offer = next(o.offer_id for o in state.outstanding if o.user_id == str(doc.user_id))
    await _withdraw(case_id, poster.user)

    class Conn:
        user = doc.user

    from bus import protocol
    with pytest.raises(Conflict):
        await ops_consult.offer_accept(Conn(), protocol.OfferAccept(offer=offer))


class _Socket(CurbsideConsumer):
    """The consumer without a transport: what it sends is recorded."""

    def __init__(self, user) -> None:
        super().__init__()
        self.identity = SocketIdentity(user_id=str(user.pk), role=user.role, profile=None)
        self.last_heartbeat = time.monotonic()  # no presence write during the test
        self.active_since_ping = False
        self.rooms = {}
        self.replies: list[dict] = []

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        self.replies.append(json.loads(text_data))


@db
async def test_the_consumer_answers_an_accept_after_withdraw_with_conflict(make_physician,
                                                                         fresh_presence):
    case_id, poster, (doc, _), state = await _routed(make_physician)
    offer = next(o.offer_id for o in state.outstanding if o.user_id == str(doc.user_id))
    await _withdraw(case_id, poster.user)
    socket = _Socket(doc.user)
    await socket.receive(text_data=json.dumps({"op": "offer.accept", "ref": 7, "offer": offer}))
    assert len(socket.replies) == 1
    reply = socket.replies[0]
    assert reply["ref"] == 7 and reply["ok"] is False
    assert reply["error"]["code"] == "conflict", reply


@db
async def test_an_accept_after_another_specialist_claimed_is_conflict_already_taken(
        make_physician, fresh_presence, published):
    case_id, _, (first, second), _ = await _routed(make_physician)
    state = await dispatch.offer_accept(case_id=case_id, user=first.user, now=T0 + 3)
    assert state.status is RouteStatus.CLAIMED and state.claimed_by == str(first.user_id)
    with pytest.raises(Conflict) as refused:
        await _accept(case_id, second.user)
    assert "already taken" in refused.value.message
    socket = _Socket(second.user)
    await socket.receive(text_data=json.dumps({"op": "offer.accept", "ref": 1,
                                               "offer": f"{case_id}:2"}))
    assert socket.replies[0]["error"]["code"] == "conflict"
    assert "already taken" in socket.replies[0]["error"]["message"]
    # The loser's offer was closed when the winner claimed.
    assert [e["reason"] for e in _events(published, str(second.user_id), "offer.closed")] == [
        "claimed"]


# --- withdraw ---------------------------------------------------------------------------------

@db
async def test_withdraw_closes_every_open_offer_on_the_offered_sockets(make_physician,
                                                                       fresh_presence, published,
                                                                       settings):
    # Three offers open at once from the start (the defaults open two, then widen).
    settings.CURBSIDE_ROUTING = {**settings.CURBSIDE_ROUTING, "k": 3}
    case_id, poster, docs, state = await _routed(make_physician, specialists=3)
    offers = {o.user_id: o.offer_id for o in state.outstanding}
    published.clear()
    await _withdraw(case_id, poster.user)
    for doc in docs:
        closed = _events(published, str(doc.user_id), "offer.closed")
        assert closed == [{"offer": offers[str(doc.user_id)], "case": case_id,
                           "reason": "withdrawn"}]
    steps = [e["step"] for e in _events(published, str(poster.user_id), "case.routing")]
    assert steps == ["withdrawn"]
    # Nothing is due any more: no driver steps the case again.
    assert await sync_to_async(services.routing_due)(now=T0 + 10_000) == []
    assert await dispatch.tick(now=T0 + 10_000) == 0


@db
async def test_withdraw_closes_only_the_offers_still_open(make_physician, fresh_presence,
                                                          published):
    case_id, poster, (declining, waiting), _ = await _routed(make_physician)
    state = await sync_to_async(services.routing_get)(case_id=case_id)
    offer = next(o.offer_id for o in state.outstanding if o.user_id == str(declining.user_id))
    await dispatch.offer_decline(case_id=case_id, offer_id=offer, user_id=str(declining.user_id),
                                 now=T0 + 1)
    published.clear()
    await _withdraw(case_id, poster.user)
    assert _events(published, str(declining.user_id), "offer.closed") == []
    assert [e["reason"] for e in _events(published, str(waiting.user_id), "offer.closed")] == [
        "withdrawn"]


@db
async def test_withdraw_by_someone_else_or_of_a_malformed_id_is_not_found(make_physician,
                                                                          fresh_presence):
    case_id, poster, (doc, _), _ = await _routed(make_physician)
    with pytest.raises(NotFound):
        await _withdraw(case_id, doc.user)  # an offered specialist is not the poster
    for bad in ("not-a-uuid", "", str(uuid.uuid4()), case_id + "x"):
        with pytest.raises(NotFound):
            await _withdraw(bad, poster.user)
    # Nothing changed: the offers are still open and can be accepted.
    state = await dispatch.offer_accept(case_id=case_id, user=doc.user, now=T0 + 2)
    assert state.status is RouteStatus.CLAIMED


@db
async def test_a_second_withdraw_is_conflict(make_physician, fresh_presence, published):
    case_id, poster, _, _ = await _routed(make_physician)
    await _withdraw(case_id, poster.user)
    published.clear()
    with pytest.raises(IllegalTransition) as again:
        await _withdraw(case_id, poster.user, now=T0 + 6)
    assert isinstance(again.value, Conflict) and again.value.code == "conflict"
    assert published == []  # the refused withdraw announced nothing


@db
async def test_a_withdraw_before_routing_started_is_never_routed(make_physician, fresh_presence,
                                                                 published):
    """The poster withdraws while the case waits for its first routing step (the fast path
    failed; a driver found the row due a moment earlier): no offer ever goes out."""
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    doc, *_ = await sync_to_async(make_physician)()
    await _online(str(doc.user_id))
    case = await sync_to_async(services.case_open)(
        poster=poster.user, specialty="cardiology", summary="syncope, QT 520 ms",
        urgency="urgent")
    await _withdraw(str(case.pk), poster.user)
    urgent = UrgentCase(case_id=str(case.pk), specialty="cardiology",
                        poster_id=str(poster.user_id), language="en")
    with pytest.raises(NotFound):  # the late start finds nothing to route
        await dispatch.case_route_start(urgent, now=T0 + 3)
    assert await dispatch.tick(now=T0 + services.START_GRACE_S + 10) == 0
    assert _events(published, str(doc.user_id), "offer.new") == []
    row, _ = await sync_to_async(_routing)(str(case.pk))
    assert not row.active
    with pytest.raises((NotFound, Conflict)):
        await _accept(str(case.pk), doc.user)


@db
async def test_a_driver_that_found_the_case_due_just_before_the_withdraw_starts_nothing(
        make_physician, fresh_presence, published, monkeypatch):
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    doc, *_ = await sync_to_async(make_physician)()
    await _online(str(doc.user_id))
    case = await sync_to_async(services.case_open)(
        poster=poster.user, specialty="cardiology", summary="syncope, QT 520 ms",
        urgency="urgent")
    real_pending = services.routing_pending

    def pending_then_withdrawn(*, case_id):
        found = real_pending(case_id=case_id)
        services.case_withdraw(case_id=case_id, user=poster.user, now=T0 + 2)  # meanwhile
        return found

    monkeypatch.setattr(services, "routing_pending", pending_then_withdrawn)
    due = T0 + services.START_GRACE_S + 1
    await _heartbeat(str(doc.user_id), due)
    assert await dispatch.tick(now=due) == 0  # no error: the pass goes on
    assert _events(published, str(doc.user_id), "offer.new") == []
    row, state = await sync_to_async(_routing)(str(case.pk))
    assert not row.active and state is None


# --- the pure transition ------------------------------------------------------------------------

def _candidate(user_id: str, **kw) -> Candidate:
    values = dict(specialties=("cardiology",), languages=("en",), status="available",
                  on_call=True, open_consults=0, last_offered_at=None)
    values.update(kw)
    return Candidate(user_id=user_id, **values)


def _started(n: int = 2):
    case = UrgentCase(case_id="c1", specialty="cardiology", poster_id="poster", language="en")
    state, _ = route_start(case, [_candidate(f"d{i}") for i in range(n)], Taxonomy(parents={}),
                           RoutingPolicy(k=3, offer_ttl_s=90), 100.0)
    assert len(state.outstanding) == n
    return state


def test_route_on_withdraw_closes_every_open_offer_and_is_final():
    state = _started(2)
    withdrawn, actions = route_on_withdraw(state)
    assert actions == [CloseOffer(o.user_id, o.offer_id, "withdrawn") for o in state.outstanding]
    assert withdrawn.status is RouteStatus.WITHDRAWN
    assert withdrawn.outstanding == () and withdrawn.next_deadline() is None
    assert not withdrawn.lounge_called  # a lounge call no longer lets anyone accept


def test_nothing_moves_a_withdrawn_routing():
    withdrawn, _ = route_on_withdraw(_started(2))
    assert route_on_withdraw(withdrawn) == (withdrawn, [])
    assert route_on_expiry(withdrawn, [_candidate("d9")], 10_000.0) == (withdrawn, [])
    assert route_on_online(withdrawn, _candidate("d9"), 200.0) == (withdrawn, [])
    assert route_on_decline(withdrawn, "d0", [_candidate("d9")], 200.0) == (withdrawn, [])
    for user in ("d0", "d9", "poster"):
        with pytest.raises(RoutingClosed):
            route_on_accept(withdrawn, user, 200.0)


def test_a_withdrawn_lounge_call_accepts_nobody():
    case = UrgentCase(case_id="c1", specialty="cardiology", poster_id="poster", language="en")
    state, _ = route_start(case, [], Taxonomy(parents={}), RoutingPolicy(), 100.0)
    assert state.lounge_called
    withdrawn, actions = route_on_withdraw(state)
    assert actions == [] and withdrawn.status is RouteStatus.WITHDRAWN
    with pytest.raises(RoutingClosed):
        route_on_accept(withdrawn, "anyone", 200.0)


def test_a_claimed_routing_is_not_withdrawn_by_the_state_machine():
    state = _started(2)
    claimed, _ = route_on_accept(state, "d0", 150.0)
    assert route_on_withdraw(claimed) == (claimed, [])
