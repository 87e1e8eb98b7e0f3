"""The async side of urgent routing: reads live presence, then runs one durable step.

Live presence lives in the presence store (async, Redis or memory); routing state lives in
the database (sync, physicians/services.py). Each entry point here gathers candidates from the
store, runs the step in one thread hop, then does the store writes the actions imply
(``mark_offered`` for offers, ``consult_started`` for a claim). Every process runs one
driver task (``driver_ensure``): it starts routings nobody started, expires due offers and
applies on-call schedules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from functools import lru_cache

from channels.db import database_sync_to_async
from django.conf import settings

from consult import alerts, pool, services
from consult.models import routing_id_valid
from consult.triage import (
    Candidate,
    Offer,
    RouteStatus,
    RoutingPolicy,
    RoutingState,
    Taxonomy,
    UrgentCase,
    candidate_from_presence,
    route_on_expiry,
    route_on_online,
    route_start,
)
from core.errors import NotFound
from physicians import selectors
from physicians.oncall import on_call_at, parse_schedule, parse_timezone
from physicians.services import physician_on_call_set
from physicians.taxonomy import RELATED, SPECIALTIES
from presence import runtime

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    return Taxonomy.from_specialties(SPECIALTIES, RELATED)


def policy() -> RoutingPolicy:
    return RoutingPolicy(**settings.CURBSIDE_ROUTING)


async def candidates(specialties: set[str], *, now: float) -> list[Candidate]:
    """Online physicians of any of ``specialties``, as the router sees them."""
    return await pool.candidates(runtime.store(), specialties, now=now)


def _reach(specialty: str) -> set[str]:
    """Specialties whose physicians may be asked about a case of ``specialty`` (tiers 1–3)."""
    return taxonomy().reach(specialty)


async def _after(result: services.StepResult, now: float) -> None:
    # An urgent round offers hundreds at once: one pipeline, not a round trip per offer.
    await runtime.store().mark_offered_many(
        user_ids=[a.user_id for a in result.actions if isinstance(a, Offer)], now=now)
    await capacity_apply(result.capacity, now=now)


async def capacity_apply(changes: list[services.Capacity], *,
                         now: float | None = None) -> None:
    """Hand a committed step's capacity changes to the presence store. Held per case, so
    a change applied twice (a retry, two processes) counts once.

    Then each specialist whose capacity came back is offered any waiting case they fit
    (``on_online``, which reads their count after the release: one still at the cap gets
    nothing, and nobody is asked twice in a round). A take offers nothing.
    """
    store = runtime.store()
    released: list[str] = []
    for c in changes:
        if c.take:
            await store.consult_started(user_id=c.user_id, case_id=c.case_id)
        else:
            await store.consult_finished(user_id=c.user_id, case_id=c.case_id)
            if c.user_id not in released:
                released.append(c.user_id)
    for user_id in released:
        try:
            await on_online(user_id, now=now)
        except Exception:  # the move is committed and stands; only the offer is lost
            log.exception("offering waiting cases to %s after a release failed", user_id)


async def capacity_reconcile(*, now: float | None = None) -> tuple[int, int]:
    """Make the presence store's held capacity agree with the database; returns how many
    (specialist, case) holds were (added, released).

    Capacity reaches the store after the step that changed it committed (``capacity_apply``),
    so a process that dies in between, or a Redis that restarts empty, leaves the store
    wrong: a specialist whose consult ended is never offered another case, or one with two
    consults is offered a third. Every process runs this on its driver (``RECONCILE_EVERY_S``).

    The store is read before the database, so a step that commits in between is seen either
    by its own ``capacity_apply`` or here; both are held per case, so applying it twice counts
    once. A case taken and released between the two reads may be re-held for one period and
    is released by the next pass.
    """
    store = runtime.store()
    held = await store.holders()
    truth = await database_sync_to_async(services.capacity_holders)()
    changes = [services.Capacity(user_id, case_id, take=True)
               for user_id, cases in sorted(truth.items())
               for case_id in sorted(cases - held.get(user_id, set()))]
    added = len(changes)
    changes += [services.Capacity(user_id, case_id, take=False)
                for user_id, cases in sorted(held.items())
                for case_id in sorted(cases - truth.get(user_id, set()))]
    if changes:
        log.warning("capacity reconciled with the database: %d held, %d released",
                    added, len(changes) - added)
        await capacity_apply(changes, now=now)
    return added, len(changes) - added


async def case_moved(moved: services.Moved, *, now: float | None = None) -> services.Moved:
    """After a lifecycle step committed (``services.case_resolve`` and the like)."""
    await capacity_apply(moved.capacity, now=now)
    return moved


async def case_route_start(case: UrgentCase, *, now: float | None = None) -> RoutingState:
    """Start routing a case ``case_open`` stored: offers to the best tier-1 candidates, or
    escalate. Idempotent: a routing another process already started is left as it is.

    Raises:
        NotFound: the case is not an urgent case awaiting routing.
    """
    now = time.time() if now is None else now
    pool = await candidates(_reach(case.specialty), now=now)
    result = await database_sync_to_async(services.routing_step)(
        case_id=case.case_id, now=now, transition=lambda s: (s, []),
        start=lambda: route_start(case, pool, taxonomy(), policy(), now))
    await _after(result, now)
    await offline_alert(case, online={c.user_id for c in pool}, now=now)
    return result.state


async def offline_alert(case: UrgentCase, *, online: set[str], now: float) -> None:
    """Mail the case to tier-1 on-call specialists with no open socket (consult/alerts.py);
    best effort: a failure here never undoes the routing that already started."""
    try:
        await database_sync_to_async(alerts.offer_alerts_send)(
            routing_id=case.case_id, specialties={case.specialty,
                                                  *taxonomy().children(case.specialty)},
            online=online, exclude=set(case.exclude), now=now)
    except Exception:
        log.exception("offline alerts for case %s failed", case.case_id)


async def offer_alert_accept(*, token: str, user, now: float | None = None) -> RoutingState:
    """Take a case through a mailed alert link (``alerts.offer_alert_accept``)."""
    now = time.time() if now is None else now
    result = await database_sync_to_async(alerts.offer_alert_accept)(token=token, user=user,
                                                                     now=now)
    await _after(result, now)
    return result.state


async def offer_accept(*, case_id: str, user, now: float | None = None) -> RoutingState:
    now = time.time() if now is None else now
    result = await database_sync_to_async(services.offer_accept)(case_id=case_id, user=user,
                                                                 now=now)
    await _after(result, now)
    return result.state


async def offer_decline(*, case_id: str, offer_id: str, user_id: str,
                        now: float | None = None) -> None:
    """Decline ``offer_id``, which must be ``user_id``'s (``services.offer_decline``).

    Raises:
        NotFound: no such routed case. Forbidden: not the user's offer.
    """
    now = time.time() if now is None else now
    state = await _state(case_id) if routing_id_valid(case_id) else None
    # Candidates for the freed slot; a case no longer routed (claimed, withdrawn) needs none.
    pool = await candidates(_reach(state.specialty), now=now) if state is not None else []
    result = await database_sync_to_async(services.offer_decline)(
        case_id=case_id, offer_id=offer_id, user_id=user_id, candidates=pool, now=now)
    await _after(result, now)


async def _state(case_id: str) -> RoutingState | None:
    return await database_sync_to_async(services.routing_get)(case_id=case_id)


async def on_online(user_id: str, *, now: float | None = None) -> None:
    """A physician came online or became available: offer them any waiting case they fit."""
    now = time.time() if now is None else now
    presence = await runtime.store().get(user_id, now=now)
    if presence is None:
        return
    me = candidate_from_presence(presence)
    for state in await database_sync_to_async(services.routings_open)():
        if state.status is RouteStatus.CLAIMED or user_id in state.offered:
            continue
        result = await database_sync_to_async(services.routing_step)(
            case_id=state.case_id, now=now,
            transition=lambda s: route_on_online(s, me, now))
        await _after(result, now)


async def tick(*, now: float | None = None) -> int:
    """One driver pass: sweep dead connections, then expire due offers. Returns the number
    of cases stepped. Safe to run in every process at once (see physicians/services.py)."""
    now = time.time() if now is None else now
    await runtime.store().expire(now=now)
    stepped = 0
    for moved in await database_sync_to_async(services.cases_expire)(
            now=datetime.fromtimestamp(now, tz=UTC)):
        await case_moved(moved, now=now)
        stepped += 1
    for case_id in await database_sync_to_async(services.routing_due)(now=now):
        pending = await database_sync_to_async(services.routing_pending)(case_id=case_id)
        if pending is not None:  # posted, but nobody started it (the poster's process died)
            try:
                await case_route_start(pending, now=now)
            except NotFound:  # withdrawn since it was found due: nothing to start
                continue
            stepped += 1
            continue
        state = await _state(case_id)
        if state is None:
            continue
        pool = await candidates(_reach(state.specialty), now=now)
        result = await database_sync_to_async(services.routing_step)(
            case_id=case_id, now=now, transition=lambda s, pool=pool: route_on_expiry(s, pool, now))
        await _after(result, now)
        stepped += bool(result.actions)
    return stepped


async def schedules_apply(*, now: float | None = None) -> int:
    """Switch the live on-call flag of online physicians from their weekly schedules;
    returns how many changed. Those who come on call are offered any waiting case."""
    now = time.time() if now is None else now
    store = runtime.store()
    online = {p.user_id: p for p in await store.online(now=now)}
    if not online:
        return 0
    schedules = await database_sync_to_async(selectors.schedules_of)(list(online))
    changed = 0
    for user_id, (schedule, tz) in schedules.items():
        wanted = on_call_at(parse_schedule(schedule), parse_timezone(tz),
                            datetime.fromtimestamp(now, tz=UTC))
        if wanted != online[user_id].on_call:
            await store.set_on_call(user_id=user_id, on_call=wanted, now=now)
            await database_sync_to_async(physician_on_call_set)(user_id=user_id, on_call=wanted)
            changed += 1
            if wanted:
                await on_online(user_id, now=now)
    return changed


# Schedules change on the minute; checking more often would only add queries.
SCHEDULE_EVERY_S = 60.0
RECONCILE_EVERY_S = 60.0
_driver: asyncio.Task | None = None


def driver_ensure(tick_s: float) -> None:
    """Start this process's routing driver once (daphne has no startup hook, so the first
    socket starts it). Every process runs one; the row lock keeps them from double work."""
    global _driver
    if _driver is None or _driver.done():
        _driver = asyncio.get_running_loop().create_task(_drive(tick_s), name="routing-driver")


async def _drive(tick_s: float) -> None:
    next_schedules = 0.0
    next_reconcile = time.monotonic() + RECONCILE_EVERY_S
    while True:
        try:
            await tick()
            if time.monotonic() >= next_schedules:
                next_schedules = time.monotonic() + SCHEDULE_EVERY_S
                await schedules_apply()
            if time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + RECONCILE_EVERY_S
                await capacity_reconcile()
        except Exception:  # keep driving: one bad pass must not stop escalations
            log.exception("routing driver pass failed")
        await asyncio.sleep(tick_s)
