"""Two daphne processes wired for fault injection: PostgreSQL (the suite's test database)
and a Redis server of the test's own, each reached through a ``TcpProxy`` the test can cut.

    client ──▶ daphne A ─┬─▶ pg proxy ────▶ PostgreSQL (shared server, test database)
    client ──▶ daphne B ─┘   redis proxy ─▶ redis-server (this test's own, killable)

The test process itself talks to PostgreSQL directly (to create users and count rows); it
never talks to the fleet's Redis except to restart it.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.support.faults import RedisServer, TcpProxy
from tests.support.servers import Daphne, free_port, server_env


def via_port(url: str, port: int) -> str:
    """``url`` with its host and port replaced by 127.0.0.1:``port`` (user and path kept)."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def readyz(server: Daphne) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.http + "/readyz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned) or the deadline
    passes (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")
        time.sleep(interval)


@dataclass
class Fleet:
    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    servers: list[Daphne] = field(default_factory=list)
    redis: RedisServer | None = None
    redis_proxy: TcpProxy | None = None
    pg_proxy: TcpProxy | None = None

    def start(self, count: int = 2) -> Fleet:
        self.redis = RedisServer(self.workdir / "redis").start()
        self.redis_proxy = TcpProxy(self.redis.port).start()
        pg = urlsplit(self.database_url)
        self.pg_proxy = TcpProxy(pg.port or 5432, target_host=pg.hostname or "127.0.0.1").start()
        self.servers = [self._daphne() for _ in range(count)]
        # Both import Django at once: half the wait of starting them one after the other.
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(Daphne.start, self.servers))
        return self

    def _daphne(self) -> Daphne:
        port = free_port()
        env = server_env(
            via_port(self.database_url, self.pg_proxy.port),
            REDIS_URL=via_port(self.redis.url, self.redis_proxy.port),
            CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
            CURBSIDE_REDIS_PREFIX="fleet",
            **self.env)
        return Daphne(port=port, env=env, log_path=self.workdir / f"daphne-{port}.log")

    def heal(self, *, timeout: float = 30.0) -> None:
        """Undo what a test left broken — a cut proxy, a dead Redis, a killed or stopped
        daphne — and wait until every daphne's /readyz says ready."""
        for proxy in (self.redis_proxy, self.pg_proxy):
            proxy.restore()
        if self.redis.proc is None or self.redis.proc.poll() is not None:
            self.redis.start()
        dead = [s for s in self.servers if s.proc is None or s.proc.poll() is not None]
        for server in dead:  # a log of its own: the dead one's stays for a post-mortem
            server.log_path = server.log_path.with_name(f"{server.log_path.stem}-again.log")
        if dead:
            with ThreadPoolExecutor(len(dead)) as pool:
                list(pool.map(Daphne.start, dead))
        for server in self.servers:
            wait_until(lambda s=server: readyz(s)[0] == 200, timeout=timeout,
                       what=f"daphne {server.port} ready")

    def logs(self) -> str:
        return "\n".join(f"--- {s.port} ---\n{s.log()}" for s in self.servers)

    def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()
        for proxy in (self.redis_proxy, self.pg_proxy):
            if proxy is not None:
                proxy.close()
        if self.redis is not None:
            self.redis.stop()
