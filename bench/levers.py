"""Before/after of three levers of the message path, measured in isolation (one process, no
server): CPU per item (``time.process_time``) and Redis round trips, each lever's old path
and new path alternating, median of ``--repeat`` runs.

    python -m bench.levers --redis redis://127.0.0.1:6379/13 [--repeat 5]

- heartbeats: N sockets' heartbeats arriving together (a process's sockets, a reconnect
  wave) — one Lua call per heartbeat (before) against one pipeline per batch (after);
- offers: an urgent round marking 500 offers — one HSET round trip each against one pipeline;
- history: opening a page of sealed messages (10 authors) — HKDF per message against the
  memoized content key.

Presence keys live under a fresh prefix and are deleted afterwards; the crypto part runs on
a throwaway SQLite database (``CURBSIDE_VAR_DIR`` is set to a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid


def _median_runs(fn, repeat: int) -> dict:
    runs = [fn() for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _client(url: str):
    """The production client policy (core.redis: a blocking pool of REDIS_POOL_SIZE)."""
    from django.conf import settings

    from core import redis as redis_clients

    return redis_clients.async_client(url, max_connections=settings.REDIS_POOL_SIZE,
                                      decode_responses=True)


async def _heartbeats(url: str, n: int) -> dict:
    from presence.store import PresenceProfile
    from presence.store_redis import IDLE_AWAY_S, RedisPresenceStore

    client = _client(url)
    prefix = f"bench-levers-{uuid.uuid4().hex}"
    store = RedisPresenceStore(client, prefix=prefix)
    profile = PresenceProfile(specialties=["cardiology"], languages=["en"], country="ES")
    now = time.time()
    for i in range(n):
        await store.connect(user_id=f"u{i}", conn_id="c", process_id="p", profile=profile,
                            now=now)
    out = {}
    try:
        # The first pass warms the pool (the old path opens up to REDIS_POOL_SIZE connections
        # for a burst) and loads the scripts; the second is measured.
        for label in ("before", "after", "before", "after"):
            now += 25
            t0, w0 = time.process_time(), time.perf_counter()
            if label == "before":  # the old path: one script call (one round trip) each
                async def one(i: int, at: float = now) -> None:
                    await store._scripts["heartbeat"](keys=[], args=[
                        prefix, repr(at), repr(IDLE_AWAY_S), f"u{i}", "c", repr(at + 75), "0"])
                await asyncio.gather(*(one(i) for i in range(n)))
                trips = n
            else:
                trips0 = store.heartbeat_round_trips
                await asyncio.gather(*(store.heartbeat(user_id=f"u{i}", conn_id="c", now=now)
                                       for i in range(n)))
                trips = store.heartbeat_round_trips - trips0
            out[f"{label}_cpu_us_each"] = (time.process_time() - t0) * 1e6 / n
            out[f"{label}_wall_ms"] = (time.perf_counter() - w0) * 1000
            out[f"{label}_round_trips"] = trips
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return out


async def _offers(url: str, n: int) -> dict:
    from presence.store_redis import RedisPresenceStore

    client = _client(url)
    prefix = f"bench-levers-{uuid.uuid4().hex}"
    store = RedisPresenceStore(client, prefix=prefix)
    users = [f"s{i}" for i in range(n)]
    out = {}
    try:
        for label in ("before", "after"):
            t0, w0 = time.process_time(), time.perf_counter()
            if label == "before":
                for u in users:
                    await store.mark_offered(user_id=u, now=time.time())
            else:
                await store.mark_offered_many(user_ids=users, now=time.time())
            out[f"{label}_cpu_us_each"] = (time.process_time() - t0) * 1e6 / n
            out[f"{label}_wall_ms"] = (time.perf_counter() - w0) * 1000
            out[f"{label}_round_trips"] = n if label == "before" else 1
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return out


def _history(n: int, authors: int = 10) -> dict:
    from django.core.management import call_command

    from crypto import envelope
    from crypto.keycache import KeyCache

    call_command("migrate", verbosity=0)
    room = "lounge-bench"
    sealed = [(f"m{i}", i, f"{i % authors:032x}",
               envelope.message_seal(room_id=room, message_id=f"m{i}", seq=i,
                                     author=f"{i % authors:032x}", body=b"x" * 200))
              for i in range(1, n + 1)]
    memo = envelope._content_keys
    out = {}
    for label in ("before", "after"):
        # before: a cache that keeps nothing — every open derives its key, as it used to.
        envelope._content_keys = KeyCache(max_entries=0) if label == "before" else memo
        envelope._content_keys.clear()
        t0 = time.process_time()
        for mid, seq, author, s in sealed:
            envelope.message_open(room_id=room, message_id=mid, seq=seq, author=author, sealed=s)
        out[f"{label}_cpu_us_each"] = (time.process_time() - t0) * 1e6 / n
    envelope._content_keys = memo
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.levers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sockets", type=int, default=5000, help="heartbeats arriving together")
    p.add_argument("--offers", type=int, default=500)
    p.add_argument("--messages", type=int, default=2000, help="messages opened per page run")
    args = p.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    os.environ["CURBSIDE_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-levers-")
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    result = {
        "load1": float(open("/proc/loadavg").read().split()[0]),
        "heartbeats": _median_runs(lambda: asyncio.run(_heartbeats(args.redis, args.sockets)),
                                   args.repeat),
        "offers": _median_runs(lambda: asyncio.run(_offers(args.redis, args.offers)),
                               args.repeat),
        "history": _median_runs(lambda: _history(args.messages), args.repeat),
    }
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
