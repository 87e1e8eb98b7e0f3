"""What a thief gets: a pg_dump of the test database and every key and value in Redis.
(The same as tests/test_breach.py's private helpers, here so other suites can use them.)"""

from __future__ import annotations

import subprocess

import redis
from django.conf import settings
from django.db import connection


def pg_dump() -> bytes:
    db = connection.settings_dict
    return subprocess.run(
        ["pg_dump", "-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432),
         "-U", db.get("USER") or "postgres", "--no-owner", db["NAME"]],
        check=True, capture_output=True, timeout=120).stdout


def redis_dump() -> bytes:
    client = redis.Redis.from_url(settings.REDIS_URL)
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        out.append(key)
        if kind == "string":
            out.append(client.get(key) or b"")
        elif kind == "zset":
            out += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "hash":
            for k, v in client.hgetall(key).items():
                out += [k, v]
        elif kind == "set":
            out += list(client.smembers(key))
        elif kind == "list":
            out += client.lrange(key, 0, -1)
        out.append(client.dump(key) or b"")
    client.close()
    return b"\n".join(out)
