"""The one place Redis clients are built (presence, spent tickets, readiness checks).

Every client gets the same pool policy: a *blocking* pool, so a burst (500 sockets setting
presence at once, a storm of handshakes) waits for a free connection instead of failing with
redis-py's "Too many connections"; and ``driver_info=None``, because redis-py 8 otherwise
reads its own package metadata from disk (importlib.metadata) for every new connection and
sends ``CLIENT SETINFO`` — 7 % of a profile under a burst of new connections
(docs/benchmarks.md). A ``redis.asyncio`` client belongs to the event loop that opened its
connections: callers keep one per loop.
"""

from __future__ import annotations

import redis
from redis.asyncio import BlockingConnectionPool, Redis

# How long a caller waits for a free pooled connection before an error.
POOL_WAIT_S = 10.0
# Readiness probes must answer quickly even when Redis does not.
PROBE_TIMEOUT_S = 1.0


def async_client(url: str, *, max_connections: int, pool_wait_s: float = POOL_WAIT_S,
                 decode_responses: bool = False) -> Redis:
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                           timeout=pool_wait_s,
                                           decode_responses=decode_responses,
                                           driver_info=None)
    return Redis(connection_pool=pool)


def ping(url: str) -> bool:
    """Whether Redis at ``url`` answers a PING within ``PROBE_TIMEOUT_S`` (a fresh
    connection each time: a probe must not share the state it is checking)."""
    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S,
                                  socket_connect_timeout=PROBE_TIMEOUT_S, driver_info=None)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
