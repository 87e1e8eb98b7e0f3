"""The wire schema is strict and the suite's frame check can fail (bus/protocol.py).

Every server → client schema forbids unknown fields, every op has a reply schema, every event
type a room/seq rule; ``validate_server_frame`` refuses each kind of bad frame; and each hook
that runs it over the whole suite (tests/conftest.py) reports what it finds. Frames that are
meant to be invalid are written by hand here: the builders (``event_frame``, ``reply_ok``,
``reply_error``) are checked during tests and would refuse them.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys

import msgspec
import pytest
from websockets.asyncio.server import serve

from bus import protocol
from gateway import consumer
from gateway.optable import OPS
from tests.support import clients, servers

CARD = {"pseudonym": "a" * 32, "name": "Dr. Coral Jaguar · aaaa", "verified": True,
        "specialty": "cardiology", "moderator": False}
MESSAGE = {"id": "5f0c6c1e-0000-4000-8000-000000000001", "seq": 7, "author": CARD, "body": "hi",
           "sent_at": "2026-01-01T00:00:00+00:00", "reply_to": None, "mentions": [],
           "attachments": [], "edited": False, "deleted": False, "hidden": False}


def event(type_: str, data: dict, **envelope) -> str:
    return json.dumps({"op": "event", "type": type_, "data": data, **envelope})


def ok(data: dict, ref="r1", **extra) -> str:
    return json.dumps({"op": "reply", "ref": ref, "ok": True, "data": data, **extra})


def error(code: str, details: dict | None = None, **extra) -> str:
    return json.dumps({"op": "reply", "ref": "r1", "ok": False,
                       "error": {"code": code, "message": "No.", "details": details or {},
                                 **extra}})


def invalid(frame: str, *, op: str | None = None) -> str:
    with pytest.raises(protocol.InvalidFrame) as info:
        protocol.validate_server_frame(frame, op=op)
    return str(info.value)


# --- the tables cover everything -----------------------------------------------------------

def _schemas() -> list[type]:
    return [obj for _, obj in inspect.getmembers(protocol, inspect.isclass)
            if issubclass(obj, msgspec.Struct) and obj.__module__ == protocol.__name__]


def test_every_schema_forbids_unknown_fields():
    schemas = _schemas()
    assert protocol.MessageData in schemas and protocol.Ping in schemas  # the walk works
    lax = [s.__name__ for s in schemas if not s.__struct_config__.forbid_unknown_fields]
    assert lax == []


def test_every_op_has_a_reply_schema_and_every_event_a_room_seq_rule():
    ops = {t.__struct_config__.tag for t in protocol.REQUEST_TYPES}
    assert set(protocol.REPLY_SCHEMAS) == ops == {t.__struct_config__.tag for t in OPS}
    assert set(protocol.EVENT_ENVELOPES) == set(protocol.EVENT_SCHEMAS)


# --- valid frames pass ---------------------------------------------------------------------

def test_valid_frames_pass():
    protocol.validate_server_frame(event("message.new", MESSAGE, room="lounge-general", seq=7))
    protocol.validate_server_frame(event("typing", {"author": CARD}, room="lounge-general"))
    protocol.validate_server_frame(event("offer.closed", {"offer": "c:1", "case": "c",
                                                          "reason": "expired"}))
    assert protocol.validate_server_frame(ok({"server_time": 1.5}), op="ping") == \
        protocol.PongData(server_time=1.5)
    protocol.validate_server_frame(ok({}, ref=None), op="typing")
    protocol.validate_server_frame(error("forbidden", {"room": "lounge-general"}))
    findings = protocol.validate_server_frame(error("phi_detected", {
        "field": "body", "findings": [{"kind": "phone", "start": 3, "end": 9}]}))
    assert findings.findings[0].kind == "phone"


# --- and each kind of bad frame fails --------------------------------------------------------

def test_unknown_field_in_an_event_payload_fails():
    assert "unknown field `colour`" in invalid(
        event("message.new", {**MESSAGE, "colour": "red"}, room="lounge-general", seq=7))
    # Nested cards too.
    problem = invalid(event("typing", {"author": {**CARD, "user_id": "leak"}},
                            room="lounge-general"))
    assert "unknown field `user_id`" in problem and "$.author" in problem


def test_unknown_event_type_fails():
    assert "unknown type 'message.exploded'" in invalid(
        event("message.exploded", {"seq": 7}, room="lounge-general", seq=7))


def test_wrong_types_fail():
    assert "Expected `int`, got `str`" in invalid(
        event("message.edited", {"seq": "7", "body": "x", "edited_at": "t"},
              room="lounge-general", seq=7))
    assert "$.room" in invalid(event("typing", {"author": CARD}, room=None))
    assert "$.seq" in invalid(event("message.deleted", {"seq": 7, "deleted_at": "t"},
                                    room="lounge-general", seq="7"))
    assert "reply to ping" in invalid(ok({"server_time": "now"}), op="ping")
    assert "ok" in invalid(json.dumps({"op": "reply", "ref": "r1", "ok": "yes", "data": {}}))
    assert "'op'" in invalid(json.dumps({"op": "push", "data": {}}))
    assert "object" in invalid("[1, 2]")


def test_room_and_seq_follow_the_event_table():
    assert "missing 'seq'" in invalid(event("message.new", MESSAGE, room="lounge-general"))
    assert "missing 'room'" in invalid(event("typing", {"author": CARD}))
    assert "unexpected 'room'" in invalid(event("offer.closed", {
        "offer": "c:1", "case": "c", "reason": "expired"}, room="lounge-general"))
    assert "data.seq is 7" in invalid(event("message.new", MESSAGE, room="lounge-general", seq=8))


def test_reply_with_an_extra_envelope_field_fails():
    assert "unknown field `op_was`" in invalid(ok({"server_time": 1.0}, op_was="ping"),
                                               op="ping")
    assert "unknown field `trace`" in invalid(error("internal", trace="Traceback …"))
    assert "`details`" in invalid(json.dumps({"op": "reply", "ref": "r1", "ok": False,
                                              "error": {"code": "internal", "message": "x"}}))
    assert "$.ref" in invalid(ok({}, ref="r" * 65), op="typing")


def test_reply_data_is_checked_against_the_op_it_answers():
    hidden = ok({"seq": 3, "hidden": True})
    assert protocol.validate_server_frame(hidden, op="mod.hide").hidden is True
    assert "unknown field `seq`" in invalid(hidden, op="ping")
    # Without the op, the data must still match some reply schema exactly.
    protocol.validate_server_frame(hidden)
    assert "matches no reply schema" in invalid(ok({"seq": 3, "hidden": True, "by": "x"}))


def test_error_with_an_unknown_code_fails():
    assert "unknown error code 'teapot'" in invalid(error("teapot"))
    assert "unknown field `text`" in invalid(error("phi_detected", {
        "field": "body", "findings": [{"kind": "phone", "start": 3, "end": 9, "text": "555"}]}))


# --- client frames: unknown fields are refused, named ---------------------------------------

def test_a_request_field_the_op_does_not_define_is_refused_by_name():
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse_request(json.dumps({"op": "room.join", "ref": 4, "room": "lounge-general",
                                           "sinse": 3}))
    assert (info.value.code, info.value.details, info.value.ref) == (
        protocol.BAD_REQUEST, {"field": "sinse"}, 4)
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse_request(json.dumps({"op": "ping", "ref": "x" * 65}))
    assert info.value.details == {"field": "ref"} and info.value.ref is None
    protocol.validate_server_frame(info.value.reply())


# --- each hook of the suite-wide check reports ----------------------------------------------

def test_builders_are_checked_in_process(_every_frame_checked):
    with pytest.raises(protocol.InvalidFrame):
        protocol.event_frame("message.exploded", {"seq": 1}, room="lounge-general", seq=1)
    assert len(_every_frame_checked) == 1 and "event_frame" in _every_frame_checked[0]
    _every_frame_checked.clear()  # provoked on purpose


async def test_the_consumer_checks_what_it_sends(_every_frame_checked):
    sent: list[dict] = []

    async def base_send(message: dict) -> None:
        sent.append(message)

    socket = consumer.CurbsideConsumer()
    socket.base_send = base_send
    await socket.send(text_data=event("typing", {"author": CARD}, room="lounge-general"))
    assert _every_frame_checked == []
    bad = event("typing", {"author": CARD, "extra": 1}, room="lounge-general")
    await socket.send(text_data=bad)
    assert [m["text"] for m in sent][-1] == bad  # still sent: the test fails at teardown
    assert len(_every_frame_checked) == 1 and "unknown field `extra`" in _every_frame_checked[0]
    _every_frame_checked.clear()


async def test_test_clients_check_every_frame_they_receive():
    frames = [event("typing", {"author": CARD}, room="lounge-general"), ok({}, ref="t1"),
              ok({"server_time": 1.0}, ref="t1", extra=True)]

    async def handler(ws):
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with clients.checked_connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send(json.dumps({"op": "typing", "ref": "t1", "room": "lounge-general"}))
            assert json.loads(await ws.recv())["type"] == "typing"
            assert json.loads(await ws.recv())["ok"] is True  # {} is the reply to typing
            with pytest.raises(clients.InvalidServerFrame):
                await ws.recv()
    assert len(clients.FRAME_ERRORS) == 1 and "unknown field `extra`" in clients.FRAME_ERRORS[0]
    clients.FRAME_ERRORS.clear()


def test_servers_report_invalid_frames_from_their_log(tmp_path):
    log = tmp_path / "daphne.log"
    server = servers.Daphne(port=1, env={}, log_path=log)
    log.write_text(f"ok\n2026 ERROR gateway.consumer {servers.INVALID_FRAME_MARK}: bad\npart")
    assert server.invalid_frames() == [
        f"2026 ERROR gateway.consumer {servers.INVALID_FRAME_MARK}: bad"]
    assert server.invalid_frames() == []  # reported once; the partial line waits
    with open(log, "a") as f:
        f.write(f"ial {servers.INVALID_FRAME_MARK}: late\n")
    assert server.invalid_frames() == [f"partial {servers.INVALID_FRAME_MARK}: late"]


def test_a_server_logs_invalid_frames_with_the_mark(caplog):
    assert servers.INVALID_FRAME_MARK == consumer.INVALID_FRAME_MARK
    with caplog.at_level(logging.ERROR, logger="gateway.consumer"):
        consumer._log_invalid_frame("event: unknown type 'x'", event("x", {}))
    assert servers.INVALID_FRAME_MARK in caplog.text and "unknown type 'x'" in caplog.text


@pytest.mark.parametrize("flag", ["1", None])
def test_servers_check_frames_only_when_asked(flag):
    """CURBSIDE_VALIDATE_FRAMES is read once, at import: without it the consumer keeps
    Channels' own send (no check, no cost)."""
    env = {k: v for k, v in os.environ.items() if k != "CURBSIDE_VALIDATE_FRAMES"}
    if flag:
        env["CURBSIDE_VALIDATE_FRAMES"] = flag
    code = ("import django; django.setup(); from gateway.consumer import CurbsideConsumer as C;"
            "print(C.send.__qualname__, C.receive.__qualname__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=servers.ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    if flag:
        assert names == ["frame_checked_methods.<locals>.checked_send",
                         "frame_checked_methods.<locals>.checked_receive"]
    else:
        assert names == ["CurbsideConsumer.send", "CurbsideConsumer.receive"]
