"""Fault injection for end-to-end tests: a Redis server of the test's own, and a TCP proxy
the test can cut to simulate an outage of whatever sits behind it (PostgreSQL, Redis).

Nothing here touches the shared PostgreSQL or Redis of the machine: the test's Redis is a
``redis-server`` child process on a free port (killed by its PID), and an "outage" of the
shared PostgreSQL is this process's proxy refusing and dropping connections. Everything
listens on 127.0.0.1 only, and every wait is a poll against a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

# How long a fresh redis-server may take to answer PING.
REDIS_START_DEADLINE_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis on 127.0.0.1:``port`` answers PING (raw RESP: no client state)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` child process: no persistence, 127.0.0.1 only, stopped by PID."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed")
        self.port = port or _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REDIS_START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
            if redis_ping(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {REDIS_START_DEADLINE_S}s")

    def stop(self) -> None:
        """SIGKILL by PID: everything it held is gone (no persistence)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart_empty(self) -> None:
        """Kill it and start a new, empty one on the same port."""
        self.stop()
        self.start()

    def command(self, *args: str) -> bytes:
        """One command in raw RESP (for FLUSHALL, CLIENT KILL … on this test's own server)."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            return s.recv(65536)


class TcpProxy:
    """127.0.0.1:<port> → 127.0.0.1:<target_port>, on an event loop in a thread of its own.

    ``cut()`` simulates an outage: every open connection is reset and new ones are accepted
    and reset at once (clients fail fast instead of hanging), until ``restore()``.
    ``drop()`` resets the open connections but keeps accepting (a blip).
    """

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cut_now = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy",
                                        daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            writer.transport.abort()
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        if self.cut_now or writer.transport.is_closing():  # cut while connecting upstream
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()  # a clean end on one side ends the other

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def _reset_all(self) -> int:
        writers = list(self._writers)
        for w in writers:
            w.transport.abort()  # RST: the peers see the connection reset at once
        return len(writers) // 2

    def cut(self) -> int:
        """Start an outage: reset every connection, refuse new ones. Returns how many
        connections were open."""
        self.cut_now = True
        return self._call(self._reset_all())

    def drop(self) -> int:
        """Reset every open connection; new ones are served (a connection blip)."""
        return self._call(self._reset_all())

    def restore(self) -> None:
        """End the outage: new connections reach the target again."""
        self.cut_now = False

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self.cut_now = True
        with contextlib.suppress(Exception):
            self._call(self._reset_all())
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                self._call(self._server.wait_closed(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
