"""What the load generator says on the wire: a keep-alive HTTP client for tickets, and the
two protocols under test (Curbside's /ws/v1/ and the tutorial chat's /ws/chat/<room>/).

Message bodies carry ``<run>|<sender>|<n>|<send time>`` (numbers in letters, see ``body_of``)
so every receiver can measure send→receipt latency (``time.monotonic`` is one clock for all
processes of a Linux machine) and detect lost and duplicated deliveries per sender.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from websockets.asyncio.client import connect

# Far beyond any room's last seq: a join that asks for no history page (the reply's
# room.last_seq still tells the client where the room is).
NO_HISTORY = 2**62
# A sender number and its message number fit one int key: sender * KEY_SPAN + n.
KEY_SPAN = 1_000_000


# Numbers are written in letters (base 26, "a" = 0): the PHI guard reads every message body, and
# a clock value in digits ("942.195372", "612345678") can look like a phone number, which made
# the server refuse the bench's own messages (issue 17). With no digit in it, a body gives the
# guard's number, label and date patterns nothing to start from.
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_RUN_DIGITS = str.maketrans("0123456789", "abcdefghij")


def _to_letters(value: int) -> str:
    out = ""
    while True:
        value, r = divmod(value, 26)
        out = _LETTERS[r] + out
        if not value:
            return out


def _from_letters(text: str) -> int:
    value = 0
    for c in text:
        value = value * 26 + _LETTERS.index(c)
    return value


def body_of(run: str, sender: int, n: int, ts: float) -> str:
    """``<run>|<sender>|<n>|<send time in µs>``, every number in letters."""
    return "|".join((run.translate(_RUN_DIGITS), _to_letters(sender), _to_letters(n),
                     _to_letters(round(ts * 1e6))))


def parse_body(run: str, body: str) -> tuple[int, float] | None:
    """(key, send time) of a bench body of this run, else None (another run's message)."""
    parts = body.split("|")
    if len(parts) != 4 or parts[0] != run.translate(_RUN_DIGITS):
        return None
    try:
        sender, n, ts = (_from_letters(p) for p in parts[1:])
    except ValueError:
        return None
    return sender * KEY_SPAN + n, ts / 1e6


def csrf_of(cookie: str) -> str:
    """The CSRF token in a Cookie header value (Curbside wants it back as X-CSRFToken)."""
    for part in cookie.split("; "):
        if part.startswith("csrftoken="):
            return part[len("csrftoken="):]
    return ""


class HttpConn:
    """One keep-alive HTTP/1.1 connection (POST JSON, read one response)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict, cookie: str = "") -> tuple[int, dict]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                + (f"Cookie: {cookie}\r\n" if cookie else "")
                + (f"X-CSRFToken: {csrf}\r\n" if (csrf := csrf_of(cookie)) else "") + "\r\n")
        self.writer.write(head.encode() + data)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            payload = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                payload += await self.reader.readexactly(size + 2)
                payload = payload[:-2]
            await self.reader.readuntil(b"\r\n")
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
        return status, json.loads(payload or b"{}")


class HttpPool:
    """A few keep-alive connections to one server, shared by the coroutines of a worker."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.free: asyncio.Queue[HttpConn] = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(HttpConn(host, port))

    async def post(self, path: str, body: dict, cookie: str = "") -> tuple[int, dict]:
        conn = await self.free.get()
        try:
            for attempt in range(2):
                try:
                    return await conn.post(path, body, cookie)
                except (asyncio.IncompleteReadError, ConnectionError):
                    # The server closed an idle keep-alive connection: reconnect once.
                    if conn.writer is not None:
                        conn.writer.close()
                    conn.writer = None
                    if attempt:
                        raise
            raise AssertionError("unreachable")
        finally:
            self.free.put_nowait(conn)


async def ws_open(url: str, origin: str | None = None):
    headers = {"Origin": origin} if origin else None
    return await connect(url, additional_headers=headers, compression=None, ping_interval=None,
                         open_timeout=120, close_timeout=2, max_size=4 * 1024 * 1024,
                         max_queue=None)


def baseline_room(room: str) -> str:
    """The tutorial routes only ``\\w+`` room names."""
    return re.sub(r"\W", "_", room)


async def curbside_connect(port: int, pool: HttpPool, cookie: str):
    """Ticket over HTTP (the session cookie of a logged-in user), then the socket; returns
    the socket once ``session.welcome`` arrived."""
    status, data = await pool.post("/api/v1/auth/ws-ticket", {}, cookie)
    if status != 200:
        raise RuntimeError(f"ticket: HTTP {status} {data}")
    ws = await ws_open(f"ws://127.0.0.1:{port}/ws/v1/?ticket={data['ticket']}")
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 60))
    if welcome.get("type") != "session.welcome":
        raise RuntimeError(f"expected session.welcome, got {welcome}")
    return ws


async def curbside_request(ws, op: str, ref: str, timeout: float = 60, **args) -> dict:
    """One request before the reader task runs: send, then read until its reply."""
    await ws.send(json.dumps({"op": op, "ref": ref, **args}))
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if frame.get("op") == "reply" and frame.get("ref") == ref:
            return frame


async def baseline_connect(port: int, room: str):
    return await ws_open(f"ws://127.0.0.1:{port}/ws/chat/{baseline_room(room)}/",
                         origin=f"http://127.0.0.1:{port}")
