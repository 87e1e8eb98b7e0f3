"""Smoke suite: the same application under daphne, uvicorn's `wsproto` implementation and
granian, over a real socket — the servers `manage.py serve --server` offers besides the
default, uvicorn with `websockets-sansio` (docs/benchmarks.md, "Which ASGI server").

The whole e2e suite runs on uvicorn; this suite keeps the other servers working on the path
every client takes: a ticket handshake, join, send, receive on another socket, history, a bad
frame answered with its error code (the socket stays open), an oversized frame closed with
1009, an anonymous handshake refused. The servers come with the test extra (pyproject.toml),
so nothing here skips.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import InvalidStatus

from bus import protocol
from tests.support.clients import checked_connect, recv_json, request
from tests.support.servers import Daphne, free_port, redis_overrides, server_env
from tests.support.sockets import closed_with, next_event, open_socket, send_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-general"
SERVERS = ["daphne", "uvicorn-wsproto", "granian"]


@pytest.fixture(scope="module", params=SERVERS)
def other_server(request, live_database_url, tmp_path_factory):
    """One server process of each kind, started with `manage.py serve --server <kind>`."""
    port = free_port()
    server = Daphne(
        port=port,
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
                       **redis_overrides()),
        log_path=tmp_path_factory.mktemp(request.param) / "server.log",
        extra_args=["--server", request.param],
    ).start()
    server.kind = request.param
    yield server
    server.stop()
    # Nothing logged a traceback: under these servers a send to a socket that just closed
    # raises an OSError (uvicorn's ClientDisconnected), which the consumer drops quietly.
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]


async def test_ticket_join_send_receive_history(other_server, make_physician):
    a = await open_socket(other_server, make_physician)
    b = await open_socket(other_server, make_physician)
    for ws in (a, b):
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    sent = await send_message(a, LOUNGE, f"hello from {other_server.kind}")
    assert sent["ok"], sent
    seq = sent["data"]["seq"]
    event = await next_event(b, "message.new")
    assert (event["seq"], event["data"]["body"]) == (seq, f"hello from {other_server.kind}")
    history = await request(b, "room.history", room=LOUNGE, before=seq + 1, limit=5)
    assert history["ok"], history
    assert history["data"]["messages"][-1]["seq"] == seq
    assert history["data"]["messages"][-1]["body"] == f"hello from {other_server.kind}"
    pong = await request(a, "ping", ref="p1")
    assert pong["ok"] and pong["ref"] == "p1"
    await a.close()
    await b.close()


async def test_bad_frames_get_their_error_code_and_the_socket_stays(other_server, make_physician):
    ws = await open_socket(other_server, make_physician)
    await ws.send("{not json")
    reply = await recv_json(ws)
    assert reply["ok"] is False and reply["error"]["code"] == protocol.BAD_FRAME, reply
    await ws.send(json.dumps({"op": "no.such.op", "ref": "x1"}))
    reply = await recv_json(ws)
    assert reply["ok"] is False and reply["ref"] == "x1", reply
    assert (await request(ws, "ping"))["ok"]
    await ws.close()


async def test_oversized_frame_is_closed_with_1009(other_server, make_physician):
    ws = await open_socket(other_server, make_physician)
    await ws.send("x" * (64 * 1024 + 1))  # frame_bytes of the test servers: 64 KiB
    assert await closed_with(ws) == 1009


async def test_events_to_sockets_that_just_closed_are_dropped_quietly(other_server,
                                                                       make_physician):
    sender = await open_socket(other_server, make_physician)
    leaving = [await open_socket(other_server, make_physician) for _ in range(5)]
    for ws in (sender, *leaving):
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    for ws in leaving:
        ws.transport.abort()  # gone without a close frame, as a dropped network does
    for i in range(10):
        assert (await send_message(sender, LOUNGE, f"to the leavers {i}"))["ok"]
    assert (await request(sender, "ping"))["ok"]
    await sender.close()


async def test_anonymous_handshake_is_refused(other_server):
    with pytest.raises(InvalidStatus) as info:
        async with checked_connect(other_server.ws + "?ticket=not-a-ticket"):
            await asyncio.sleep(0)
    assert info.value.response.status_code == 403
