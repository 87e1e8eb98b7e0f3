"""Socket helpers for end-to-end tests: a logged-in physician's socket, the next event of a
type, a message send, a close code, a refused handshake — the same as the private helpers
of tests/e2e/test_rooms.py and test_handshake.py, kept here so new test files need not
import test modules."""

from __future__ import annotations

import asyncio
import json
import uuid

import websockets
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import protocol
from tests.support.clients import Http, connect, recv_json, request


async def welcomed(ws_url: str, ticket: str):
    """A socket opened with ``ticket``, past its ``session.welcome``."""
    ws = await connect(ws_url, ticket)
    welcome = await recv_json(ws)
    assert welcome["type"] == "session.welcome", welcome
    ws.events = []
    return ws


async def open_socket(server, make_physician, **kw):
    """A new physician (``make_physician(**kw)``), logged in on ``server``, with an open
    socket there; ``ws.physician`` and ``ws.http`` (the logged-in HTTP client) ride along."""
    physician, email, password = await sync_to_async(make_physician)(**kw)
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    ws = await welcomed(server.ws, await sync_to_async(client.ticket)())
    ws.physician = physician
    ws.http = client
    return ws


async def reopen(ws, server):
    """Another socket for the same physician, on ``server`` (a fresh ticket from it)."""
    http = Http(server.http)
    for cookie in ws.http.jar:  # the session is valid on every process
        http.jar.set_cookie(cookie)
    new = await welcomed(server.ws, await sync_to_async(http.ticket)())
    new.physician, new.http = ws.physician, http
    return new


async def next_event(ws, type_: str, timeout: float = 10.0) -> dict:
    """The next event of ``type_`` (earlier queued ones first), validated against its schema."""
    for i, frame in enumerate(getattr(ws, "events", [])):
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


async def drain(ws, *, quiet: float = 0.5) -> list[dict]:
    """Read every frame that has arrived (until none comes for ``quiet`` seconds) onto
    ``ws.events``; returns it."""
    ws.events = getattr(ws, "events", [])
    while True:
        try:
            ws.events.append(await recv_json(ws, quiet))
        except TimeoutError:
            return ws.events


async def send_message(ws, room: str, body: str, client_id: str | None = None,
                       **kw) -> dict:
    return await request(ws, "message.send", room=room, body=body,
                         client_id=client_id or uuid.uuid4().hex, **kw)


async def closed_with(ws, timeout: float = 10.0) -> int | None:
    """The close code the server sent (None: the connection dropped without a close frame).
    Frames that arrive first are skipped."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def handshake_status(ws_url: str, ticket: str) -> int:
    """101 when the handshake succeeds (the socket is closed again at once), else the HTTP
    status the server refused it with."""
    try:
        async with websockets.connect(f"{ws_url}?ticket={ticket}", open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


__all__ = ["closed_with", "drain", "handshake_status", "next_event", "open_socket", "reopen",
           "request", "send_message", "welcomed", "recv_json"]
