"""The embedded database keeps its SQLite connection across the message path's thread hops
(settings.py: CONN_MAX_AGE=None on SQLite). Before, every ``database_sync_to_async`` call —
every batch of the group commit — opened and closed the file around itself.

Run in a fresh interpreter with the embedded configuration (no DATABASE_URL): the suite's own
process may be on PostgreSQL, whose pool is a different story (PostgreSQL is unchanged).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import asyncio, json, os
import django
django.setup()
from channels.db import database_sync_to_async
from django.db import connection, transaction

def probe(write):
    if write:
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("CREATE TABLE IF NOT EXISTS probe (n integer)")
                c.execute("INSERT INTO probe VALUES (1)")
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM probe")
        n = c.fetchone()[0]
    return id(connection.connection), n

def broken():
    with connection.cursor() as c:
        c.execute("SELECT * FROM no_such_table")

async def main():
    ids, counts = [], []
    for i in range(5):
        handle, n = await database_sync_to_async(probe)(True)
        ids.append(handle); counts.append(n)
    try:
        await database_sync_to_async(broken)()
    except Exception as exc:
        error = type(exc).__name__
    after, n = await database_sync_to_async(probe)(False)
    print(json.dumps({"ids": ids, "counts": counts, "error": error, "after": after, "n": n,
                      "engine": connection.vendor}))

asyncio.run(main())
"""


def test_one_sqlite_connection_serves_every_batch(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith("CURBSIDE_")}
    env.update({"CURBSIDE_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "settings",
                "DJANGO_DEBUG": "false"})
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["engine"] == "sqlite"
    # Five hops, five committed writes, one connection (the same handle every time).
    assert got["counts"] == [1, 2, 3, 4, 5]
    assert len(set(got["ids"])) == 1, got["ids"]
    # A failed query does not poison the kept connection: the next hop reads as before.
    assert got["error"] == "OperationalError"
    assert got["n"] == 5
