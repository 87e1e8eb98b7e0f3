"""One load-generator process: owns a share of the sockets and obeys the coordinator.

The coordinator (bench.scenarios) sends commands over a pipe — ``open``, ``load``, ``drain``,
``close``, ``post``, ``resume`` — and gets one picklable result per command. Several workers
run side by side because one Python process cannot drive enough sockets.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from array import array
from dataclasses import dataclass, field

from bench import wire

REPLY_TIMEOUT_S = 30.0
# Curbside's default heartbeat (settings.CURBSIDE_HEARTBEAT_S, sent in session.welcome).
HEARTBEAT_S = 25.0
PING = json.dumps({"op": "ping", "ref": "hb"})
# A socket whose ticket or handshake failed is tried again (counted in "retries").
OPEN_ATTEMPTS = 3


@dataclass
class Sock:
    spec: dict
    ws: object = None
    seen: set = field(default_factory=set)
    pending: dict = field(default_factory=dict)  # ref → future of the reply (or own echo)
    last_seq: int = 0
    n: int = 0  # messages this socket has sent, over all phases (keys stay unique)
    reader: asyncio.Task | None = None


class Worker:
    def __init__(self, cfg: dict) -> None:
        self.app: str = cfg["app"]
        self.run: str = cfg["run"]
        self.cookies: list[str] = cfg.get("cookies", [])
        self.socks: list[Sock] = []
        self.pools: dict[int, wire.HttpPool] = {}
        self.open_retries = 0
        self.pings: list[tuple[float, Sock]] = []  # (next ping due, socket), curbside only
        self.pinger: asyncio.Task | None = None
        self.reset_counters()

    def reset_counters(self) -> None:
        self.got: dict[int, int] = {}  # message key → distinct receivers in this worker
        self.dups = 0
        self.lat = array("d")
        self.lat_recv = array("d")  # deliveries to sockets that do not send (no own op in flight)
        self.in_window = 0
        self.window_end = float("inf")
        self.last_delivery = 0.0
        self.acked: dict[str, list[int]] = {}  # room → keys the server accepted
        self.failed: dict[str, int] = {}
        self.rate_limited = 0
        self.lag_max = 0.0

    def pool(self, port: int) -> wire.HttpPool:
        if port not in self.pools:
            self.pools[port] = wire.HttpPool("127.0.0.1", port, size=16)
        return self.pools[port]

    # --- receiving ---------------------------------------------------------------------------
    def on_body(self, sock: Sock, body: str, now: float) -> None:
        parsed = wire.parse_body(self.run, body)
        if parsed is None:
            return
        key, ts = parsed
        if key in sock.seen:
            self.dups += 1
            return
        sock.seen.add(key)
        self.got[key] = self.got.get(key, 0) + 1
        self.lat.append(now - ts)
        if not sock.spec.get("send"):
            self.lat_recv.append(now - ts)
        self.last_delivery = now
        if now <= self.window_end:
            self.in_window += 1
        echo = sock.pending.pop(("echo", key), None)
        if echo is not None and not echo.done():
            echo.set_result(None)

    async def read_curbside(self, sock: Sock) -> None:
        async for raw in sock.ws:
            now = time.monotonic()
            frame = json.loads(raw)
            op = frame.get("op")
            if op == "event":
                if frame.get("type") == "message.new":
                    self.on_body(sock, frame["data"]["body"], now)
            elif op == "reply":
                fut = sock.pending.pop(frame.get("ref"), None)
                if fut is not None and not fut.done():
                    fut.set_result(frame)

    async def read_baseline(self, sock: Sock) -> None:
        async for raw in sock.ws:
            self.on_body(sock, json.loads(raw)["message"], time.monotonic())

    def start_reader(self, sock: Sock) -> None:
        read = self.read_curbside if self.app == "curbside" else self.read_baseline
        loop = asyncio.get_running_loop()
        sock.reader = loop.create_task(self._guard(read(sock)))
        if self.app == "curbside":
            # Like a real client, ping every heartbeat: presence stays fresh through long
            # phases and its writes are part of the measured load. One task per worker walks
            # the sockets in due order; a socket's first ping falls at a random point.
            self.pings.append((time.monotonic() + random.uniform(0.1, 1.0) * HEARTBEAT_S, sock))
            if self.pinger is None or self.pinger.done():
                self.pinger = loop.create_task(self._guard(self.ping_loop()))

    async def ping_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            self.pings.sort(key=lambda p: p[0])
            now, due = time.monotonic(), 0
            while due < len(self.pings) and self.pings[due][0] <= now:
                due += 1
            batch, self.pings = self.pings[:due], self.pings[due:]
            for _, sock in batch:
                if sock.reader is None or sock.reader.done():
                    continue  # closed: drop it
                try:
                    await sock.ws.send(PING)
                except Exception:
                    continue
                self.pings.append((now + HEARTBEAT_S, sock))

    async def _guard(self, coro) -> None:
        try:
            await coro
        except Exception:  # a closed socket ends its reader; loss shows in the counts
            pass

    # --- opening -------------------------------------------------------------------------------
    async def open_one(self, spec: dict) -> Sock:
        sock = Sock(spec=spec)
        room = spec.get("room")
        if self.app == "curbside":
            cookie = self.cookies[spec["user"] % len(self.cookies)]
            sock.ws = await wire.curbside_connect(spec["port"], self.pool(spec["port"]), cookie)
            if room:
                reply = await wire.curbside_request(sock.ws, "room.join", "j", room=room,
                                                    since=spec.get("since", wire.NO_HISTORY))
                if not reply.get("ok"):
                    raise RuntimeError(f"join {room}: {reply}")
                self.check_resume(sock, reply, spec)
        else:
            sock.ws = await wire.baseline_connect(spec["port"], room or "idle")
        self.start_reader(sock)
        return sock

    def check_resume(self, sock: Sock, reply: dict, spec: dict) -> None:
        data = reply["data"]
        msgs = data.get("messages", [])
        sock.last_seq = data["room"]["last_seq"]
        if "expect_from" in spec:  # a resume: exactly the missed seqs, in order
            seqs = [m["seq"] for m in msgs]
            want = list(range(spec["expect_from"], spec["expect_from"] + spec["expect_n"]))
            self.resume_got = getattr(self, "resume_got", 0) + len(set(seqs) & set(want))
            self.dups += len(seqs) - len(set(seqs))
            self.resume_bad_order = getattr(self, "resume_bad_order", 0) + (seqs != sorted(seqs))

    async def cmd_open(self, specs: list[dict], concurrency: int = 64) -> dict:
        sem = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        times = array("d")

        async def one(spec: dict) -> None:
            async with sem:
                t = time.monotonic()
                for attempt in range(OPEN_ATTEMPTS):
                    try:
                        self.socks.append(await self.open_one(spec))
                        times.append(time.monotonic() - t)
                        return
                    except Exception as exc:
                        if attempt == OPEN_ATTEMPTS - 1:
                            errors.append(f"{type(exc).__name__}: {exc}"[:200])
                        else:
                            self.open_retries += 1

        start = time.monotonic()
        await asyncio.gather(*(one(s) for s in specs))
        return {"opened": len(specs) - len(errors), "failed": len(errors), "errors": errors[:5],
                "retries": self.open_retries,
                "elapsed_s": time.monotonic() - start, "per_socket_s": list(times)}

    async def cmd_close(self) -> dict:
        for s in self.socks:
            if s.reader:
                s.reader.cancel()
        await asyncio.gather(*(s.ws.close() for s in self.socks), return_exceptions=True)
        closed = len(self.socks)
        self.socks = []
        return {"closed": closed}

    # --- sending -------------------------------------------------------------------------------
    async def send_one(self, sock: Sock, n: int, ts: float, wait: bool) -> None:
        sid, room = sock.spec["i"], sock.spec["room"]
        key = sid * wire.KEY_SPAN + n
        body = wire.body_of(self.run, sid, n, ts)
        loop = asyncio.get_running_loop()
        if self.app == "baseline":
            echo = loop.create_future() if wait else None
            if echo is not None:
                sock.pending[("echo", key)] = echo
            await sock.ws.send(json.dumps({"message": body}))
            self.acked.setdefault(room, []).append(key)  # no acks in the tutorial: sent = written
            if echo is not None:
                try:
                    await asyncio.wait_for(echo, REPLY_TIMEOUT_S)
                except TimeoutError:
                    self.failed["no_echo"] = self.failed.get("no_echo", 0) + 1
            return
        ref = f"s{n}"
        frame = json.dumps({"op": "message.send", "ref": ref, "room": room, "body": body,
                            "client_id": f"{self.run}-{sid}-{n}"})
        while True:
            fut = loop.create_future()
            sock.pending[ref] = fut
            await sock.ws.send(frame)
            if not wait:
                fut.add_done_callback(lambda f: self.on_reply(f, room, key))
                return
            try:
                reply = await asyncio.wait_for(fut, REPLY_TIMEOUT_S)
            except TimeoutError:
                self.failed["timeout"] = self.failed.get("timeout", 0) + 1
                return
            retry = self.on_reply_frame(reply, room, key)
            if retry is None:
                return
            await asyncio.sleep(retry)

    def on_reply(self, fut: asyncio.Future, room: str, key: int) -> None:
        retry = self.on_reply_frame(fut.result(), room, key)
        if retry is not None:  # open loop: a refused message is not retried, only counted
            self.failed["rate_limited"] = self.failed.get("rate_limited", 0) + 1

    def on_reply_frame(self, reply: dict, room: str, key: int) -> float | None:
        """Record the reply; the seconds to wait before a retry when rate limited."""
        if reply.get("ok"):
            self.acked.setdefault(room, []).append(key)
            return None
        code = reply["error"]["code"]
        if code == "rate_limited":
            self.rate_limited += 1
            return float(reply["error"].get("details", {}).get("retry_after_s", 0.05))
        self.failed[code] = self.failed.get(code, 0) + 1
        return None

    async def sender_closed(self, sock: Sock, end: float, count: int | None = None) -> None:
        n = 0
        while time.monotonic() < end and (count is None or n < count):
            n += 1
            sock.n += 1
            await self.send_one(sock, sock.n, time.monotonic(), wait=True)

    async def sender_rate(self, sock: Sock, rate: float, start: float, end: float) -> None:
        t = start + random.random() / rate  # random phase: senders do not fire in lockstep
        while t < end:
            delay = t - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.lag_max = max(self.lag_max, -delay)
            sock.n += 1
            # The scheduled time, not the actual one: a generator that falls behind shows
            # up as latency instead of hiding it (coordinated omission).
            await self.send_one(sock, sock.n, t, wait=False)
            t += 1.0 / rate

    async def cmd_load(self, start: float, duration: float, rate: float | None,
                       count: int | None = None) -> dict:
        self.reset_counters()
        end = start + duration
        self.window_end = end
        senders = [s for s in self.socks if s.spec.get("send")]
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if rate is None:
            await asyncio.gather(*(self.sender_closed(s, end, count) for s in senders))
        else:
            await asyncio.gather(*(self.sender_rate(s, rate, start, end) for s in senders))
        return {"sent": sum(len(v) for v in self.acked.values())}

    async def cmd_drain(self, quiet_s: float, max_s: float) -> dict:
        """Wait until nothing arrived for ``quiet_s`` (or ``max_s`` passed), then report."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            pending = any(s.pending for s in self.socks)
            if not pending and time.monotonic() - self.last_delivery >= quiet_s:
                break
            await asyncio.sleep(0.1)
        return {"got": self.got, "dups": self.dups, "lat": self.lat.tobytes(),
                "lat_recv": self.lat_recv.tobytes(),
                "in_window": self.in_window, "acked": self.acked, "failed": self.failed,
                "rate_limited": self.rate_limited, "lag_max": self.lag_max,
                "resume_got": getattr(self, "resume_got", 0),
                "resume_bad_order": getattr(self, "resume_bad_order", 0)}

    async def cmd_last_seqs(self) -> list[tuple[int, int]]:
        return [(s.spec["i"], s.last_seq) for s in self.socks]


def main(conn, cfg: dict) -> None:
    """Process entry: run commands from the pipe until ``stop``."""

    async def serve() -> None:
        worker = Worker(cfg)
        loop = asyncio.get_running_loop()
        while True:
            cmd, args = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                conn.send(None)
                return
            try:
                result = await getattr(worker, f"cmd_{cmd}")(**args)
            except Exception as exc:
                result = {"error": f"{type(exc).__name__}: {exc}"}
            conn.send(result)

    asyncio.run(serve())
