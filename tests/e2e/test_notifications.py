"""The notification inbox over real sockets on two daphne processes (PostgreSQL + Redis):
follow a case, hear of answers and state changes, a timed room mute, list and mark read."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from tests.support.clients import request
from tests.support.sockets import drain, next_event, open_socket, send_message

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share state over Redis"),
]


async def _inbox(ws, **kw) -> dict:
    reply = await request(ws, "notifications.list", **kw)
    assert reply["ok"], reply
    return reply["data"]


async def test_follow_answers_mute_state_change_and_read(daphne_pair, make_physician):
    one, two = daphne_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    fan = await open_socket(two, make_physician, specialty="neurology")
    answerer = await open_socket(two, make_physician, specialty="cardiology")
    status, posted = await sync_to_async(poster.http.call)("POST", "/api/v1/cases", {
        "question": "Recurrent syncope in a swimmer: which test first?",
        "specialty": "cardiology", "urgency": "routine", "audience": "network"})
    assert status == 201, posted
    case_id, room = posted["case"]["id"], posted["case"]["room"]

    followed = await request(fan, "case.follow", case=case_id)
    assert followed["ok"] and followed["data"] == {"case": case_id, "following": True}
    unknown = await request(fan, "case.follow", case="00000000-0000-0000-0000-000000000000")
    assert not unknown["ok"] and unknown["error"]["code"] == "not_found"

    assert (await request(answerer, "room.join", room=room))["ok"]
    assert (await send_message(answerer, room, "Exercise ECG and an echo first."))["ok"]
    for ws in (poster, fan):  # across processes: the poster is on one, the fan on two
        event = await next_event(ws, "notification.new")
        assert event["data"]["notification"]["kind"] == "answer"
        assert event["data"]["notification"]["case"] == case_id
    assert (await _inbox(answerer))["notifications"] == []  # never of one's own answer

    # A timed mute: nothing from the room for the fan until it ends (or is lifted).
    muted = await request(fan, "room.mute", room=room, until=time.time() + 3600)
    assert muted["ok"], muted
    assert (await send_message(answerer, room, "And a 24 h Holter."))["ok"]
    assert (await next_event(poster, "notification.new"))["data"]["notification"]["kind"] == (
        "answer")
    assert len((await _inbox(fan))["notifications"]) == 1
    too_long = await request(fan, "room.mute", room=room, until=time.time() + 400 * 86400)
    assert not too_long["ok"] and too_long["error"]["code"] == "bad_request"
    lifted = await request(fan, "room.mute", room=room, until=None)
    assert lifted["ok"] and lifted["data"]["until"] is None

    # The poster closes the case: the fan hears of it (the actor does not).
    status, closed = await sync_to_async(poster.http.call)(
        "POST", f"/api/v1/cases/{case_id}/close", {})
    assert status == 200, closed
    event = await next_event(fan, "notification.new")
    assert event["data"]["notification"]["kind"] == "case_state"
    assert event["data"]["notification"]["detail"] == {"status": "closed", "action": "close"}

    inbox = await _inbox(fan)
    assert [n["kind"] for n in inbox["notifications"]] == ["case_state", "answer"]
    assert inbox["unread"] == 2 and inbox["next"] is None
    page = await _inbox(fan, limit=1)
    assert len(page["notifications"]) == 1 and page["next"] is not None
    older = await _inbox(fan, limit=1, before=page["next"])
    assert [n["kind"] for n in older["notifications"]] == ["answer"]

    # Marking read: someone else's ids do nothing; mine go.
    theirs = (await _inbox(poster))["notifications"][0]["id"]
    read = await request(fan, "notifications.read", ids=[theirs])
    assert read["ok"] and read["data"] == {"read": 0, "unread": 2}
    read = await request(fan, "notifications.read", all=True)
    assert read["ok"] and read["data"] == {"read": 2, "unread": 0}
    assert (await _inbox(fan, unread=True))["notifications"] == []
    assert (await _inbox(poster))["unread"] == 2
    await drain(poster, quiet=0.2)
    for ws in (poster, fan, answerer):
        await ws.close()


async def test_mentions_and_replies_across_processes_follow_and_mute_state(daphne_pair,
                                                                            make_physician):
    one, two = daphne_pair
    asker = await open_socket(one, make_physician, specialty="emergency-medicine")
    expert = await open_socket(two, make_physician, specialty="cardiology")
    room = "lounge-cardiology"
    me = {}
    for ws in (asker, expert):
        joined = await request(ws, "room.join", room=room)
        assert joined["ok"], joined
        me[ws] = joined["data"]["me"]["pseudonym"]
    question = await send_message(asker, room, "Anyone seen Brugada unmasked by fever?")
    assert question["ok"], question

    # A reply to the asker's message, from the other process; then a mention of the expert.
    answer = await request(expert, "message.send", room=room, body="Yes, twice.",
                           client_id="a1", reply_to=question["data"]["seq"])
    assert answer["ok"], answer
    card = (await next_event(asker, "notification.new"))["data"]["notification"]
    assert (card["kind"], card["room"], card["case"], card["detail"]) == ("reply", room, None, {})
    mention = await request(asker, "message.send", room=room, body="Which drugs?",
                            client_id="m1", mentions=[me[expert]])
    assert mention["ok"], mention
    card = (await next_event(expert, "notification.new"))["data"]["notification"]
    assert (card["kind"], card["room"]) == ("mention", room)
    assert [n["kind"] for n in (await _inbox(expert))["notifications"]] == ["mention"]
    assert [n["kind"] for n in (await _inbox(asker))["notifications"]] == ["reply"]

    # The mute shows in rooms.list (the client's mute button survives a reload).
    until = time.time() + 3600
    assert (await request(expert, "room.mute", room=room, until=until))["ok"]
    rooms = {r["id"]: r for r in (await request(expert, "rooms.list"))["data"]["rooms"]}
    assert rooms[room]["muted_until"] == pytest.approx(until, abs=1)
    rooms = {r["id"]: r for r in (await request(asker, "rooms.list"))["data"]["rooms"]}
    assert rooms[room]["muted_until"] is None

    # A case says whether I follow it (the follow button's state).
    status, posted = await sync_to_async(asker.http.call)("POST", "/api/v1/cases", {
        "question": "Fever-induced Brugada pattern: admit for monitoring?",
        "specialty": "cardiology", "urgency": "routine", "audience": "network"})
    assert status == 201, posted
    case_id = posted["case"]["id"]
    status, view = await sync_to_async(expert.http.call)("GET", f"/api/v1/cases/{case_id}")
    assert status == 200 and view["case"]["following"] is False
    assert (await request(expert, "case.follow", case=case_id))["ok"]
    status, view = await sync_to_async(expert.http.call)("GET", f"/api/v1/cases/{case_id}")
    assert status == 200 and view["case"]["following"] is True
    for ws in (asker, expert):
        await ws.close()
