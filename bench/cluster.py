"""One system under test: an app (Curbside or the tutorial baseline) on a topology
(embedded, Redis with one or two daphne processes), plus the worker processes that load it.

Curbside runs on its own bench state (``<root>/embedded`` with SQLite, ``<root>/pg`` with the
bench PostgreSQL database): fixtures and sessions are created once per state and reused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import psycopg.sql

from bench import fixtures, servers, worker

# (daphne processes, Redis channel layer?)
TOPOLOGIES = {"embedded": (1, False), "redis-1": (1, True), "redis-2": (2, True)}
# The bench lifts the per-user message bucket (default 5/s, burst 20): many bench sockets
# share one user. docs/benchmarks.md says so.
RATE_LIFT = "1000000"


@dataclass
class Options:
    root: Path
    database_url: str = "postgres://postgres@127.0.0.1:5432/curbside_bench"
    redis_curbside: str = "redis://127.0.0.1:6379/11"
    redis_baseline: str = "redis://127.0.0.1:6379/12"
    workers: int = 2
    duration: float = 10.0
    users: int = fixtures.USERS
    case_rooms: int = fixtures.CASE_ROOMS
    open_concurrency: int = 64
    # Seconds of py-spy sampling of the first Curbside server during each closed-loop phase.
    profile_s: float = 0.0
    # CPU lists for ``taskset -c`` (servers) and ``sched_setaffinity`` (load generator);
    # empty: not pinned.
    server_cpus: str = ""
    loadgen_cpus: str = ""
    _fixtures: dict = field(default_factory=dict)
    _cookies: dict = field(default_factory=dict)


# Kept from the caller's environment: the test suite's smoke run has its servers check every
# frame they send (gateway/consumer.py); a real bench run leaves it unset.
PASSED_THROUGH = ("CURBSIDE_VALIDATE_FRAMES",)


def _clean_env() -> dict[str, str]:
    """The caller's environment without anything that would point a server elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if k in PASSED_THROUGH or (not k.startswith(("CURBSIDE_", "DJANGO_", "BASELINE_"))
                                      and k not in ("DATABASE_URL", "REDIS_URL"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def curbside_env(opts: Options, topology: str) -> tuple[dict[str, str], Path]:
    redis = TOPOLOGIES[topology][1]
    state = opts.root / ("pg" if redis else "embedded")
    env = _clean_env()
    env.update({"CURBSIDE_VAR_DIR": str(state), "CURBSIDE_LOG_LEVEL": "WARNING",
                "CURBSIDE_MESSAGES_PER_S": RATE_LIFT, "CURBSIDE_MESSAGE_BURST": RATE_LIFT,
                # The alert scenario posts an urgent case every round from one poster.
                "CURBSIDE_CASES_PER_HOUR": RATE_LIFT, "CURBSIDE_URGENT_CASES_PER_HOUR": RATE_LIFT,
                "DJANGO_SETTINGS_MODULE": "settings",
                # Production-like: development's DEBUG keeps every SQL query in memory.
                "DJANGO_DEBUG": "false"})
    if redis:
        env.update({"DATABASE_URL": opts.database_url, "REDIS_URL": opts.redis_curbside})
    return env, state


def baseline_env(opts: Options, topology: str) -> dict[str, str]:
    env = _clean_env()
    env["DJANGO_SETTINGS_MODULE"] = "bench.baseline.settings"
    if TOPOLOGIES[topology][1]:
        env["BASELINE_REDIS_URL"] = opts.redis_baseline
    return env


def ensure_database(url: str) -> None:
    """Create the bench's PostgreSQL database when it does not exist yet (a fresh machine:
    without it every Redis topology failed at its first fixture load)."""
    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        print(f"... created database {name}", flush=True)


def ensure_fixtures(opts: Options, topology: str) -> dict:
    env, state = curbside_env(opts, topology)
    if TOPOLOGIES[topology][1] and state not in opts._fixtures:
        ensure_database(opts.database_url)
    if state not in opts._fixtures:
        out = state / "fixtures.json"
        subprocess.run([sys.executable, "-m", "bench.fixtures", str(out), str(opts.case_rooms),
                        str(opts.users)], cwd=servers.ROOT, env=env, check=True, timeout=1800)
        opts._fixtures[state] = json.loads(out.read_text())
    return opts._fixtures[state]


def _login(port: int, email: str, password: str) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/login",
                                 data=json.dumps({"email": email, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        # The session and the CSRF token (a cookie-authenticated POST must send it back).
        cookies = {h.split("=", 1)[0]: h.split(";", 1)[0]
                   for h in resp.headers.get_all("Set-Cookie") or []}
    if "sessionid" not in cookies:
        raise RuntimeError("login returned no session cookie")
    return "; ".join(cookies[name] for name in ("sessionid", "csrftoken") if name in cookies)


def _flush(url: str) -> None:
    """Empty this bench's own Redis db: no stale groups of earlier servers."""
    import redis

    redis.Redis.from_url(url).flushdb()


def split_app(label: str) -> tuple[str, str]:
    """``curbside`` / ``curbside@uvicorn`` / ``baseline`` → (app, server)."""
    app, _, server = label.partition("@")
    if app not in ("curbside", "baseline") or (server and app == "baseline"):
        raise ValueError(f"unknown app {label!r}: curbside[@server] or baseline")
    return app, server or "daphne"


def _cpu_set(cpus: str) -> set[int]:
    out: set[int] = set()
    for part in cpus.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


class Cluster:
    def __init__(self, opts: Options, label: str, topology: str) -> None:
        app, server = split_app(label)
        self.opts, self.app, self.server, self.topology = opts, app, server, topology
        self.label = label
        n, redis = TOPOLOGIES[topology]
        self.servers: list[servers.Server] = []
        self.conns: list = []
        self.procs: list = []
        self.fixtures: dict = {}
        cookies: list[str] = []
        logs = opts.root / "logs"
        if app == "curbside":
            self.fixtures = ensure_fixtures(opts, topology)
            env, state = curbside_env(opts, topology)
            if redis:
                _flush(opts.redis_curbside)
            for _ in range(n):
                port = servers.free_port()
                self.servers.append(servers.curbside(port, env, logs / f"curbside-{port}.log",
                                                     server, opts.server_cpus))
        else:
            env = baseline_env(opts, topology)
            if redis:
                _flush(opts.redis_baseline)
            for _ in range(n):
                port = servers.free_port()
                self.servers.append(servers.baseline(port, env, logs / f"baseline-{port}.log",
                                                     opts.server_cpus))
        try:
            for s in self.servers:
                s.start()
            if app == "curbside":
                key = (str(curbside_env(opts, topology)[1]))
                if key not in opts._cookies:
                    opts._cookies[key] = [_login(self.ports[0], u["email"], u["password"])
                                          for u in self.fixtures["users"]]
                cookies = opts._cookies[key]
            ctx = multiprocessing.get_context("spawn")
            run = f"r{int(time.time() * 1000) % 10**9}"
            for _ in range(opts.workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=worker.main, args=(child, {
                    "app": app, "run": run, "cookies": cookies}), daemon=True)
                proc.start()
                if opts.loadgen_cpus:
                    os.sched_setaffinity(proc.pid, _cpu_set(opts.loadgen_cpus))
                self.conns.append(parent)
                self.procs.append(proc)
        except BaseException:
            self.stop()
            raise

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop", {}))
                conn.poll(10) and conn.recv()
            except (OSError, EOFError):
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        for s in self.servers:
            s.stop()

    # --- commands to all workers, in parallel ---------------------------------------------------
    def call(self, cmd: str, args: list[dict] | dict, timeout: float = 900) -> list:
        per = args if isinstance(args, list) else [args] * len(self.conns)
        for conn, a in zip(self.conns, per, strict=True):
            conn.send((cmd, a))
        results = []
        for conn in self.conns:
            if not conn.poll(timeout):
                raise RuntimeError(f"worker did not answer '{cmd}' within {timeout}s")
            result = conn.recv()
            if isinstance(result, dict) and "error" in result:
                raise RuntimeError(f"worker failed '{cmd}': {result['error']}")
            results.append(result)
        return results

    def open(self, specs: list[dict]) -> dict:
        """Open the sockets of ``specs`` spread over the workers; wall time included."""
        shares = [specs[i::len(self.conns)] for i in range(len(self.conns))]
        start = time.monotonic()
        results = self.call("open", [{"specs": s, "concurrency": self.opts.open_concurrency}
                                     for s in shares])
        return {"elapsed_s": time.monotonic() - start,
                "opened": sum(r["opened"] for r in results),
                "failed": sum(r["failed"] for r in results),
                "retries": sum(r.get("retries", 0) for r in results),
                "errors": [e for r in results for e in r["errors"]][:5],
                "per_socket_s": [t for r in results for t in r["per_socket_s"]]}

    def close(self) -> None:
        self.call("close", {})

    def rss(self) -> int:
        return sum(servers.rss_bytes(s.pid) for s in self.servers)

    def cpu(self) -> float:
        return sum(servers.cpu_seconds(s.pid) for s in self.servers)

    def worker_cpu(self) -> float:
        return sum(servers.cpu_seconds(p.pid) for p in self.procs)
