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
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

# How long a caller waits for a free pooled connection before an error.
POOL_WAIT_S = 10.0
# Readiness probes must answer quickly even when Redis does not.
PROBE_TIMEOUT_S = 1.0
# A connection that does not open or answer within these is given up: a Redis that stopped
# answering (a partition, not a reset) fails a command instead of hanging it.
CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0


def retry_policy() -> Retry:
    """Retry a command twice on a connection error, on a fresh connection, after 50 then
    100 ms. A pool's idle connections all break when Redis restarts or a proxy drops them;
    without this (redis-py's pools retry nothing by default) each one failed one command —
    a handshake, a presence write — after Redis was back."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def async_client(url: str, *, max_connections: int, pool_wait_s: float = POOL_WAIT_S,
                 decode_responses: bool = False) -> Redis:
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections,
                                           timeout=pool_wait_s,
                                           decode_responses=decode_responses,
                                           driver_info=None, retry=retry_policy(),
                                           socket_connect_timeout=CONNECT_TIMEOUT_S,
                                           socket_timeout=COMMAND_TIMEOUT_S)
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
