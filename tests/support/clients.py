"""A small real client: HTTP over urllib (with a cookie jar) and sockets over `websockets`."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import urllib.error
import urllib.request

import websockets

from tests.support.otp import otp_fields

# How long a test waits for one expected frame before failing (a deadline, not a sleep).
RECV_TIMEOUT_S = 10.0


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
                from bus.protocol import validate_reply

                validate_reply(op, json.dumps(frame))
            return frame
        ws.events = getattr(ws, "events", [])
        ws.events.append(frame)


async def connect(ws_url: str, ticket: str, **kw):
    return await websockets.connect(f"{ws_url}?ticket={ticket}", max_size=4 * 1024 * 1024, **kw)
