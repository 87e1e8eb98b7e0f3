"""The WebSocket consumer in process (``channels.testing.WebsocketCommunicator``): the
handshake, and that a bad frame is answered with a stable error code and never closes the
socket — except one over the frame-size limit (1009) — while a ping afterwards is served.

Under daphne the size limit is daphne's own (``serve`` passes it as the WebSocket max
size); in process nothing sits in front of the consumer, so its own check closes with 1009.
The frame bucket runs on ``gateway.consumer``'s monotonic clock, replaced here by a fake one.
"""

from __future__ import annotations

import json
import time
import types

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from bus import protocol
from core.limits import retry_after_s
from gateway import consumer as consumer_module
from gateway.consumer import FRAME_BURST, FRAMES_PER_S, CurbsideConsumer
from physicians.services import ws_ticket_issue
from physicians.states import LicenceStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_presence")]

# Generous: the first handshake reads the profile through the sync thread.
TIMEOUT_S = 10


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeMonotonic:
    """The consumer's ``time`` with a frozen ``monotonic`` (``time.time`` stays real)."""
    fake = FakeMonotonic()
    monkeypatch.setattr(consumer_module, "time", types.SimpleNamespace(monotonic=fake, time=time.time))
    return fake


async def ticket_for(make_physician, **kw) -> str:
    physician, *_ = await sync_to_async(make_physician)(**kw)
    return (await sync_to_async(ws_ticket_issue)(user_id=str(physician.user_id)))[0]


def communicator(ticket: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(CurbsideConsumer.as_asgi(), f"/ws/v1/?ticket={ticket}")


@pytest.fixture
async def ws(make_physician, clock):
    """An accepted socket of a verified physician that has read its welcome."""
    comm = communicator(await ticket_for(make_physician))
    connected, _ = await comm.connect(timeout=TIMEOUT_S)
    assert connected
    welcome = await comm.receive_json_from(TIMEOUT_S)
    assert welcome["type"] == "session.welcome"
    yield comm
    await comm.disconnect(timeout=TIMEOUT_S)


async def reply_to(comm: WebsocketCommunicator, *, text: str | None = None,
                   data: bytes | None = None) -> dict:
    await comm.send_to(text_data=text, bytes_data=data)
    return await comm.receive_json_from(TIMEOUT_S)


async def assert_ping_served(comm: WebsocketCommunicator) -> None:
    pong = await reply_to(comm, text=json.dumps({"op": "ping", "ref": "after"}))
    assert pong["op"] == "reply" and pong["ref"] == "after" and pong["ok"] is True, pong
    assert await comm.receive_nothing()  # one reply, and the socket is still open


def assert_error(frame: dict, code: str, ref=None) -> dict:
    assert frame["op"] == "reply" and frame["ok"] is False, frame
    assert frame["ref"] == ref
    assert frame["error"]["code"] == code and frame["error"]["message"]
    return frame["error"].get("details") or {}


# --- the handshake ----------------------------------------------------------------------------

async def test_a_verified_physician_is_welcomed(make_physician):
    comm = communicator(await ticket_for(make_physician))
    connected, _ = await comm.connect(timeout=TIMEOUT_S)
    assert connected
    welcome = await comm.receive_json_from(TIMEOUT_S)
    protocol.validate_event(json.dumps(welcome))
    assert welcome["data"]["me"]["verified"] is True
    assert welcome["data"]["limits"]["frame_bytes"] == settings.CURBSIDE_LIMITS["frame_bytes"]
    await comm.disconnect(timeout=TIMEOUT_S)


async def test_a_suspended_physician_is_refused_before_accept(make_physician):
    comm = communicator(await ticket_for(make_physician, status=LicenceStatus.SUSPENDED))
    assert await comm.connect(timeout=TIMEOUT_S) == (False, protocol.CLOSE_FORBIDDEN)
    await comm.disconnect(timeout=TIMEOUT_S)


async def test_a_spent_or_forged_ticket_is_refused_before_accept(make_physician):
    ticket = await ticket_for(make_physician)
    first = communicator(ticket)
    assert (await first.connect(timeout=TIMEOUT_S))[0]
    await first.disconnect(timeout=TIMEOUT_S)
    for bad in (ticket, ticket[:-4] + "AAAA", ""):
        comm = communicator(bad)
        assert await comm.connect(timeout=TIMEOUT_S) == (False, protocol.CLOSE_UNAUTHENTICATED)
        await comm.disconnect(timeout=TIMEOUT_S)


# --- bad frames: an error reply, the socket stays open, a ping is still served -----------------

async def test_a_binary_frame_is_a_bad_frame(ws):
    assert_error(await reply_to(ws, data=b"\x00\x01binary"), protocol.BAD_FRAME)
    await assert_ping_served(ws)


@pytest.mark.parametrize("text", ["not json", '{"op": "ping"', " ", '[{"op": "ping"}]', '"ping"', "42"])
async def test_text_that_is_not_a_json_object_is_a_bad_frame(ws, text):
    assert_error(await reply_to(ws, text=text), protocol.BAD_FRAME)
    await assert_ping_served(ws)


async def test_an_unknown_op_names_the_op(ws):
    frame = await reply_to(ws, text=json.dumps({"op": "room.explode", "ref": "r1"}))
    assert assert_error(frame, protocol.UNKNOWN_OP, ref="r1") == {"op": "room.explode"}
    await assert_ping_served(ws)


@pytest.mark.parametrize(("request_", "field"), [
    ({"op": "room.join", "ref": "r2"}, "room"),  # missing
    ({"op": "room.join", "ref": "r2", "room": 5}, "room"),  # mistyped
    ({"op": "message.send", "ref": "r2", "room": "lounge-cardiology", "body": "hi"},
     "client_id"),  # missing
    ({"op": "room.history", "ref": "r2", "room": "lounge-cardiology", "limit": "ten"}, "limit"),
    ({"ref": "r2"}, "op"),  # no op at all
    ({"op": 7, "ref": "r2"}, "op"),
])
async def test_a_missing_or_mistyped_field_is_a_bad_request_naming_it(ws, request_, field):
    frame = await reply_to(ws, text=json.dumps(request_))
    assert assert_error(frame, protocol.BAD_REQUEST, ref="r2")["field"] == field
    await assert_ping_served(ws)


@pytest.mark.parametrize("ref", ["x" * (protocol.REF_MAX_CHARS + 1), True, [1], {"a": 1}, 1.5])
async def test_an_over_long_or_mistyped_ref_is_a_bad_request_without_a_ref(ws, ref):
    frame = await reply_to(ws, text=json.dumps({"op": "ping", "ref": ref}))
    assert assert_error(frame, protocol.BAD_REQUEST, ref=None)["field"] == "ref"
    await assert_ping_served(ws)


async def test_a_ref_at_the_limit_is_echoed(ws):
    ref = "x" * protocol.REF_MAX_CHARS
    pong = await reply_to(ws, text=json.dumps({"op": "ping", "ref": ref}))
    assert pong["ok"] and pong["ref"] == ref


@pytest.mark.parametrize("char", ["a", "é", "😀"])  # 1, 2 and 4 bytes in UTF-8
async def test_a_frame_over_the_size_limit_closes_with_1009(ws, char):
    limit = settings.CURBSIDE_LIMITS["frame_bytes"]
    width = len(char.encode())
    # The same frame one character shorter fits: the limit is on bytes, not characters.
    fitting = json.dumps({"op": "ping", "ref": "fits", "pad": ""}, ensure_ascii=False)
    pad = char * ((limit - len(fitting.encode())) // width)
    at_limit = json.dumps({"op": "ping", "ref": "fits", "pad": pad}, ensure_ascii=False)
    assert limit - width < len(at_limit.encode()) <= limit
    # Served, not closed: a reply (bad_request for the unknown field `pad`, since every
    # schema forbids unknown fields), and the socket stays open.
    assert (await reply_to(ws, text=at_limit))["op"] == "reply"
    over = json.dumps({"op": "ping", "ref": "over", "pad": pad + char}, ensure_ascii=False)
    assert len(over.encode()) > limit
    await ws.send_to(text_data=over)
    assert await ws.receive_output(TIMEOUT_S) == {"type": "websocket.close",
                                                   "code": protocol.CLOSE_TOO_BIG}


async def test_a_flood_beyond_the_frame_bucket_is_rate_limited_then_served_again(ws, clock):
    burst = int(FRAME_BURST)
    for i in range(burst):  # the clock stands still: the whole burst, then nothing
        assert (await reply_to(ws, text=json.dumps({"op": "ping", "ref": i})))["ok"]
    limited = await reply_to(ws, text=json.dumps({"op": "ping", "ref": "flood"}))
    details = assert_error(limited, protocol.RATE_LIMITED, ref="flood")
    assert details == {"retry_after_s": retry_after_s(1 / FRAMES_PER_S)}  # rounded up to ms
    # A bad frame is answered all the same (it is refused before the bucket is charged) …
    assert_error(await reply_to(ws, text="[]"), protocol.BAD_FRAME)
    # … and once the client waited as told (rounded up to the millisecond), a ping is served.
    clock.now += details["retry_after_s"] + 0.001
    await assert_ping_served(ws)
