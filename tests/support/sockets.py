"""A logged-in physician's socket on a real server, and waiting for one event on it.

Built on tests/support/clients.py (``connect``, ``recv_json``, ``request``): a socket from
``open_socket`` carries ``events`` (frames that arrived while waiting for something else),
``physician`` and ``http`` (its logged-in HTTP client, for tickets and the JSON API).
"""

from __future__ import annotations

import json
import uuid

from asgiref.sync import sync_to_async

from bus import protocol
from tests.support.clients import Http, connect, recv_json, request


async def open_socket(server, make_physician, **kw):
    """A new physician (``make_physician(**kw)``), logged in over HTTP, with a socket that
    has seen its ``session.welcome``."""
    physician, email, password = await sync_to_async(make_physician)(**kw)
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    welcome = await recv_json(ws)
    assert welcome["type"] == "session.welcome"
    ws.events = []
    ws.physician = physician
    ws.http = client
    return ws


async def next_event(ws, type_: str, timeout: float = 10.0) -> dict:
    """The next event of ``type_`` (earlier queued ones first), validated against its schema."""
    for i, frame in enumerate(ws.events):
        if frame.get("type") == type_:
            ws.events.pop(i)
            protocol.validate_event(json.dumps(frame))
            return frame
    while True:
        frame = await recv_json(ws, timeout)
        if frame.get("op") == "event" and frame.get("type") == type_:
            protocol.validate_event(json.dumps(frame))
            return frame
        ws.events.append(frame)


async def send_message(ws, room: str, body: str, client_id: str | None = None, **kw) -> dict:
    """``message.send`` and its reply (a fresh client_id unless one is given)."""
    return await request(ws, "message.send", room=room, body=body,
                         client_id=client_id or uuid.uuid4().hex, **kw)
