"""A client that stops reading its socket: what the server holds for it stays bounded, and
everyone else keeps being served.

Twisted buffers in user space whatever the kernel's send buffer does not take, without a
limit: a socket in a busy lounge whose client never read made its daphne hold every frame
of the room for it (11 MB for 360 long messages when this was found, and growing), and any
number of such sockets could be opened. The server now drops a socket once more than
``CURBSIDE_SEND_BACKLOG_BYTES`` wait unsent for it (gateway/patches.py); its client
reconnects and resumes with ``since`` like after any dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed

from tests.support.clients import Http, checked_connect, recv_json, request
from tests.support.servers import Daphne, free_port, redis_overrides, server_env
from tests.support.sockets import open_socket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-general"
BACKLOG = 1024 * 1024
# 8,000 emoji: a 32 KB event each. 300 of them (~9.6 MB) are more than the kernel's socket
# buffers on both ends (4 MiB at most for the server's send buffer on Linux) and the backlog.
BODY = "\N{GRINNING FACE}" * 8000
COUNT = 300


# daphne bounds the backlog through Twisted (gateway/patches.py), uvicorn through its asyncio
# transport (gateway/backlog.py): there a send to a client that does not read would wait,
# and with it every delivery of the process.
@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, live_database_url, tmp_path_factory):
    port = free_port()
    daphne = Daphne(port=port, log_path=tmp_path_factory.mktemp("slow") / "daphne.log", env=server_env(
        live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
        CURBSIDE_MESSAGES_PER_S="1000", CURBSIDE_MESSAGE_BURST="1000",
        CURBSIDE_SEND_BACKLOG_BYTES=str(BACKLOG), **redis_overrides()),
        extra_args=["--server", request.param]).start()
    yield daphne
    daphne.stop()


async def _stalled_socket(server, make_physician):
    """A socket whose client reads nothing more after its join: a 4 KiB receive buffer and
    a client queue of one frame, so the server's frames pile up on the server."""
    physician, email, password = await sync_to_async(make_physician)()
    http = Http(server.http)
    await sync_to_async(http.login)(email, password)
    ticket = await sync_to_async(http.ticket)()
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
    ws = await checked_connect(f"{server.ws}?ticket={ticket}", sock=raw, max_queue=1)
    assert (await recv_json(ws))["type"] == "session.welcome"
    assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    return ws


async def test_a_socket_that_never_reads_is_dropped_and_the_others_are_served(
        server, make_physician):
    stalled = await _stalled_socket(server, make_physician)
    sender = await open_socket(server, make_physician)
    watcher = await open_socket(server, make_physician)
    for ws in (sender, watcher):
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]

    seen: list[int] = []

    async def watch():
        while len(seen) < COUNT:
            frame = await recv_json(watcher, 30)
            if frame.get("type") == "message.new" and frame["data"]["body"] == BODY:
                seen.append(frame["seq"])

    watching = asyncio.ensure_future(watch())
    i = 0
    while i < COUNT:
        # Raw UTF-8, as a browser sends it: 8,000 escaped emoji would not fit a frame.
        await sender.send(json.dumps({"op": "message.send", "ref": f"s{i}", "room": LOUNGE,
                                      "body": BODY, "client_id": f"slow-{i}"},
                                     ensure_ascii=False))
        while (reply := await recv_json(sender, 30)).get("ref") != f"s{i}":
            pass
        if not reply["ok"] and reply["error"]["code"] == "rate_limited":  # 30 frames a second
            await asyncio.sleep(reply["error"]["details"]["retry_after_s"])
            continue
        assert reply["ok"], reply
        i += 1
    # A reading socket on the same process got every one of them, live.
    await asyncio.wait_for(watching, 60)
    assert len(seen) == COUNT

    # The stalled client reads again: the server gave up on it before sending it them all.
    got, closed = 0, False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            frame = await recv_json(stalled, 5)
            got += frame.get("type") == "message.new"
    except ConnectionClosed:
        closed = True
    except TimeoutError:  # nothing more came, and the socket is still open
        pass
    assert closed and got < COUNT, \
        f"the server held every frame for a client that did not read: {got} of {COUNT}"
    # … and it may come back: a new socket of its own joins and resumes.
    again = await open_socket(server, make_physician)
    joined = await request(again, "room.join", room=LOUNGE, since=0)
    assert joined["ok"]
    for ws in (sender, watcher, again):
        await ws.close()
