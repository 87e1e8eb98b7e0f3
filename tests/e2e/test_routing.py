"""Presence and urgent routing over real sockets on two daphne processes (Redis + PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from presence import runtime
from tests.support.clients import Http, connect, recv_json, request
from tests.support.servers import ROUTING_ENV, start_daphne
from tests.support.sockets import next_event, open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Presence across processes lives in Redis; CI always sets REDIS_URL (tests/conftest.py).
    pytest.mark.skipif(not settings.REDIS_URL, reason="cross-process presence needs Redis"),
]

TTL_S = 3 * float(ROUTING_ENV["CURBSIDE_HEARTBEAT_S"])
# Far above TTL_S: a loaded machine is slow, not wrong; only a socket that never goes
# offline should fail.
HANG_GUARD_S = 10 * TTL_S + 30


async def _on_call(ws, on_call: bool = True) -> None:
    reply = await request(ws, "presence.set", status="available", on_call=on_call)
    assert reply["ok"] and reply["data"]["on_call"] is on_call, reply


async def _second_socket(server, ws):
    other = await connect(server.ws, await sync_to_async(ws.http.ticket)())
    assert (await recv_json(other))["type"] == "session.welcome"
    other.events = []
    other.http = ws.http
    return other


async def _lounge_pseudonym(ws, lounge: str) -> str:
    reply = await request(ws, "room.join", room=lounge)
    assert reply["ok"], reply
    return reply["data"]["me"]["pseudonym"]


def _post(http: Http, **body) -> dict:
    status, reply = http.call("POST", "/api/v1/cases", body)
    assert status == 201, reply
    return reply


async def test_urgent_case_reaches_the_right_cardiologist_on_both_sockets(routing_pair,
                                                                          make_physician):
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(one, make_physician, specialty="cardiology")  # on call, free
    ana2 = await _second_socket(two, ana)  # … and on her phone, on the other process
    bo = await open_socket(two, make_physician, specialty="cardiology")  # online, not on call
    cy = await open_socket(two, make_physician, specialty="cardiology")  # on call, at capacity
    await _on_call(ana)
    await _on_call(bo, on_call=False)
    await _on_call(cy)
    store = runtime.store()
    for _ in range(2):
        await store.consult_started(user_id=str(cy.physician.user_id))

    # Moderators (and only they) see who is on call, by lounge pseudonym.
    mod = await open_socket(two, make_physician, role="moderator", specialty="family-medicine")
    listed = await request(mod, "oncall.list", specialty="cardiology")
    pseudonyms = {e["pseudonym"] for e in listed["data"]["on_call"]}
    ana_in_lounge = await _lounge_pseudonym(ana, "lounge-cardiology")
    assert ana_in_lounge in pseudonyms and len(pseudonyms & {
        await _lounge_pseudonym(bo, "lounge-cardiology")}) == 0
    assert (await request(bo, "oncall.list", specialty="cardiology"))["error"]["code"] == "forbidden"
    await mod.close()

    case = (await sync_to_async(_post)(poster.http, specialty="cardiology", urgency="urgent",
                                       summary="65M, wide-complex tachycardia, stable BP"))
    assert case["routing"] == {"status": "offering", "tier": 1, "offered": 1}
    case_id = case["case"]["id"]
    offers = [await next_event(ws, "offer.new") for ws in (ana, ana2)]
    assert {o["data"]["offer"] for o in offers} == {offers[0]["data"]["offer"]}
    assert offers[0]["data"]["case"]["summary"] == "65M, wide-complex tachycardia, stable BP"
    routing = await next_event(poster, "case.routing")
    assert routing["data"]["step"] == "offered" and routing["data"]["count"] == 1

    accepted = await request(ana, "offer.accept", offer=offers[0]["data"]["offer"])
    assert accepted["ok"], accepted
    room = accepted["data"]["room"]
    closed = await next_event(ana2, "offer.closed")  # the phone drops the alert too
    assert closed["data"]["case"] == case_id and closed["data"]["reason"] == "accepted"
    live = await next_event(poster, "case.routing")
    assert live["data"]["step"] == "accepted"
    by = live["data"]["by"]
    assert by["verified"] is True and by["specialty"] == "cardiology"

    # Bo (off call) and Cy (full) were never offered the case; nothing came to them.
    for ws in (bo, cy):
        assert (await request(ws, "ping"))["ok"]
        assert not [e for e in ws.events if e.get("type") == "offer.new"]

    def members():
        from rooms.models import Membership
        return set(Membership.objects.filter(room_id=room, active=True)
                   .values_list("user_id", flat=True))

    assert await sync_to_async(members)() == {poster.physician.user_id, ana.physician.user_id}
    # Both can talk in the case room; Ana appears there under her case-room pseudonym.
    join = await request(ana, "room.join", room=room)
    assert join["ok"] and join["data"]["me"]["pseudonym"] == by["pseudonym"]
    status, detail = await sync_to_async(poster.http.call)("GET", f"/api/v1/cases/{case_id}")
    assert detail["case"]["status"] == "claimed"
    assert detail["case"]["metrics"]["time_to_accept_s"] >= 0
    for ws in (poster, ana, ana2, bo, cy):
        await ws.close()


async def test_ten_simultaneous_accepts_on_two_processes_have_one_winner(routing_pair,
                                                                         make_physician):
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    specialists = [await open_socket(routing_pair[i % 2], make_physician, specialty="neurology")
                   for i in range(10)]
    for ws in specialists:
        await _on_call(ws)
    for round_ in range(50):
        case = await sync_to_async(_post)(poster.http, specialty="neurology", urgency="urgent",
                                          summary=f"round {round_}: acute aphasia, onset 40 min")
        assert case["routing"]["offered"] == 10, case
        offers = [await next_event(ws, "offer.new") for ws in specialists]
        replies = await asyncio.gather(*(
            request(ws, "offer.accept", offer=o["data"]["offer"])
            for ws, o in zip(specialists, offers, strict=True)))
        won = [ws for ws, r in zip(specialists, replies, strict=True) if r["ok"]]
        lost = [r for r in replies if not r["ok"]]
        assert len(won) == 1, replies
        # The poster resolves the consult, so the winner's capacity is free for the next round.
        status, _ = await sync_to_async(poster.http.call)(
            "POST", f"/api/v1/cases/{case['case']['id']}/resolve",
            {"outcome": {"diagnosis": "stroke mimic", "done": "", "notes": ""}})
        assert status == 200
        assert [r["error"]["code"] for r in lost] == ["conflict"] * 9
        for ws in specialists:  # each drops this round's alert (claimed / accepted)
            closed = await next_event(ws, "offer.closed")
            assert closed["data"]["case"] == case["case"]["id"]
        ws_events = [e for ws in specialists for e in ws.events if e.get("type") == "offer.new"]
        assert not ws_events
    for ws in (poster, *specialists):
        await ws.close()


async def _offline(store, user_id: str) -> None:
    """Returns once ``user_id`` is offline in the store at the current time (polled)."""
    while True:
        if await store.get(user_id, now=time.time()) is None:
            return
        await asyncio.sleep(0.05)


async def test_a_killed_process_takes_its_sockets_offline(
        live_database_url, tmp_path_factory, make_physician):
    doomed = await sync_to_async(start_daphne)(live_database_url, tmp_path_factory, **ROUTING_ENV)
    try:
        ws = await open_socket(doomed, make_physician, specialty="cardiology")
        await _on_call(ws)
        assert (await request(ws, "ping"))["ok"]  # a heartbeat
        user_id = str(ws.physician.user_id)
        store = runtime.store()
        before = await store.get(user_id, now=time.time())
        assert before is not None and before.on_call
        last_expiry = max(c.expires_at for c in before.connections)
        doomed.kill()  # SIGKILL: no disconnect, no cleanup
        # What the store promises: online until the last heartbeat's expiry, then gone.
        assert await store.get(user_id, now=last_expiry - 0.5) is not None
        assert await store.get(user_id, now=last_expiry + 0.001) is None
        # And it happens: the specialist goes offline by itself. How soon is checked on a
        # fake clock (tests/consult/test_routing.py); the deadline here only stops a hang.
        await asyncio.wait_for(_offline(store, user_id), timeout=HANG_GUARD_S)
        assert await store.online_count(specialty="cardiology", now=time.time()) == 0
    finally:
        doomed.stop()


async def test_cases_are_announced_in_the_lounge_and_a_lounge_call_can_be_accepted(
        routing_pair, make_physician):
    one, _ = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    member = await open_socket(one, make_physician, specialty="rheumatology")
    await _on_call(member, on_call=False)
    await request(member, "presence.set", status="busy")  # not offerable: only the lounge
    assert (await request(member, "room.join", room="lounge-rheumatology"))["ok"]

    routine = await sync_to_async(_post)(poster.http, specialty="rheumatology",
                                         summary="chronic polyarthritis, seronegative")
    posted = await next_event(member, "case.posted")  # validated against its schema
    assert posted["data"]["case"]["id"] == routine["case"]["id"]
    assert posted["data"]["offer"] is None and posted["room"] == "lounge-rheumatology"

    urgent = await sync_to_async(_post)(poster.http, specialty="rheumatology", urgency="urgent",
                                        summary="suspected giant cell arteritis, vision loss")
    call = await next_event(member, "case.posted")
    while call["data"]["case"]["id"] != urgent["case"]["id"]:
        call = await next_event(member, "case.posted")
    assert call["data"]["offer"] == f"{urgent['case']['id']}:lounge"
    accepted = await request(member, "offer.accept", offer=call["data"]["offer"])
    assert accepted["ok"], accepted
    steps = []
    while "accepted" not in steps:
        steps.append((await next_event(poster, "case.routing"))["data"]["step"])
    assert "lounge_called" in steps
    for ws in (poster, member):
        await ws.close()
