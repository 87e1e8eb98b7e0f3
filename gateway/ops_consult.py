"""Socket handlers for presence and urgent offers, and the presence hooks of a socket's life.

A socket writes presence once when it opens, once per ping (the heartbeat) and once when it
closes; activity between pings is folded into the next heartbeat, never written per frame.
"""

from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings

from bus import protocol
from consult import driver, notifications
from consult import selectors as consult_selectors
from consult import services as consult_services
from consult.models import routing_case_id
from core.errors import Forbidden, NotFound
from physicians import selectors as physician_selectors
from physicians import services as physician_services
from presence import runtime
from presence.store import PresenceProfile, UnknownConnection
from rooms import roster
from rooms import selectors as room_selectors
from rooms.lounges import lounge_id

log = logging.getLogger(__name__)


def _profile(conn) -> PresenceProfile:
    p = conn.identity.profile
    return PresenceProfile(specialties=list(dict.fromkeys([p.specialty, *p.specialties])),
                           languages=list(p.languages), country=p.country)


async def frame_seen(conn) -> None:
    """Any frame proves the socket alive: a busy client that forgets to ping stays online,
    still with at most one presence write per heartbeat interval."""
    if time.monotonic() - conn.last_heartbeat >= settings.CURBSIDE_HEARTBEAT_S:
        try:
            await heartbeat(conn)
        except Exception:  # presence is best effort here; the op itself must still run
            log.exception("presence heartbeat failed")


async def socket_opened(conn, *, again: bool = False) -> None:
    """Register the socket's presence: as it opens, or ``again`` once the store forgot it
    (swept after a stall, a Redis restarted empty). Registering again takes the on-call flag
    from the database, where every change of it is kept: the profile the socket opened with
    may predate the physician's switch (on call after connecting), and restoring it took
    them off call for urgent routing while their screen said on call."""
    conn.last_heartbeat = time.monotonic()
    now = time.time()
    store = runtime.store()
    change = await store.connect(user_id=conn.identity.user_id, conn_id=conn.conn_id,
                                 process_id=runtime.PROCESS_ID, profile=_profile(conn), now=now)
    on_call = conn.identity.profile.on_call
    if again:
        on_call = await database_sync_to_async(physician_selectors.on_call_of)(
            user_id=conn.identity.user_id)
    if on_call:
        change = await store.set_on_call(user_id=conn.identity.user_id, on_call=True,
                                         now=now) or change
    driver.driver_ensure(settings.CURBSIDE_DRIVER_TICK_S)
    if change is not None and change.went_online:
        await driver.on_online(conn.identity.user_id, now=now)


async def socket_closed(conn) -> None:
    await runtime.store().disconnect(user_id=conn.identity.user_id, conn_id=conn.conn_id,
                                     now=time.time())


async def heartbeat(conn) -> None:
    """The ping's presence write: one per heartbeat, carrying whether the user was active."""
    active, conn.active_since_ping = conn.active_since_ping, False
    conn.last_heartbeat = time.monotonic()
    try:
        await runtime.store().heartbeat(user_id=conn.identity.user_id,
                                        conn_id=conn.conn_id, now=time.time(),
                                        active=active)
    except UnknownConnection:
        # Swept as dead (a long stall), or Redis lost it: register again.
        await socket_opened(conn, again=True)


async def ping(conn, request: protocol.Ping) -> protocol.PongData:
    await heartbeat(conn)
    return protocol.PongData(server_time=time.time())


async def presence_set(conn, request: protocol.PresenceSet) -> protocol.PresenceReply:
    store, now, user_id = runtime.store(), time.time(), conn.identity.user_id
    if await store.get(user_id, now=now) is None:  # swept during a stall: register again
        await socket_opened(conn, again=True)
    change = None
    if request.status is not None:
        change = await store.set_status(user_id=user_id, status=request.status, now=now)
    if request.on_call is not None:
        change = await store.set_on_call(user_id=user_id, on_call=request.on_call,
                                         now=now) or change
        await database_sync_to_async(physician_services.physician_on_call_set)(
            user_id=user_id, on_call=request.on_call)
    me = await store.get(user_id, now=now)
    if change is not None and me is not None and me.status == "available":
        await driver.on_online(user_id, now=now)
    return protocol.PresenceReply(status=me.status if me else "away",
                                  on_call=me.on_call if me else False)


def _case_of(offer: str) -> str:
    case_id, sep, _ = offer.rpartition(":")
    if not sep or not case_id:
        raise NotFound("No such offer.", details={"offer": offer})
    return case_id


async def offer_accept(conn, request: protocol.OfferAccept) -> protocol.AcceptReply:
    case_id = _case_of(request.offer)
    await driver.offer_accept(case_id=case_id, user=conn.user)
    room = await database_sync_to_async(consult_services.case_room)(case_id=case_id)
    # A second-specialty round's offer (``<case>+<n>:<seq>``) answers with the case's id.
    return protocol.AcceptReply(case=routing_case_id(case_id), room=room)


async def offer_decline(conn, request: protocol.OfferDecline) -> dict:
    """Only your own offer: someone else's is ``forbidden`` and stays as it was."""
    await driver.offer_decline(case_id=_case_of(request.offer), offer_id=request.offer,
                               user_id=conn.identity.user_id)
    return {"offer": request.offer}


async def oncall_list(conn, request: protocol.OnCallList) -> dict:
    """Who is on call for a specialty right now — for moderators and admins, by pseudonym
    (as they appear in the specialty's lounge), never by identity."""
    if not conn.user.is_moderator:
        raise Forbidden("Only moderators and admins may list who is on call.")
    online = await runtime.store().online(specialty=request.specialty, now=time.time())
    room = lounge_id(request.specialty)
    return {"specialty": request.specialty, "on_call": [
        {"pseudonym": roster.author_for(user_id=p.user_id, room_id=room, role="physician",
                                        specialty=request.specialty, verified=True).pseudonym,
         "status": p.status}
        for p in online if p.on_call]}


def _rooms(user) -> list[dict]:
    rooms = room_selectors.rooms_of(user=user)
    cases = consult_selectors.cases_by_room(room_ids=[r["id"] for r in rooms if r["kind"] == "case"])
    mutes = notifications.mutes_of(user=user)
    for r in rooms:
        r["muted_until"] = mutes.get(r["id"])
        case = cases.get(r["id"])
        if case is not None:
            r.update(case=consult_services.case_card(case), case_status=case.status,
                     case_mine=case.poster_id == user.pk)
    return rooms


async def rooms_list(conn, request: protocol.RoomsList) -> dict:
    """The rooms this user belongs to, with read markers, and each case room's case."""
    return {"rooms": await database_sync_to_async(_rooms)(conn.user)}


async def offers_list(conn, request: protocol.OffersList) -> dict:
    """The urgent offers still open to this user (each as its ``offer.new`` said)."""
    offers = await database_sync_to_async(consult_services.offers_open)(
        user_id=conn.identity.user_id, now=time.time())
    return {"offers": offers}
