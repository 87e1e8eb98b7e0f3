"""Fixtures for the presence tests: a fake clock and a Redis of our own.

The Redis fixtures FAIL (never skip) when Redis is unreachable: the Redis implementation is
half of every contract suite here, and a run without it must not pass quietly. They use
``REDIS_URL`` when set, else the local default, and a key prefix unique to the run, deleted
afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from presence.store import MemoryPresenceStore, PresenceStore
from presence.store_redis import RedisPresenceStore
from tests.support.redis import purge, redis_url


@pytest.fixture
def prefix() -> str:
    return f"test-presence-{uuid.uuid4().hex}"


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url(), decode_responses=True)
    # Raises (the test errors) if Redis is down: no skip.
    await client.ping()
    yield client
    await purge(client, prefix)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[PresenceStore]:
    if request.param == "memory":
        yield MemoryPresenceStore()
        return
    client = Redis.from_url(redis_url(), decode_responses=True)
    await client.ping()
    yield RedisPresenceStore(client, prefix=prefix)
    await purge(client, prefix)
    await client.aclose()


class Clock:
    """A fake clock: tests move it; nothing sleeps."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
