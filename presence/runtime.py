"""This process's presence store, built once from settings."""

from __future__ import annotations

import asyncio
import os
import socket
import weakref

from django.conf import settings

from presence.store import MemoryPresenceStore, PresenceStore, presence_store_from_url

# Names this process in presence (several daphne processes share one Redis store).
PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"

_memory: MemoryPresenceStore | None = None
# Keyed by the loop object (weakly), not id(): a new loop may reuse a dead loop's id.
_redis: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PresenceStore] = (
    weakref.WeakKeyDictionary())


def connection_ttl_s() -> float:
    """Three heartbeat intervals: the bound on how long a dead process's sockets show."""
    return 3.0 * settings.CURBSIDE_HEARTBEAT_S


def store() -> PresenceStore:
    """The presence store. In-memory: one per process. Redis: one client per event loop,
    because a redis.asyncio connection belongs to the loop that opened it."""
    global _memory
    if not settings.REDIS_URL:
        if _memory is None:
            _memory = MemoryPresenceStore(connection_ttl_s=connection_ttl_s())
        return _memory
    loop = asyncio.get_running_loop()
    if loop not in _redis:
        prefix = getattr(settings, "CURBSIDE_PRESENCE_PREFIX", "") or (
            settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] + ":presence")
        _redis[loop] = presence_store_from_url(settings.REDIS_URL, prefix=prefix,
                                               connection_ttl_s=connection_ttl_s(),
                                               max_connections=settings.REDIS_POOL_SIZE)
    return _redis[loop]


def reset() -> None:
    """Forget this process's stores (tests give each test a fresh presence namespace)."""
    global _memory
    _memory = None
    _redis.clear()
