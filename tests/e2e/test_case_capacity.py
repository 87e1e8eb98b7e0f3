"""Case lifecycle and specialist capacity over real sockets on two daphne processes
(PostgreSQL + Redis): capacity comes back on resolve, withdraw and close — once — and an
accept after withdraw or resolve answers ``conflict``."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from presence import runtime
from tests.support.clients import request
from tests.support.sockets import next_event, open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="cross-process presence needs Redis"),
]


async def _on_call(ws) -> None:
    reply = await request(ws, "presence.set", status="available", on_call=True)
    assert reply["ok"], reply


async def _post_urgent(poster, summary: str) -> str:
    status, reply = await sync_to_async(poster.http.call)(
        "POST", "/api/v1/cases", {"specialty": "cardiology", "urgency": "urgent",
                                  "summary": summary})
    assert status == 201, reply
    return reply["case"]["id"]


async def _offered_and_accepted(ws, case_id: str) -> str:
    offer = await next_event(ws, "offer.new")
    assert offer["data"]["case"]["id"] == case_id
    accepted = await request(ws, "offer.accept", offer=offer["data"]["offer"])
    assert accepted["ok"], accepted
    return accepted["data"]["room"]


async def _call(ws, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    return await sync_to_async(ws.http.call)(method, path, body)


async def _open_consults(user_id: str, expected: int) -> None:
    """Returns once the store shows ``expected`` open consults (the release happens right
    after the step's commit, on the server that ran it); fails after a generous deadline."""
    deadline = time.monotonic() + 15
    while (n := await runtime.store().consults_open(user_id)) != expected:
        assert time.monotonic() < deadline, f"open consults stayed {n}, expected {expected}"
        await asyncio.sleep(0.05)


async def _answer(ws, room: str, body: str) -> int:
    assert (await request(ws, "room.join", room=room))["ok"]
    sent = await request(ws, "message.send", room=room, body=body,
                         client_id=uuid.uuid4().hex)
    assert sent["ok"], sent
    return sent["data"]["seq"]


async def test_three_urgent_cases_in_a_row_reach_the_same_specialist(routing_pair,
                                                                     make_physician):
    """Capacity is two open consults: without the release on resolve, the third case would
    never reach her."""
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(two, make_physician, specialty="cardiology")
    await _on_call(ana)
    ana_id = str(ana.physician.user_id)
    for n in range(3):
        case_id = await _post_urgent(poster, f"case {n}: broad-complex tachycardia")
        room = await _offered_and_accepted(ana, case_id)
        await _open_consults(ana_id, 1)
        seq = await _answer(ana, room, "Synchronised cardioversion; amiodarone if it recurs.")
        status, moved = await _call(poster, "POST", f"/api/v1/cases/{case_id}/resolve", {
            "outcome": {"diagnosis": "VT", "done": "cardioverted", "notes": ""},
            "helpful": [seq]})
        assert status == 200 and moved["status"] == "resolved", moved
        updated = await next_event(ana, "case.updated")
        assert updated["data"]["status"] == "resolved" and updated["data"]["helpful"] == [seq]
        assert updated["data"]["outcome"]["diagnosis"] == "VT"
        await _open_consults(ana_id, 0)
        status, detail = await _call(poster, "GET", f"/api/v1/cases/{case_id}")
        metrics = detail["case"]["metrics"]
        assert metrics["time_to_first_response_s"] >= 0
        assert metrics["time_to_resolution_s"] >= metrics["time_to_first_response_s"]
    for ws in (poster, ana):
        await ws.close()


async def test_withdraw_and_close_release_once_and_late_accepts_are_conflicts(routing_pair,
                                                                             make_physician):
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(two, make_physician, specialty="cardiology")
    await _on_call(ana)
    ana_id = str(ana.physician.user_id)

    a = await _post_urgent(poster, "A: chest pain, ST elevation")
    await _offered_and_accepted(ana, a)
    b = await _post_urgent(poster, "B: new LBBB")
    await _offered_and_accepted(ana, b)
    await _open_consults(ana_id, 2)

    # Withdraw gives one back; accepting the withdrawn case again is a conflict.
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{a}/withdraw")
    assert status == 200 and moved["status"] == "withdrawn"
    await _open_consults(ana_id, 1)
    late = await request(ana, "offer.accept", offer=f"{a}:1")
    assert late["error"]["code"] == "conflict", late

    e = await _post_urgent(poster, "E: AF with pre-excitation")
    await _offered_and_accepted(ana, e)
    await _open_consults(ana_id, 2)

    # Resolve B, then close it: one release, not two.
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{b}/resolve", {
        "outcome": {"diagnosis": "LBBB, old", "done": "compared with prior ECG", "notes": ""}})
    assert status == 200, moved
    await _open_consults(ana_id, 1)
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{b}/close")
    assert status == 200 and moved["status"] == "closed"
    # Reopened, B is hers again (one more), and closing it gives that one back.
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{b}/reopen")
    assert status == 200 and moved["status"] == "claimed"
    await _open_consults(ana_id, 2)
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{b}/close")
    assert status == 200
    await _open_consults(ana_id, 1)
    again = await _call(poster, "POST", f"/api/v1/cases/{b}/close")
    assert again[0] == 409 and again[1]["error"]["code"] == "conflict"
    assert await runtime.store().consults_held(ana_id) == {e}

    # An offer out when the poster resolves the case: the accept is a conflict.
    c = await _post_urgent(poster, "C: syncope, long QT")
    offer = await next_event(ana, "offer.new")
    assert offer["data"]["case"]["id"] == c
    status, _ = await _call(poster, "POST", f"/api/v1/cases/{c}/resolve", {
        "outcome": {"diagnosis": "drug-induced long QT", "done": "stopped the drug",
                    "notes": ""}})
    assert status == 200
    closed = await next_event(ana, "offer.closed")
    while closed["data"]["case"] != c:  # the "accepted" closes of her earlier accepts
        assert closed["data"]["reason"] == "accepted", closed
        closed = await next_event(ana, "offer.closed")
    assert closed["data"]["reason"] == "resolved"
    late = await request(ana, "offer.accept", offer=offer["data"]["offer"])
    assert late["error"]["code"] == "conflict", late
    assert "resolved" in late["error"]["message"]
    await _open_consults(ana_id, 1)

    status, _ = await _call(poster, "POST", f"/api/v1/cases/{e}/withdraw")
    assert status == 200
    await _open_consults(ana_id, 0)
    for ws in (poster, ana):
        await ws.close()


async def test_a_hand_off_releases_once_and_reroutes_to_the_specialty_without_them(
        routing_pair, make_physician):
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(two, make_physician, specialty="cardiology")
    bo = await open_socket(one, make_physician, specialty="cardiology")
    for ws in (ana, bo):
        await _on_call(ws)
    ana_id, bo_id = str(ana.physician.user_id), str(bo.physician.user_id)
    case_id = await _post_urgent(poster, "F: complete heart block, rate 30")
    room = await _offered_and_accepted(ana, case_id)
    await next_event(bo, "offer.new")  # offered to both; ana won
    await _open_consults(ana_id, 1)
    assert (await request(ana, "room.join", room=room))["ok"]

    refused = await _call(bo, "POST", f"/api/v1/cases/{case_id}/handoff")
    assert refused[0] == 404  # only the accepting specialist hands off
    status, moved = await _call(ana, "POST", f"/api/v1/cases/{case_id}/handoff")
    assert status == 200 and moved["status"] == "open", moved
    await _open_consults(ana_id, 0)
    updated = await next_event(ana, "case.updated")
    assert updated["data"]["action"] == "handoff" and updated["data"]["status"] == "open"
    step = await next_event(poster, "case.routing")
    while step["data"]["step"] != "handed_off":
        step = await next_event(poster, "case.routing")

    # A new round: Bo is offered it again, Ana never.
    offer = await next_event(bo, "offer.new")
    assert offer["data"]["case"]["id"] == case_id
    assert (await request(bo, "offer.accept", offer=offer["data"]["offer"]))["ok"]
    await _open_consults(bo_id, 1)
    assert await runtime.store().consults_open(ana_id) == 0
    assert (await request(ana, "ping"))["ok"]
    assert not [e for e in ana.events if e.get("type") == "offer.new"]
    again = await _call(ana, "POST", f"/api/v1/cases/{case_id}/handoff")
    assert again[0] == 404
    for ws in (poster, ana, bo):
        await ws.close()


async def test_a_second_specialty_joins_the_same_room_and_both_are_released_once(
        routing_pair, make_physician):
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(two, make_physician, specialty="cardiology")
    neo = await open_socket(one, make_physician, specialty="nephrology")
    for ws in (ana, neo):
        await _on_call(ws)
    ana_id, neo_id = str(ana.physician.user_id), str(neo.physician.user_id)
    case_id = await _post_urgent(poster, "G: hyperkalaemia 7.1 with wide QRS")
    room = await _offered_and_accepted(ana, case_id)
    assert not [e for e in neo.events if e.get("type") == "offer.new"]

    refused = await _call(neo, "POST", f"/api/v1/cases/{case_id}/second-specialty",
                          {"specialty": "nephrology"})
    assert refused[0] == 404  # only the poster or the accepting specialist ask
    status, asked = await _call(ana, "POST", f"/api/v1/cases/{case_id}/second-specialty",
                                {"specialty": "nephrology"})
    assert status == 201 and asked["round"] == f"{case_id}+2", asked
    assert asked["routing"]["offered"] == 1
    offer = await next_event(neo, "offer.new")
    assert offer["data"]["case"]["id"] == case_id
    assert offer["data"]["offer"].startswith(f"{case_id}+2:")
    accepted = await request(neo, "offer.accept", offer=offer["data"]["offer"])
    assert accepted["ok"] and accepted["data"] == {"case": case_id, "room": room}, accepted
    await _open_consults(neo_id, 1)
    await _open_consults(ana_id, 1)
    assert (await request(neo, "room.join", room=room))["ok"]
    status, detail = await _call(poster, "GET", f"/api/v1/cases/{case_id}")
    assert detail["case"]["status"] == "claimed"

    status, _ = await _call(poster, "POST", f"/api/v1/cases/{case_id}/resolve", {
        "outcome": {"diagnosis": "hyperkalaemia", "done": "calcium, insulin, dialysis",
                    "notes": ""}})
    assert status == 200
    await _open_consults(ana_id, 0)
    await _open_consults(neo_id, 0)
    status, _ = await _call(poster, "POST", f"/api/v1/cases/{case_id}/close")
    assert status == 200
    assert await runtime.store().consults_open(neo_id) == 0
    assert await runtime.store().consults_held(neo_id) == set()
    for ws in (poster, ana, neo):
        await ws.close()


async def test_a_waiting_case_is_offered_to_the_specialist_whose_capacity_comes_back(
        routing_pair, make_physician):
    """Ana, the only cardiologist online, is at the cap (two accepted urgent cases): a third
    waits with nobody to ask. When she resolves one, the waiting case is offered to her."""
    one, two = routing_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    ana = await open_socket(two, make_physician, specialty="cardiology")
    await _on_call(ana)
    ana_id = str(ana.physician.user_id)
    a = await _post_urgent(poster, "A: AF with rapid ventricular response")
    room = await _offered_and_accepted(ana, a)
    b = await _post_urgent(poster, "B: bradycardia after beta-blocker overdose")
    await _offered_and_accepted(ana, b)
    await _open_consults(ana_id, 2)

    status, reply = await _call(poster, "POST", "/api/v1/cases", {
        "specialty": "cardiology", "urgency": "urgent",
        "summary": "C: hypotension after new ACE inhibitor"})
    assert status == 201, reply
    c = reply["case"]["id"]
    assert reply["routing"]["offered"] == 0, reply  # she is full: nobody to ask
    assert (await request(ana, "ping"))["ok"]
    assert not [e for e in ana.events if e.get("type") == "offer.new"]

    seq = await _answer(ana, room, "Rate control with diltiazem; anticoagulate per CHA2DS2-VASc.")
    status, moved = await _call(poster, "POST", f"/api/v1/cases/{a}/resolve", {
        "outcome": {"diagnosis": "AF with RVR", "done": "rate controlled", "notes": ""},
        "helpful": [seq]})
    assert status == 200 and moved["status"] == "resolved", moved
    offer = await next_event(ana, "offer.new", timeout=15)
    assert offer["data"]["case"]["id"] == c, offer
    accepted = await request(ana, "offer.accept", offer=offer["data"]["offer"])
    assert accepted["ok"], accepted
    await _open_consults(ana_id, 2)
    for ws in (poster, ana):
        await ws.close()
