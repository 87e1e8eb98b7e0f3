"""A small real client: HTTP over urllib (with a cookie jar) and sockets over `websockets`.

Every socket a test opens comes from here (``connect`` or ``checked_connect``; a test holds the
rest of tests/ to it) and checks every frame the server sends it, whether the test reads it
or not: ``recv`` (and so ``async for``) passes each frame through
``bus.protocol.validate_server_frame`` — a reply against the op of the request that carried
its ``ref`` — and an invalid one is recorded in ``FRAME_ERRORS`` and raised. The suite's
autouse fixture (tests/conftest.py) fails any test that left something in ``FRAME_ERRORS``.
"""

from __future__ import annotations

import asyncio
import collections
import http.cookiejar
import json
import urllib.error
import urllib.request

import websockets
from websockets.asyncio.client import ClientConnection

from bus.protocol import InvalidFrame, validate_reply, validate_server_frame
from tests.support.otp import otp_fields

# How long a test waits for one expected frame before failing (a deadline, not a sleep).
RECV_TIMEOUT_S = 10.0
# Frames the server sent that broke the protocol, since the current test began.
FRAME_ERRORS: list[str] = []


class InvalidServerFrame(AssertionError):
    """The server sent a frame that breaks the protocol (raised at receive)."""


class CheckedConnection(ClientConnection):
    """A client socket that checks every frame it receives (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # ref → ops of requests sent with it and not answered yet, oldest first.
        self.ops_by_ref: dict[str | int, collections.deque[str]] = {}

    async def send(self, message, *, text: bool | None = None) -> None:
        if isinstance(message, str | bytes):
            self._remember(message)
        await super().send(message, text=text)

    def _remember(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except (ValueError, RecursionError):  # hostile frames the tests send on purpose
            return
        if not isinstance(frame, dict):
            return
        op, ref = frame.get("op"), frame.get("ref")
        if isinstance(op, str) and isinstance(ref, str | int) and not isinstance(ref, bool):
            self.ops_by_ref.setdefault(ref, collections.deque()).append(op)

    def _answered_op(self, frame: str | bytes) -> str | None:
        try:
            raw = json.loads(frame)
        except ValueError:
            return None
        if not isinstance(raw, dict) or raw.get("op") != "reply":
            return None
        ref = raw.get("ref")
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            return None
        pending = self.ops_by_ref.get(ref)
        if not pending:
            return None
        op = pending.popleft()
        if not pending:
            del self.ops_by_ref[ref]
        return op

    async def recv(self, decode: bool | None = None):
        frame = await super().recv(decode)
        if isinstance(frame, bytes) and decode is not False:
            problem = "a binary frame (the server sends text frames only)"
        else:
            try:
                validate_server_frame(frame, op=self._answered_op(frame))
                return frame
            except InvalidFrame as exc:
                problem = str(exc)
        error = f"{problem}; frame: {frame[:2000]!r}"
        FRAME_ERRORS.append(error)
        raise InvalidServerFrame(f"the server sent an invalid frame: {error}")


def checked_connect(url: str, **kw):
    """``websockets.connect`` (awaitable, or ``async with``) for a checked socket."""
    kw.setdefault("max_size", 4 * 1024 * 1024)
    return websockets.connect(url, create_connection=CheckedConnection, **kw)


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        # Like the web client: the CSRF token the server set goes back as X-CSRFToken.
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.cookie("csrftoken") or ""}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=15) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def login(self, email: str, password: str, otp: str | None = None) -> dict:
        status, body = self.call("POST", "/api/v1/auth/login", {"email": email, "password": password})
        if status == 401 and body.get("error", {}).get("code") == "otp_required":
            # Staff sign in with a one-time code: ``otp``, or computed from their device's key
            # in the suite's database.
            code = {"otp": otp} if otp is not None else otp_fields(email)
            status, body = self.call("POST", "/api/v1/auth/login",
                                     {"email": email, "password": password, **code})
        assert status == 200, body
        return body

    def ticket(self) -> str:
        status, body = self.call("POST", "/api/v1/auth/ws-ticket", {})
        assert status == 200, body
        return body["ticket"]


async def recv_json(ws, timeout: float = RECV_TIMEOUT_S) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def request(ws, op: str, ref: str | None = None, **args) -> dict:
    """Send one request and return its reply, keeping events that arrive meanwhile on
    ``ws.events`` (a list) for the caller."""
    ref = ref or f"r{id(args)}-{op}"
    await ws.send(json.dumps({"op": op, "ref": ref, **args}))
    while True:
        frame = await recv_json(ws)
        if frame.get("op") == "reply" and frame.get("ref") == ref:
            if frame.get("ok"):  # every successful reply matches its op's schema
                validate_reply(op, json.dumps(frame))
            return frame
        ws.events = getattr(ws, "events", [])
        ws.events.append(frame)


async def connect(ws_url: str, ticket: str, **kw):
    return await checked_connect(f"{ws_url}?ticket={ticket}", **kw)
