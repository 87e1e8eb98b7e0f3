"""`rooms.list` and `offers.list` over a real socket: what a client reads after a reconnect
(or a reload) to show again its rooms, unread counts, cases and the offers still open to it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.support.clients import Http, request
from tests.support.sockets import next_event, open_socket, reopen, send_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _post(http: Http, **body) -> dict:
    status, reply = http.call("POST", "/api/v1/cases", body)
    assert status == 201, reply
    return reply["case"]


async def test_open_offers_and_rooms_come_back_on_a_new_socket(daphne_server, make_physician):
    poster = await open_socket(daphne_server, make_physician, specialty="emergency-medicine")
    cardio = await open_socket(daphne_server, make_physician, specialty="cardiology")
    assert (await request(cardio, "presence.set", status="available", on_call=True))["ok"]
    assert (await request(cardio, "offers.list"))["data"] == {"offers": []}

    case = await sync_to_async(_post)(poster.http, specialty="cardiology", urgency="urgent",
                                      summary="Syncope, new LBBB, stable now: admit?")
    pushed = (await next_event(cardio, "offer.new"))["data"]
    assert pushed["case"]["id"] == case["id"]

    # A new socket (a reload) reads the same offer back, as offer.new announced it.
    again = await reopen(cardio, daphne_server)
    listed = (await request(again, "offers.list"))["data"]["offers"]
    assert [o for o in listed if o["case"]["id"] == case["id"]] == [pushed]
    # Someone else holds no offer for it.
    assert (await request(poster, "offers.list"))["data"] == {"offers": []}

    # The poster's rooms: the case room (the case, marked theirs, with its status).
    rooms = {r["id"]: r for r in (await request(poster, "rooms.list"))["data"]["rooms"]}
    mine = rooms[case["room"]]
    assert mine["kind"] == "case" and mine["case_mine"] is True and mine["case_status"] == "open"
    assert mine["case"]["summary"] == "Syncope, new LBBB, stable now: admit?"

    accepted = await request(again, "offer.accept", offer=pushed["offer"])
    assert accepted["ok"], accepted
    assert [o for o in (await request(cardio, "offers.list"))["data"]["offers"]
            if o["case"]["id"] == case["id"]] == []

    # Unread: the poster writes twice; the specialist has read nothing of it yet.
    assert (await request(poster, "room.join", room=case["room"]))["ok"]
    for body in ("BP 110/70 now.", "Troponin pending."):
        assert (await send_message(poster, case["room"], body))["ok"]
    theirs = {r["id"]: r for r in (await request(cardio, "rooms.list"))["data"]["rooms"]}[case["room"]]
    assert theirs["case_mine"] is False and theirs["case_status"] == "claimed"
    assert theirs["last_seq"] - theirs["last_read_seq"] == 2
    assert (await request(cardio, "room.join", room=case["room"]))["ok"]
    assert (await request(cardio, "read", room=case["room"], seq=theirs["last_seq"]))["ok"]
    theirs = {r["id"]: r for r in (await request(cardio, "rooms.list"))["data"]["rooms"]}[case["room"]]
    assert theirs["last_read_seq"] == theirs["last_seq"]
    for ws in (poster, cardio, again):
        await ws.close()
