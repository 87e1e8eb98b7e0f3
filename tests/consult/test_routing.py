"""Durable routing on the real database: driver expiries escalate, two drivers never double
escalate, and a restarted process picks pending deadlines up from the database.

Time is a number passed in (no sleeping); presence is the configured store (Redis in CI).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

import settings as project_settings
from consult import driver as dispatch
from consult import services
from consult import services as cases
from consult.models import Routing
from consult.triage import DEFAULT_POLICY, RouteStatus, UrgentCase, route_on_expiry
from physicians.models import User
from presence import runtime
from presence.store import PresenceProfile

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 2_000_000_000.0  # a fixed "now", far from the wall clock on purpose


@pytest.fixture(autouse=True)
def _fresh(fresh_presence):
    """Each test starts with nobody online."""


@pytest.fixture
def plain_policy(settings):
    """k offers throughout, tiers strictly in turn: the expiry mechanics alone."""
    settings.CURBSIDE_ROUTING = {"k": 3, "offer_ttl_s": 60.0, "max_open_consults": 2}


@pytest.fixture
def default_policy(settings):
    """The production defaults (consult.triage.DEFAULT_POLICY), whatever the environment."""
    settings.CURBSIDE_ROUTING = dataclasses.asdict(DEFAULT_POLICY)


async def _online(user_id: str, *, on_call: bool, specialty: str = "cardiology", now=T0):
    store = runtime.store()
    await store.connect(user_id=user_id, conn_id=f"c-{uuid.uuid4().hex}", process_id="test",
                        profile=PresenceProfile(specialties=[specialty], languages=["en"],
                                                country="GB"), now=now)
    await store.set_on_call(user_id=user_id, on_call=on_call, now=now)


async def _heartbeat_all(until: float) -> None:
    """What clients do: ping every heartbeat interval, keeping connections alive to ``until``."""
    store = runtime.store()
    step = runtime.connection_ttl_s() / 3
    t = T0 + step
    while t <= until:
        for p in await store.online(now=t):
            for c in p.connections:
                await store.heartbeat(user_id=p.user_id, conn_id=c.conn_id, now=t)
        t += step


async def _post(make_physician) -> tuple[str, list[str]]:
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    on_call, *_ = await sync_to_async(make_physician)()
    off_call, *_ = await sync_to_async(make_physician)()
    await _online(str(on_call.user_id), on_call=True)
    await _online(str(off_call.user_id), on_call=False)
    case = await sync_to_async(cases.case_open)(poster=poster.user, specialty="cardiology",
                                                summary="syncope, QT 520 ms", urgency="urgent")
    state = await dispatch.case_route_start(
        UrgentCase(case_id=str(case.pk), specialty="cardiology",
                   poster_id=str(poster.user_id), language="en"), now=T0)
    assert [o.user_id for o in state.outstanding] == [str(on_call.user_id)]
    return str(case.pk), [str(on_call.user_id), str(off_call.user_id)]


def _state(case_id: str):
    from consult import codec
    return codec.state_load(Routing.objects.get(pk=case_id).state)


async def test_the_driver_expires_the_offer_and_escalates_to_tier_two(make_physician,
                                                                     plain_policy):
    case_id, (on_call, off_call) = await _post(make_physician)
    ttl = dispatch.policy().offer_ttl_s
    await _heartbeat_all(T0 + ttl)  # the specialists' clients keep pinging meanwhile
    assert await dispatch.tick(now=T0 + ttl - 1) == 0  # not due yet: nothing happens
    assert await dispatch.tick(now=T0 + ttl + 1) == 1
    state = await sync_to_async(_state)(case_id)
    assert state.tier == 2 and on_call in state.expired
    assert [o.user_id for o in state.outstanding] == [off_call]


async def test_an_offer_expires_exactly_at_its_deadline_and_the_next_tier_is_offered_then(
        make_physician, plain_policy):
    """The bound the end-to-end routing test used to check with the wall clock, on a fake
    one: the offered specialist's process dies (no more heartbeats), the other keeps pinging;
    at the offer's ``expires_at`` — not a moment before — the driver's tick expires the offer
    and offers tier 2, stamped with that same fake time."""
    case_id, (on_call, off_call) = await _post(make_physician)
    state = await sync_to_async(_state)(case_id)
    [offer] = state.outstanding
    ttl = dispatch.policy().offer_ttl_s
    assert offer.expires_at == T0 + ttl
    store = runtime.store()
    step = runtime.connection_ttl_s() / 3
    t = T0 + step
    while t < offer.expires_at:  # only the second specialist's client keeps pinging
        [conn] = (await store.get(off_call, now=t)).connections
        await store.heartbeat(user_id=off_call, conn_id=conn.conn_id, now=t)
        t += step

    just_before = offer.expires_at - 0.001
    assert await sync_to_async(services.routing_due)(now=just_before) == []
    assert await dispatch.tick(now=just_before) == 0
    assert (await sync_to_async(_state)(case_id)).outstanding == (offer,)

    assert await dispatch.tick(now=offer.expires_at) == 1
    # Its process died at T0: gone once its connection's time-to-live has passed (the offer,
    # shorter-lived, may expire first — it does not wait for the sweep).
    assert await store.get(on_call, now=T0 + runtime.connection_ttl_s()) is None
    state = await sync_to_async(_state)(case_id)
    assert state.tier == 2 and on_call in state.expired
    [second] = state.outstanding
    assert second.user_id == off_call and second.tier == 2
    assert second.expires_at == offer.expires_at + ttl  # offered at the fake "now"
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    assert row.next_deadline == second.expires_at


async def test_on_the_defaults_the_tier_wall_falls_while_the_on_call_offer_is_still_open(
        make_physician, default_policy):
    """Progressive widening through the database and the driver: the lone on-call
    specialist is asked alone; at 20 s (the first widening step) nobody else of tier 1 is
    there, so nothing happens; at 60 s (``escalate_after_s``) the off-call colleague is
    asked too (and tier 3, empty here, opens for the third slot), while the on-call offer
    stays open until its own expiry at 75 s."""
    case_id, (on_call, off_call) = await _post(make_physician)
    policy = dispatch.policy()
    assert policy == DEFAULT_POLICY
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    assert row.next_deadline == T0 + policy.widen[0][0]
    await _heartbeat_all(T0 + policy.offer_ttl_s)
    assert await dispatch.tick(now=T0 + policy.widen[0][0]) == 0
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    assert row.next_deadline == T0 + policy.escalate_after_s  # the next step, saved
    assert await dispatch.tick(now=T0 + policy.escalate_after_s - 1) == 0
    assert await dispatch.tick(now=T0 + policy.escalate_after_s) == 1
    state = await sync_to_async(_state)(case_id)
    assert [o.user_id for o in state.outstanding] == [on_call, off_call]
    assert state.tier == 3  # a slot of three still free: related specialties are open too
    assert state.outstanding[0].expires_at == T0 + policy.offer_ttl_s
    row = await sync_to_async(Routing.objects.get)(pk=case_id)
    assert row.next_deadline == T0 + policy.offer_ttl_s


def test_the_settings_defaults_are_the_simulated_defaults():
    """docs/routing.md chose DEFAULT_POLICY; settings.py must default to the same."""
    assert dispatch.RoutingPolicy(**project_settings.CURBSIDE_ROUTING) == DEFAULT_POLICY


async def test_a_restarted_process_finds_the_pending_escalation(make_physician):
    case_id, (_, off_call) = await _post(make_physician)
    # A new process: nothing cached but what the database and the store hold.
    dispatch.taxonomy.cache_clear()
    ttl = dispatch.policy().offer_ttl_s
    due = await sync_to_async(services.routing_due)(now=T0 + ttl + 1)
    assert due == [case_id]
    await _heartbeat_all(T0 + ttl)
    await dispatch.tick(now=T0 + ttl + 1)
    assert [o.user_id for o in (await sync_to_async(_state)(case_id)).outstanding] == [off_call]


async def test_two_drivers_at_once_escalate_once(make_physician):
    case_id, _ = await _post(make_physician)
    now = T0 + dispatch.policy().offer_ttl_s + 1
    results, barrier = [], threading.Barrier(2)

    def driver():
        from django.db import connection
        barrier.wait()
        try:
            results.append(services.routing_step(
                case_id=case_id, now=now, transition=lambda s: route_on_expiry(s, [], now)))
        finally:
            connection.close()

    threads = [threading.Thread(target=driver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    acted = [r for r in results if r.actions]
    assert len(acted) == 1  # the second saw the advanced state and did nothing
    state = await sync_to_async(_state)(case_id)
    assert state.tier >= 2 and state.status in (RouteStatus.OFFERING, RouteStatus.LOUNGE_CALLED)


async def test_a_specialist_coming_online_gets_the_waiting_case(make_physician):
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    case = await sync_to_async(cases.case_open)(poster=poster.user, specialty="dermatology",
                                                summary="rapidly spreading rash",
                                                urgency="urgent")
    state = await dispatch.case_route_start(
        UrgentCase(case_id=str(case.pk), specialty="dermatology",
                   poster_id=str(poster.user_id), language="en"), now=T0)
    assert state.lounge_called and not state.outstanding  # nobody online: lounge, then wait
    derm, *_ = await sync_to_async(make_physician)(specialty="dermatology")
    await _online(str(derm.user_id), on_call=True, specialty="dermatology", now=T0 + 5)
    await dispatch.on_online(str(derm.user_id), now=T0 + 5)
    state = await sync_to_async(_state)(case_id=str(case.pk))
    assert [o.user_id for o in state.outstanding] == [str(derm.user_id)]


def test_routing_state_survives_the_database_round_trip():
    from consult import codec
    from consult.triage import RoutingPolicy, Taxonomy, route_start
    state, _ = route_start(UrgentCase(case_id="c1", specialty="cardiology", poster_id="p",
                                      language="es"), [], Taxonomy(parents={}),
                           RoutingPolicy(), time.time())
    assert codec.state_load(codec.state_dump(state)) == state


async def test_a_weekly_schedule_switches_on_call_for_online_physicians(make_physician):
    from datetime import UTC, datetime

    from physicians import services as consult_services

    doc, *_ = await sync_to_async(make_physician)()
    await _online(str(doc.user_id), on_call=False, now=T0)
    local = datetime.fromtimestamp(T0, tz=UTC)  # 2033-05-18, a Wednesday, 03:33 UTC
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][local.weekday()]
    await sync_to_async(consult_services.physician_schedule_set)(
        user_id=str(doc.user_id), schedule=[[day, "03:00", "04:00"]], time_zone="UTC")
    assert await dispatch.schedules_apply(now=T0) == 1
    assert (await runtime.store().get(str(doc.user_id), now=T0)).on_call is True
    assert await dispatch.schedules_apply(now=T0 + 1) == 0  # nothing to change
    later = T0 + 3600  # 04:33: the window is over
    await runtime.store().heartbeat(user_id=str(doc.user_id),
                                    conn_id=(await runtime.store().get(str(doc.user_id), now=T0))
                                    .connections[0].conn_id, now=T0 + 60)
    for t in range(int(T0) + 120, int(later), 60):  # the client keeps pinging
        p = await runtime.store().get(str(doc.user_id), now=t)
        await runtime.store().heartbeat(user_id=p.user_id, conn_id=p.connections[0].conn_id, now=t)
    assert await dispatch.schedules_apply(now=later) == 1
    assert (await runtime.store().get(str(doc.user_id), now=later)).on_call is False


async def _waiting_case(make_physician) -> tuple[str, str]:
    """Ana, the only cardiologist online, is at the cap; an urgent case for her specialty
    waits with nobody to ask. Returns (case id, Ana's user id)."""
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    ana, *_ = await sync_to_async(make_physician)()
    ana_id = str(ana.user_id)
    await _online(ana_id, on_call=True)
    for n in range(dispatch.policy().max_open_consults):
        await runtime.store().consult_started(user_id=ana_id, case_id=f"held-{n}")
    case = await sync_to_async(cases.case_open)(poster=poster.user, specialty="cardiology",
                                                summary="VT storm", urgency="urgent")
    state = await dispatch.case_route_start(
        UrgentCase(case_id=str(case.pk), specialty="cardiology",
                   poster_id=str(poster.user_id), language="en"), now=T0)
    assert not state.outstanding and state.lounge_called
    return str(case.pk), ana_id


async def test_a_release_offers_the_waiting_case_and_a_take_does_not(make_physician):
    case_id, ana_id = await _waiting_case(make_physician)
    await dispatch.capacity_apply([services.Capacity(ana_id, "held-extra", take=True)],
                                  now=T0 + 1)
    assert not (await sync_to_async(_state)(case_id=case_id)).outstanding
    # Still at the cap after one release (she held one more than the cap): nothing.
    await dispatch.capacity_apply([services.Capacity(ana_id, "held-extra", take=False)],
                                  now=T0 + 2)
    assert not (await sync_to_async(_state)(case_id=case_id)).outstanding
    # Below the cap: offered. Applied again (a replay, a second process): offered once.
    for _ in range(2):
        await dispatch.capacity_apply([services.Capacity(ana_id, "held-0", take=False)],
                                      now=T0 + 3)
        state = await sync_to_async(_state)(case_id=case_id)
        assert [o.user_id for o in state.outstanding] == [ana_id]


async def test_a_release_does_not_offer_again_a_case_she_declined(make_physician):
    case_id, ana_id = await _waiting_case(make_physician)
    await dispatch.capacity_apply([services.Capacity(ana_id, "held-0", take=False)],
                                  now=T0 + 1)
    (offer,) = (await sync_to_async(_state)(case_id=case_id)).outstanding
    await dispatch.offer_decline(case_id=case_id, offer_id=offer.offer_id, user_id=ana_id,
                                 now=T0 + 2)
    await dispatch.capacity_apply([services.Capacity(ana_id, "held-1", take=False)],
                                  now=T0 + 3)
    state = await sync_to_async(_state)(case_id=case_id)
    assert not state.outstanding and ana_id in state.offered


async def test_reconcile_releases_capacity_whose_release_was_lost(make_physician):
    """A process died after the database released Ana's consults but before the presence
    store heard: she looks full and the waiting case never reaches her. One reconcile pass
    releases what the database no longer holds and offers her the case, once."""
    case_id, ana_id = await _waiting_case(make_physician)
    cap = dispatch.policy().max_open_consults
    assert await dispatch.capacity_reconcile(now=T0 + 1) == (0, cap)
    assert await runtime.store().consults_held(ana_id) == set()
    assert [o.user_id for o in (await sync_to_async(_state)(case_id=case_id)).outstanding] \
        == [ana_id]
    assert await dispatch.capacity_reconcile(now=T0 + 2) == (0, 0)


async def test_reconcile_restores_capacity_a_restarted_redis_forgot(make_physician):
    """Ana accepted a case; then the store lost her hold (Redis restarted empty). Until the
    pass she would be offered more than the cap allows; after it she holds the case again,
    and resolving the case releases it as usual."""
    case_id, specialists = await _post(make_physician)
    ana_id = specialists[0]
    (offer,) = (await sync_to_async(_state)(case_id=case_id)).outstanding
    assert offer.user_id == ana_id
    ana = await sync_to_async(User.objects.get)(pk=ana_id)
    await dispatch.offer_accept(case_id=case_id, user=ana, now=T0 + 1)
    assert await runtime.store().consults_held(ana_id) == {case_id}
    await runtime.store().consult_finished(user_id=ana_id, case_id=case_id)  # forgotten
    assert await dispatch.capacity_reconcile(now=T0 + 2) == (1, 0)
    assert await runtime.store().consults_held(ana_id) == {case_id}
    assert await runtime.store().consults_open(ana_id) == 1
    assert await dispatch.capacity_reconcile(now=T0 + 3) == (0, 0)
