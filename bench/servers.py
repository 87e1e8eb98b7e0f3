"""Start the servers under test (Curbside via ``manage.py serve [--server …]``, the tutorial
chat via ``python -m daphne``), optionally pinned to CPUs with ``taskset``, stop them by PID,
and read their memory and CPU from /proc — of the whole process tree: granian runs the
application in a worker process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_DEADLINE_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None
    # CPUs for ``taskset -c`` (e.g. "0"); empty: wherever the kernel puts it.
    cpus: str = ""

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the child)
        argv = ["taskset", "-c", self.cpus, *self.argv] if self.cpus else self.argv
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not listen within {START_DEADLINE_S}s:\n{self.log()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
    return out


def _rss_one(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_one(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid: int) -> int:
    """Resident memory of the process and its children."""
    return sum(_rss_one(p) for p in tree(pid))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of the process and its live children (``taskset`` execs
    the server in place, so the PID is the server's own)."""
    return sum(_cpu_one(p) for p in tree(pid))


# Curbside's servers: `manage.py serve --server <name>` (gateway/management/commands/serve.py).
CURBSIDE_SERVERS = ("daphne", "uvicorn", "uvicorn-wsproto", "granian")


def curbside(port: int, env: dict[str, str], log_path: Path, server: str = "daphne",
             cpus: str = "") -> Server:
    if server not in CURBSIDE_SERVERS:
        raise ValueError(f"unknown server {server!r} (one of {', '.join(CURBSIDE_SERVERS)})")
    return Server([sys.executable, "manage.py", "serve", "--server", server, "-b", "127.0.0.1",
                   "-p", str(port)], env, port, log_path, cpus=cpus)


def baseline(port: int, env: dict[str, str], log_path: Path, cpus: str = "") -> Server:
    return Server([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                   "bench.baseline.asgi:application"], env, port, log_path, cpus=cpus)
