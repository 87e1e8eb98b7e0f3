"""Hostile input over real sockets, on a real daphne with PostgreSQL and Redis.

Each test replays a defect found black-box: the frame that used to answer ``internal``, close
the socket or fail other people's sends now gets a precise error, and nobody else notices.
docs/security.md ("Hostile input") maps each test to what it proves.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from bus import protocol
from tests.support.clients import Http, connect, recv_json, request

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="presence across the server needs Redis"),
]

# A lounge no other test writes to: its seqs start at 1 in every test (the flush resets it).
LOUNGE = "lounge-hepatology"


async def _socket(server, make_physician, **kw):
    physician, email, password = await sync_to_async(make_physician)(**kw)
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    assert (await recv_json(ws))["type"] == "session.welcome"
    ws.events, ws.physician, ws.http = [], physician, client
    return ws


async def _event(ws, type_: str, timeout: float = 10.0) -> dict:
    for i, frame in enumerate(ws.events):
        if frame.get("type") == type_:
            return ws.events.pop(i)
    while True:
        frame = await recv_json(ws, timeout)
        if frame.get("op") == "event" and frame.get("type") == type_:
            protocol.validate_event(json.dumps(frame))
            return frame
        ws.events.append(frame)


async def _raw(ws, text: str) -> dict:
    """Send a frame as is and return the next reply (events are kept on ws.events)."""
    await ws.send(text)
    while True:
        frame = await recv_json(ws)
        if frame.get("op") == "reply":
            return frame
        ws.events.append(frame)


def _stored(room: str) -> tuple[list[tuple[int, str]], int]:
    from rooms.models import Message, Room

    return (list(Message.objects.filter(room_id=room).order_by("seq")
                 .values_list("seq", "client_id")),
            Room.objects.get(pk=room).last_seq)


async def _alive(ws) -> None:
    assert (await request(ws, "ping", ref="still-alive"))["ok"]


# --- 1. one NUL byte must not fail everyone's sends ----------------------------------------

async def test_one_hostile_send_among_thirty_concurrent_ones_fails_alone(daphne_server,
                                                                         make_physician):
    senders = [await _socket(daphne_server, make_physician, specialty="hepatology")
               for _ in range(6)]
    for ws in senders:
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    hostile = "bad\x00id"
    frames: list[list[dict]] = [[] for _ in senders]
    for n in range(30):  # 6 senders × 5 sends; the 13th is the hostile one
        client_id = hostile if n == 12 else f"ok-{n}"
        frames[n % 6].append({"op": "message.send", "ref": f"s{n}", "room": LOUNGE,
                              "body": f"concurrent {n}", "client_id": client_id})

    async def burst(ws, batch):
        # Every frame leaves before any reply is read: they reach the writer together.
        await asyncio.gather(*(ws.send(json.dumps(f)) for f in batch))
        replies = {}
        while len(replies) < len(batch):
            frame = await recv_json(ws)
            if frame.get("op") == "reply":
                replies[frame["ref"]] = frame
        return replies

    replies: dict[str, dict] = {}
    for got in await asyncio.gather(*(burst(ws, b) for ws, b in zip(senders, frames,
                                                                     strict=True))):
        replies.update(got)
    bad = replies.pop("s12")
    assert bad["ok"] is False and bad["error"]["code"] == "bad_request", bad
    assert bad["error"]["details"]["field"] == "client_id"
    assert all(r["ok"] for r in replies.values()), [r for r in replies.values() if not r["ok"]]
    seqs = sorted(r["data"]["seq"] for r in replies.values())
    assert seqs == list(range(1, 30))
    rows, last = await sync_to_async(_stored)(LOUNGE)
    assert [s for s, _ in rows] == seqs and last == 29
    assert {c for _, c in rows} == {f"ok-{n}" for n in range(30) if n != 12}
    for ws in senders:
        await _alive(ws)
        await ws.close()


# --- 2. room ids outside the alphabet --------------------------------------------------------

@pytest.mark.parametrize("room", ["lounge cardiology", "lounge-\x00", "lounge-card\x00iology",
                                  "lounge/../case-1", "lounge-🫀", "case-../../etc",
                                  "lounge-cardiology\n"])
async def test_room_ids_outside_the_alphabet_are_a_bad_request(daphne_server, make_physician,
                                                               room):
    ws = await _socket(daphne_server, make_physician)
    for op, args in (("room.join", {}), ("room.history", {}), ("typing", {}),
                     ("message.send", {"body": "hi", "client_id": "c1"}),
                     ("read", {"seq": 1})):
        reply = await request(ws, op, room=room, **args)
        assert reply["error"]["code"] == "bad_request", (op, reply)
        assert reply["error"]["details"]["field"] == "room"
    await _alive(ws)
    await ws.close()


async def test_a_well_formed_unknown_room_is_not_found(daphne_server, make_physician):
    ws = await _socket(daphne_server, make_physician)
    for room in ("lounge-no-such-thing", "case-0123456789abcdef"):
        assert (await request(ws, "room.join", room=room))["error"]["code"] == "not_found"
    await ws.close()


# --- 3. integers past a bigint -----------------------------------------------------------------

async def test_integers_past_a_bigint_are_a_bad_request(daphne_server, make_physician):
    ws = await _socket(daphne_server, make_physician)
    assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    sent = await request(ws, "message.send", room=LOUNGE, body="first", client_id="c1")
    assert sent["ok"], sent
    huge = 2**63
    for op, args, field in (
            ("message.send", {"body": "hi", "client_id": "c2", "reply_to": huge}, "reply_to"),
            ("room.join", {"since": huge}, "since"),
            ("room.history", {"before": huge}, "before"),
            ("read", {"seq": huge}, "seq"),
            ("message.edit", {"seq": huge, "body": "x"}, "seq"),
            ("message.delete", {"seq": huge}, "seq"),
            ("report", {"seq": huge, "reason": "x"}, "seq")):
        reply = await request(ws, op, room=LOUNGE, **args)
        assert reply["error"]["code"] == "bad_request", (op, reply)
        assert reply["error"]["details"]["field"] == field
    # The largest bigint is a valid (unknown) message.
    reply = await request(ws, "message.send", room=LOUNGE, body="hi", client_id="c3",
                          reply_to=huge - 1)
    assert reply["error"]["code"] == "not_found", reply
    await ws.close()


# --- 4. deep nesting ------------------------------------------------------------------------------

async def test_deeply_nested_json_is_a_bad_frame_and_the_socket_stays_open(daphne_server,
                                                                           make_physician):
    ws = await _socket(daphne_server, make_physician)
    depth = 20_000  # 40 kB: under the 64 KiB frame limit
    for text in ("[" * depth + "]" * depth,
                 '{"op": "ping", "ref": "n1", "x": ' + "[" * depth + "]" * depth + "}",
                 '{"op": "room.join", "room": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"):
        reply = await _raw(ws, text)
        assert reply["error"]["code"] == "bad_frame", reply
    await _alive(ws)
    await ws.close()


# --- 5. an oversized ref is refused, never echoed ----------------------------------------------

async def test_an_oversized_ref_is_refused_and_not_echoed(daphne_server, make_physician):
    ws = await _socket(daphne_server, make_physician)
    ref = "R" * 30_000
    for frame in ({"op": "ping", "ref": ref},
                  {"op": "room.join", "ref": ref, "room": LOUNGE},
                  {"op": "room.join", "ref": ref}):
        await ws.send(json.dumps(frame))
        text = await asyncio.wait_for(ws.recv(), 10)
        reply = json.loads(text)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
        assert reply["ref"] is None and reply["error"]["details"]["field"] == "ref"
        assert "RRRR" not in text and len(text) < 300
    await _alive(ws)
    await ws.close()


# --- 6. bidi and zero-width controls in bodies -------------------------------------------------

async def test_bidi_controls_in_a_body_are_refused_but_rtl_text_passes(daphne_server,
                                                                       make_physician):
    ws = await _socket(daphne_server, make_physician)
    assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    for n, body in enumerate(["dose 5 mg \u202e01 gm\u202c", "zero\u200bwidth", "\ufeffbom",
                              "isolate \u2067x\u2069", "mark\u200f"]):
        reply = await request(ws, "message.send", room=LOUNGE, body=body, client_id=f"b{n}")
        assert reply["error"]["code"] == "bad_request", reply
        assert reply["error"]["details"]["field"] == "body"
    rtl = "المريض مستقر — שלום — می\u200cخواهم — 👩\u200d⚕\ufe0f"
    sent = await request(ws, "message.send", room=LOUNGE, body=rtl, client_id="rtl")
    assert sent["ok"], sent
    shown = await _event(ws, "message.new")
    assert shown["data"]["body"] == rtl and shown["seq"] == sent["data"]["seq"]
    edit = await request(ws, "message.edit", room=LOUNGE, seq=sent["data"]["seq"],
                         body="fixed \u202edose")
    assert edit["error"]["code"] == "bad_request" and edit["error"]["details"]["field"] == "body"
    await ws.close()


def _register(http: Http, **overrides) -> tuple[int, dict]:
    n = uuid.uuid4().hex[:8]
    body = {"email": f"hostile-{n}@example.test", "password": "correct-horse-battery",
            "first_name": "Ana", "last_name": "García", "country": "GB",
            "licence_number": f"{int(n, 16) % 9_000_000 + 1_000_000:07d}",
            "specialty": "cardiology", **overrides}
    return http.call("POST", "/api/v1/auth/register", body)


async def test_names_and_other_http_fields_refuse_controls(daphne_server, make_physician):
    http = Http(daphne_server.http)
    for field, value in (("display_name", "Dr. \u202eanA"), ("first_name", "A\u200bna"),
                         ("last_name", "Garc\x00ía"), ("specialty", "cardio\x00logy"),
                         ("country", "G\x00B")):
        status, body = await sync_to_async(_register)(http, **{field: value})
        assert status == 400 and body["error"]["code"] == "bad_request", (field, body)
        assert field in body["error"]["fields"], body
    status, body = await sync_to_async(_register)(http, display_name="د. آنا")
    assert status == 202, body  # accepted (the neutral sign-up answer)

    ws = await _socket(daphne_server, make_physician)
    for extra in ({"specialty": "cardio\x00logy"}, {"summary": "see \u202eleft"},
                  {"subspecialty": "x\x00"}):
        payload = {"specialty": "cardiology", "summary": "65M chest pain", **extra}
        status, body = await sync_to_async(ws.http.call)("POST", "/api/v1/cases", payload)
        assert status == 400 and body["error"]["code"] == "bad_request", (extra, body)
        assert set(extra) <= set(body["error"]["fields"]), body
    await ws.close()


def _upload(http: Http, room: str) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{http.base}/api/v1/rooms/{room}/attachments",
                                 data=b"\x89PNG\r\n\x1a\n" + bytes(64), method="POST",
                                 headers={"Content-Type": "image/png",
                                          "X-CSRFToken": http.cookie("csrftoken") or ""})
    try:
        with http.opener.open(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def test_a_malformed_room_in_an_http_path_is_not_found(daphne_server, make_physician):
    """A path names a resource: a room id outside the alphabet is no such room (404), as a
    well-formed unknown one is — never a database error (500)."""
    ws = await _socket(daphne_server, make_physician)
    for room in ("lounge-%00", "lounge%20x", "lounge-%E2%80%AEx", "LOUNGE-X",
                 "lounge-no-such-thing"):
        status, body = await sync_to_async(_upload)(ws.http, room)
        assert status == 404 and body["error"]["code"] == "not_found", (room, body)
    await ws.close()


async def test_moderation_queue_bounds_its_cursor(daphne_server, make_physician):
    mod = await _socket(daphne_server, make_physician, role="moderator")
    for after in (str(2**63), str(-(2**63) - 1), "1%00", "%EF%BB%BF1"):
        status, body = await sync_to_async(mod.http.call)(
            "GET", f"/api/v1/moderation/reports?after={after}")
        assert status == 400 and body["error"]["fields"].get("after"), (after, body)
    status, body = await sync_to_async(mod.http.call)(
        "POST", f"/api/v1/moderation/reports/{2**63}/resolve", {"resolution": "x"})
    assert status == 404, body
    await mod.close()


# --- 7. declining someone else's offer ---------------------------------------------------------

async def test_declining_someone_elses_offer_is_forbidden_and_changes_nothing(daphne_server,
                                                                              make_physician):
    poster = await _socket(daphne_server, make_physician, specialty="emergency-medicine")
    ana = await _socket(daphne_server, make_physician, specialty="nephrology")
    bo = await _socket(daphne_server, make_physician, specialty="nephrology")
    cy = await _socket(daphne_server, make_physician, specialty="dermatology")
    for ws in (ana, bo):
        reply = await request(ws, "presence.set", status="available", on_call=True)
        assert reply["ok"], reply
    status, case = await sync_to_async(poster.http.call)(
        "POST", "/api/v1/cases",
        {"specialty": "nephrology", "urgency": "urgent", "summary": "K 7.1, peaked T waves"})
    assert status == 201 and case["routing"]["offered"] == 2, case
    case_id = case["case"]["id"]
    ana_offer = (await _event(ana, "offer.new"))["data"]["offer"]
    bo_offer = (await _event(bo, "offer.new"))["data"]["offer"]
    assert ana_offer != bo_offer
    assert (await _event(poster, "case.routing"))["data"]["step"] == "offered"

    # Cy holds no offer; Bo holds his own. Neither may decline Ana's.
    for ws in (cy, bo):
        reply = await request(ws, "offer.decline", offer=ana_offer)
        assert reply["error"]["code"] == "forbidden", reply
    # Offers of no case at all.
    for offer in (f"{uuid.uuid4()}:1", "nonsense:1", f"{case_id}x:1"):
        reply = await request(cy, "offer.decline", offer=offer)
        assert reply["error"]["code"] == "not_found", (offer, reply)
    # Nothing moved: nobody's offer closed, the poster heard of no decline.
    for ws in (ana, bo, poster):
        await _alive(ws)
    assert not [e for ws in (ana, bo) for e in ws.events if e.get("type") == "offer.closed"]
    assert not [e for e in poster.events if e.get("type") == "case.routing"]

    def routing():
        from consult import services
        state = services.routing_get(case_id=case_id)
        return {o.user_id: o.offer_id for o in state.outstanding}

    assert await sync_to_async(routing)() == {str(ana.physician.user_id): ana_offer,
                                              str(bo.physician.user_id): bo_offer}
    # Bo declines his own offer: that works, once; again is a harmless no-op.
    assert (await request(bo, "offer.decline", offer=bo_offer))["ok"]
    assert (await _event(bo, "offer.closed"))["data"]["reason"] == "declined"
    assert (await request(bo, "offer.decline", offer=bo_offer))["ok"]
    # Ana's offer is still hers to accept.
    accepted = await request(ana, "offer.accept", offer=ana_offer)
    assert accepted["ok"], accepted
    # After the claim, Cy still may not decline Ana's offer.
    assert (await request(cy, "offer.decline", offer=ana_offer))["error"]["code"] == "forbidden"
    for ws in (poster, ana, bo, cy):
        await ws.close()
