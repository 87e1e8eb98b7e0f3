"""Start real daphne processes for end-to-end tests, and stop them by PID.

A server is ready when its port accepts a TCP connection (polled against a deadline, not a
fixed sleep); if it dies or never listens the test fails loudly with its log.

Every daphne started here runs with CURBSIDE_VALIDATE_FRAMES=1: it checks each frame it sends
against bus.protocol and logs an invalid one with ``INVALID_FRAME_MARK`` (gateway/consumer.py).
The suite's autouse fixture reads the new part of every running server's log after each test
(``Daphne.invalid_frames``), and ``stop`` fails on any line nobody has reported yet, so a bad
frame fails the run even when no test client read it (the browser tests read none).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# How long a fresh daphne may take to import Django and listen.
START_DEADLINE_S = 30.0
# What a server logs for a frame that breaks the protocol (gateway.consumer.INVALID_FRAME_MARK;
# not imported, so this module needs no Django).
INVALID_FRAME_MARK = "INVALID FRAME"
# The ASGI server the suite's processes run under (`manage.py serve --server`): uvicorn, the
# recommended one and the default; CURBSIDE_TEST_SERVER=daphne runs the whole suite on
# daphne (docs/benchmarks.md, "Which ASGI server"). A test's own ``--server``
# (tests/e2e/test_other_servers.py, test_slow_readers.py) comes later on the line and wins.
TEST_SERVER = os.environ.get("CURBSIDE_TEST_SERVER", "uvicorn")
# Servers started and not yet stopped, by id (their logs are checked after every test).
RUNNING: dict[int, Daphne] = {}
# The log of every server started in this session: scanned for the suite's canaries at its end
# (tests/conftest.py, ``pytest_sessionfinish``; tests/support/canaries.py).
LOG_PATHS: list[Path] = []


class InvalidFramesLogged(AssertionError):
    """A test server sent frames that break the protocol."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daphne:
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    extra_args: list[str] = field(default_factory=list)
    # How far the log has been searched for invalid frames.
    log_checked: int = 0

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1/"

    def start(self) -> Daphne:
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the child)
        self.log_checked = 0
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--server", TEST_SERVER,
             "-b", "127.0.0.1", "-p", str(self.port), *self.extra_args],
            cwd=ROOT, env={**self.env, "CURBSIDE_VALIDATE_FRAMES": "1"}, stdout=log,
            stderr=subprocess.STDOUT,
        )
        RUNNING[id(self)] = self
        if self.log_path not in LOG_PATHS:
            LOG_PATHS.append(self.log_path)
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daphne did not listen within {START_DEADLINE_S}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def invalid_frames(self) -> list[str]:
        """The invalid-frame lines logged since the last call (complete lines only)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_checked)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.log_checked += end
        return [line for line in chunk[:end].decode(errors="replace").splitlines()
                if INVALID_FRAME_MARK in line]

    def kill(self) -> None:
        """SIGKILL: the process vanishes without running any cleanup (crash test)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._forget()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        """Leave ``RUNNING``, failing if the log holds invalid frames nobody reported."""
        if RUNNING.pop(id(self), None) is None:
            return
        lines = self.invalid_frames()
        if lines:
            raise InvalidFramesLogged(f"daphne :{self.port} sent invalid frames "
                                      f"({self.log_path}):\n" + "\n".join(lines))


def invalid_frames_logged() -> list[str]:
    """New invalid-frame lines of every running test server (called after each test)."""
    return [f"daphne :{server.port}: {line}" for server in list(RUNNING.values())
            for line in server.invalid_frames()]


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a test daphne: the test database, the suite's Redis (if any),
    and the same secret key and keyring as the test process, so blind indexes agree."""
    from django.conf import settings

    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "CURBSIDE_KEYRING_FILE": settings.CURBSIDE_KEYRING_FILE,
        "CURBSIDE_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Mails kept in memory: the development console backend prints them, addresses and
        # all, into the log that the suite's canary scan reads.
        "CURBSIDE_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    })
    if settings.CURBSIDE_KEYRING:
        env["CURBSIDE_KEYRING"] = settings.CURBSIDE_KEYRING
    env.update(overrides)
    return env


def database_url_of(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database Django is connected to (the test database)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return (f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:"
            f"{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}")


def redis_overrides() -> dict[str, str]:
    """Run a test daphne on the suite's channel-layer prefix (presence derives its keys
    from it), so the test process and the server see the same presence."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return {}
    return {"CURBSIDE_REDIS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]}


# Routing tests run their own servers: a 1 s heartbeat (so a dead process's sockets vanish
# in 3 s), a fast driver, and room for ten simultaneous offers per case.
ROUTING_ENV = {
    # Presence lives three heartbeats without a ping, and the test sockets ping only when a
    # test says so: at 1 s a loaded CI machine (two cores, several daphnes) took longer than
    # 3 s to open the next socket and on-call specialists had expired before the check. 4 s
    # (12 s TTL) keeps the expiry tests short and the others independent of machine load.
    "CURBSIDE_HEARTBEAT_S": "4",
    "CURBSIDE_DRIVER_TICK_S": "0.2",
    "CURBSIDE_ROUTING_K": "10",
    "CURBSIDE_MAX_OPEN_CONSULTS": "2",
    # One poster posts fifty urgent cases in a row (the accept race): lift the hourly cap.
    "CURBSIDE_URGENT_CASES_PER_HOUR": "1000",
    "CURBSIDE_CASES_PER_HOUR": "1000",
}


def start_daphne(live_database_url: str, tmp_path_factory, **env: str) -> Daphne:
    """A started daphne on a free port, allowing its own origin, with ``env`` on top."""
    port = free_port()
    return Daphne(
        port=port,
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
                       **redis_overrides(), **env),
        log_path=tmp_path_factory.mktemp("daphne") / f"daphne-{port}.log",
    ).start()
