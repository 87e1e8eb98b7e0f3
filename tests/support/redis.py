"""The Redis a test may talk to directly: ``REDIS_URL`` when set, else the local default."""

from __future__ import annotations

import os

from redis.asyncio import Redis

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


async def purge(client: Redis, prefix: str) -> None:
    """Delete every key under ``prefix`` (a test's own namespace)."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
    if keys:
        await client.delete(*keys)
