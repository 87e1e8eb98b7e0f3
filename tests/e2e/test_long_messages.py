"""Long messages over real sockets: a room full of maximal messages stays usable.

Nine messages of the maximum length used to brick a room: every later ``room.join`` built a
100-message page of ~100 KB, and the 64 KiB frame limit that daphne hands autobahn applies
to what the server sends too — autobahn raised inside the consumer's send, the application
died, and daphne closed the socket with 1011 (the web client then reconnected forever).

Pages are now built by encoded size (rooms/selectors.py): each frame fits under
``limits.frame_bytes``, ``more`` says where a page stopped early, and paging returns every
message exactly once, in order — for members and moderators alike. The bodies use the
characters that cost the most bytes on the wire: two- and four-byte UTF-8, a quote
(escaped to two bytes) and a control character (escaped to six, the encoder's worst case).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from django.conf import settings

from bus import protocol
from tests.support.clients import RECV_TIMEOUT_S
from tests.support.sockets import open_socket as _socket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-cardiology"
# Each costs more than one byte per character once encoded: é (2), 🩺 (4), " (\" = 2),
# \\ (2). Control characters, which JSON would escape to six bytes, are refused in bodies
# (docs/protocol.md, "Identifiers and limits"); a 4-byte character is the worst a body holds.
FILLERS = ("é", "🩺", '"', "\\")


def _max_body(i: int) -> str:
    limit = settings.CURBSIDE_LIMITS["message_chars"]
    prefix = f"long {i} "
    return prefix + FILLERS[i % len(FILLERS)] * (limit - len(prefix))


async def _raw_request(ws, op: str, **args) -> dict:
    """One request; the reply with its encoded size. The socket must stay open: a close
    here (1011 before the fix) fails the test with its code."""
    ref = f"{op}-{uuid.uuid4().hex[:8]}"
    # Raw UTF-8, as JSON.stringify sends it: escaped, an emoji would cost 12 bytes, and
    # 8,000 of them would not fit the frame limit the server applies to what it receives.
    await ws.send(json.dumps({"op": op, "ref": ref, **args}, ensure_ascii=False))
    while True:
        text = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)
        frame = json.loads(text)
        if frame.get("op") == "reply" and frame.get("ref") == ref:
            frame["_bytes"] = len(text.encode())
            if frame.get("ok"):
                protocol.validate_reply(op, text)
            return frame
        ws.events.append(frame)


async def _post(ws, bodies: list[str]) -> list[int]:
    """Send each body, waiting out the rate limit the server announces (retry_after_s)."""
    seqs = []
    for body in bodies:
        while True:
            reply = await _raw_request(ws, "message.send", room=LOUNGE, body=body,
                                       client_id=uuid.uuid4().hex)
            if reply["ok"]:
                seqs.append(reply["data"]["seq"])
                break
            assert reply["error"]["code"] == "rate_limited", reply
            await asyncio.sleep(reply["error"]["details"]["retry_after_s"])
    return seqs


def _checked(reply: dict) -> dict:
    assert reply["ok"], reply
    assert reply["_bytes"] <= settings.CURBSIDE_LIMITS["frame_bytes"], reply["_bytes"]
    # A page never comes back empty while it says there is more.
    assert reply["data"]["messages"] or not reply["data"]["more"], reply["data"]
    return reply["data"]


async def _read_everything(ws) -> dict[str, list[dict]]:
    """Every way a client reads a room, each to the end: the latest page then history
    backwards, a resume from 0 forwards, and a resume from the middle."""
    out: dict[str, list[dict]] = {}
    # 1. room.join without since (the latest page), then room.history backwards.
    data = _checked(await _raw_request(ws, "room.join", room=LOUNGE))
    last_seq = data["room"]["last_seq"]
    got = list(data["messages"])
    more = data["more"]
    while more:
        page = _checked(await _raw_request(ws, "room.history", room=LOUNGE,
                                           before=got[0]["seq"], limit=100))
        assert page["messages"], page
        got = page["messages"] + got
        more = page["more"]
    out["latest+history"] = got
    # 2. room.join with since=0, then again with the last seq received, until more is false.
    got, since, more = [], 0, True
    while more:
        data = _checked(await _raw_request(ws, "room.join", room=LOUNGE, since=since))
        got += data["messages"]
        more = data["more"]
        if got:
            since = got[-1]["seq"]
    out["resume from 0"] = got
    # 3. a resume from the middle.
    middle = last_seq // 2
    got, since, more = [], middle, True
    while more:
        data = _checked(await _raw_request(ws, "room.join", room=LOUNGE, since=since))
        got += data["messages"]
        more = data["more"]
        if got:
            since = got[-1]["seq"]
    out["resume from the middle"] = [{"seq": s} for s in range(1, middle + 1)] + got
    # 4. room.history from the top without before.
    got, before, more = [], None, True
    while more:
        args = {"room": LOUNGE, "limit": 100} | ({"before": before} if before else {})
        page = _checked(await _raw_request(ws, "room.history", **args))
        got = page["messages"] + got
        more = page["more"]
        before = got[0]["seq"] if got else None
    out["history"] = got
    return out


@pytest.mark.parametrize("count", [9, 20])
async def test_a_room_of_maximal_messages_pages_without_closing_sockets(daphne_server,
                                                                        make_physician, count):
    author = await _socket(daphne_server, make_physician)
    assert _checked(await _raw_request(author, "room.join", room=LOUNGE))["messages"] == []
    bodies = [_max_body(i) for i in range(count)]
    seqs = await _post(author, bodies)
    assert seqs == list(range(1, count + 1))

    member = await _socket(daphne_server, make_physician)
    moderator = await _socket(daphne_server, make_physician, role="moderator")
    for ws in (author, member, moderator):
        for way, messages in (await _read_everything(ws)).items():
            assert [m["seq"] for m in messages] == seqs, (way, [m["seq"] for m in messages])
            full = [m for m in messages if "body" in m]
            assert [m["body"] for m in full] == bodies[len(bodies) - len(full):], way
        # The socket is still open and serving.
        assert (await _raw_request(ws, "ping"))["ok"]
        await ws.close()


async def test_a_single_maximal_message_fits_one_frame(daphne_server, make_physician):
    """The worst body a sender may store on the wire (every character four bytes) still
    fits a page, and its message.new event fits a frame."""
    author = await _socket(daphne_server, make_physician)
    reader = await _socket(daphne_server, make_physician)
    for ws in (author, reader):
        _checked(await _raw_request(ws, "room.join", room=LOUNGE))
    limit = settings.CURBSIDE_LIMITS["message_chars"]
    body = "🩺" * limit
    assert (await _post(author, [body])) == [1]
    while not any(e.get("type") == "message.new" for e in reader.events):
        reader.events.append(json.loads(await asyncio.wait_for(reader.recv(), RECV_TIMEOUT_S)))
    for ws in (author, reader):
        data = _checked(await _raw_request(ws, "room.join", room=LOUNGE))
        assert [m["body"] for m in data["messages"]] == [body] and data["more"] is False
        page = _checked(await _raw_request(ws, "room.history", room=LOUNGE))
        assert [m["seq"] for m in page["messages"]] == [1]
        await ws.close()


# --- frames over the frame limit: what the server sends is held to its own limit ------------

def _legacy_display_name(physician, name: str, room: str) -> None:
    """A display name from before names were capped (physicians.services), shown in ``room``
    (the member appears there under their real name): every card of theirs carries it."""
    from crypto import personal
    from physicians.models import Physician, User
    from rooms import services
    from rooms.models import Membership

    user = User.objects.get(pk=physician.user_id)
    uid = str(user.pk)
    key = personal.unwrap_personal_key(uid, bytes(user.personal_key))
    Physician.objects.filter(pk=user.pk).update(
        display_name_sealed=personal.seal_field(key, uid, "display_name", name))
    services.room_join(room_id=room, user=user)
    Membership.objects.filter(room_id=room, user=user).update(real_name=True)


async def _legacy_socket(server, make_physician, name: str):
    from asgiref.sync import sync_to_async

    from tests.support.clients import Http, connect

    physician, email, password = await sync_to_async(make_physician)()
    await sync_to_async(_legacy_display_name)(physician, name, LOUNGE)
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    text = await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)
    welcome = json.loads(text)
    assert welcome["type"] == "session.welcome"
    ws.events, ws.welcome_bytes = [], len(text.encode())
    return ws


async def test_a_frame_over_the_frame_limit_is_still_sent(daphne_server, make_physician):
    """autobahn held what daphne sends to the incoming limit: a 100 KB welcome (a display
    name from before the cap) closed the socket with 1011 before anything arrived."""
    name = "N" * 100_000
    ws = await _legacy_socket(daphne_server, make_physician, name)
    assert ws.welcome_bytes > settings.CURBSIDE_LIMITS["frame_bytes"]
    join = await _raw_request(ws, "room.join", room=LOUNGE)
    assert join["ok"] and join["data"]["me"]["name"] == name, join.get("error")
    assert join["_bytes"] > settings.CURBSIDE_LIMITS["frame_bytes"]
    assert (await _raw_request(ws, "ping"))["ok"]
    await ws.close()


@pytest.fixture(scope="module")
def small_send_server(live_database_url, tmp_path_factory):
    """A daphne whose send limit is the frame limit (the least gateway/checks.py allows)."""
    from tests.support.servers import start_daphne

    server = start_daphne(live_database_url, tmp_path_factory,
                          CURBSIDE_SEND_FRAME_BYTES=str(settings.CURBSIDE_LIMITS["frame_bytes"]))
    yield server
    server.stop()


async def test_a_reply_over_the_send_limit_is_too_large_and_the_socket_lives(small_send_server,
                                                                            make_physician):
    limit = settings.CURBSIDE_LIMITS["frame_bytes"]
    name = "N" * 40_000  # one card fits a frame, two do not
    ws = await _legacy_socket(small_send_server, make_physician, name)
    assert _checked(await _raw_request(ws, "room.join", room=LOUNGE))["me"]["name"] == name
    sent = await _post(ws, ["hello"])
    # The join reply now carries the card twice (as `me` and on the message): over the limit.
    reply = await _raw_request(ws, "room.join", room=LOUNGE)
    assert reply["ok"] is False and reply["error"]["code"] == "too_large", reply
    assert reply["error"]["details"]["max"] == limit
    assert reply["error"]["details"]["bytes"] > limit
    # The socket is open and serves; a page of the message alone still fits.
    assert (await _raw_request(ws, "ping"))["ok"]
    page = _checked(await _raw_request(ws, "room.history", room=LOUNGE))
    assert [m["seq"] for m in page["messages"]] == sent
    other = await _socket(small_send_server, make_physician)
    data = _checked(await _raw_request(other, "room.join", room=LOUNGE))
    assert [m["author"]["name"] for m in data["messages"]] == [name]
    await ws.close()
    await other.close()
