"""Canaries: unique strings planted through the real API and socket, then searched for in
everything an attacker could take — a ``pg_dump`` of the database, every Redis key and value,
the server's log. A canary found in clear is a leak.

Used by tests/test_breach.py (services, dumps) and tests/e2e/test_canaries.py (the API and
socket of a live daphne, dumps and its log).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from physicians.licences import npi_check_digit

# Redis types read value by value (DUMP alone may compress a value: both are scanned).
_READERS = {
    "string": lambda c, k: [c.get(k) or b""],
    "list": lambda c, k: c.lrange(k, 0, -1),
    "set": lambda c, k: list(c.smembers(k)),
    "zset": lambda c, k: [m for m, _ in c.zrange(k, 0, -1, withscores=True)],
    "hash": lambda c, k: [x for kv in c.hgetall(k).items() for x in kv],
    "stream": lambda c, k: [x for _, fields in c.xrange(k) for kv in fields.items() for x in kv],
}


def npi() -> str:
    """A random US NPI with a valid check digit: ten digits, unlikely anywhere by chance."""
    first = "1" + "".join(secrets.choice("0123456789") for _ in range(8))
    return first + str(npi_check_digit(first))


@dataclass
class Canaries:
    """Planted strings by what they are ("body", "reason" …), each unique to this run."""

    planted: dict[str, str] = field(default_factory=dict)

    def new(self, kind: str, *, prefix: str = "cnry") -> str:
        """A fresh canary: letters and digits only, so no encoding changes its spelling."""
        value = f"{prefix}{kind.replace('_', '')}{secrets.token_hex(6)}"
        return self.add(kind, value)

    def add(self, kind: str, value: str) -> str:
        assert kind not in self.planted, kind
        self.planted[kind] = value
        return value

    def found_in(self, blob: bytes) -> list[str]:
        """The kinds whose canary ``blob`` holds in clear (any letter case), also as the hex
        digits ``pg_dump`` writes a ``bytea`` value in (``\\x636e7279…``): plaintext stored
        in a binary column is plaintext too."""
        lowered = blob.lower()
        return [kind for kind, value in self.planted.items()
                if value.encode() in blob or value.lower().encode() in lowered
                or value.encode().hex().encode() in lowered
                or value.lower().encode().hex().encode() in lowered]


def pg_dump() -> bytes:
    """A plain-SQL dump of the database the suite runs on, as a thief would take it."""
    db = connection.settings_dict
    return subprocess.run(
        ["pg_dump", "-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432),
         "-U", db.get("USER") or "postgres", "--no-owner", db["NAME"]],
        check=True, capture_output=True, timeout=120).stdout


def redis_dump(url: str | None = None) -> bytes:
    """Every key of the Redis database (SCAN), with every value read by type and its
    serialised form (DUMP)."""
    client = redis.Redis.from_url(url or settings.REDIS_URL)
    out = []
    try:
        for key in client.scan_iter(count=1000):
            out.append(key)
            kind = client.type(key).decode()
            reader = _READERS.get(kind)
            if reader is not None:
                out += reader(client, key)
            out.append(client.dump(key) or b"")
    finally:
        client.close()
    return b"\n".join(out)


def log_text(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


# Planted by every test that makes a physician (tests/conftest.py ``make_physician``): the
# fixture password, and the domain of the fixture e-mails. None may be in any server's log.
SUITE_CANARIES = {"fixture password": b"correct-horse-battery",
                  "fixture e-mail": b"@example.test"}


def suite_log_leaks(paths: list[Path]) -> dict[str, list[str]]:
    """Log file → the suite canaries it holds, for the logs that hold any."""
    leaks = {}
    for path in paths:
        blob = log_text(path).lower()
        found = [kind for kind, value in SUITE_CANARIES.items() if value in blob]
        if found:
            leaks[str(path)] = found
    return leaks
