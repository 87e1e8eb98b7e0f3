"""Who takes an urgent case, and when offers fall due: the two cross-process decisions.

``CaseClaims``: the first accept wins, atomically, across every daphne process. In memory an
``asyncio.Lock`` guards a dict; in Redis one Lua script checks and sets the claim in a single
step, so of any number of simultaneous accepts exactly one sees ``won=True`` and every other
learns who won (the transport answers them ``conflict``).

``DeadlineQueue``: offer expiries and escalations keyed by due time (a sorted set in Redis),
polled by drivers. ``due`` removes what it returns in the same atomic step, so two drivers
polling at once never both act on one item. The Redis queue lives as long as Redis keeps its
data (enable AOF or RDB snapshots for it to survive a Redis restart); it survives any daphne
process dying, which is what matters for a deadline owned by a process that died.

Time is passed in (``now``); Redis's own clock is used only to garbage-collect old claims.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from redis.asyncio import Redis

# A claim only arbitrates the race between accepts; the consult row records the outcome for
# good. Keep it long enough to answer any straggling accept, then let Redis drop it.
CLAIM_TTL_S = 7 * 24 * 3600
# How many due items one ``due`` call hands out at most; a driver polls again for the rest.
DUE_BATCH = 100


@dataclass(frozen=True, slots=True)
class ClaimResult:
    won: bool
    winner: str  # the user who holds the case (the caller when ``won``)
    offer_id: str  # the offer the winner accepted


class CaseClaims(Protocol):
    async def claim(self, case_id: str, user_id: str, offer_id: str) -> ClaimResult:
        """First call per case wins; later calls get ``won=False`` and the winner.

        A repeat by the winner (a retried frame) reports ``won=True`` again.
        """
        ...

    async def winner(self, case_id: str) -> str | None: ...

    async def close(self) -> None: ...


class DueItem(NamedTuple):
    item: str
    due_at: float


class DeadlineQueue(Protocol):
    async def schedule(self, item: str, *, due_at: float) -> None:
        """Add ``item`` (or move it, if already queued) to fall due at ``due_at``."""
        ...

    async def cancel(self, item: str) -> bool:
        """Remove ``item``; False if it was not queued (already due and taken, or never)."""
        ...

    async def due(self, *, now: float, limit: int = DUE_BATCH) -> list[DueItem]:
        """Remove and return up to ``limit`` items due at or before ``now``, earliest first.
        Each item is returned to exactly one caller, however many poll at once."""
        ...

    async def next_due_at(self) -> float | None: ...

    async def close(self) -> None: ...


class MemoryCaseClaims:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._claims: dict[str, tuple[str, str]] = {}

    async def claim(self, case_id: str, user_id: str, offer_id: str) -> ClaimResult:
        async with self._lock:
            winner, won_offer = self._claims.setdefault(case_id, (user_id, offer_id))
        return ClaimResult(won=winner == user_id, winner=winner, offer_id=won_offer)

    async def winner(self, case_id: str) -> str | None:
        held = self._claims.get(case_id)
        return held[0] if held else None

    async def close(self) -> None:
        return None


_CLAIM = r"""
local held = redis.call('HMGET', KEYS[1], 'user', 'offer')
if held[1] then return held end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'offer', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {ARGV[1], ARGV[2]}
"""


class RedisCaseClaims:
    """One Lua script per claim: check and set cannot interleave with another process."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)

    def _key(self, case_id: str) -> str:
        return f"{self._prefix}:claim:{case_id}"

    async def claim(self, case_id: str, user_id: str, offer_id: str) -> ClaimResult:
        winner, won_offer = await self._claim(
            keys=[self._key(case_id)], args=[user_id, offer_id, CLAIM_TTL_S]
        )
        return ClaimResult(won=winner == user_id, winner=winner, offer_id=won_offer)

    async def winner(self, case_id: str) -> str | None:
        return await self._redis.hget(self._key(case_id), "user")

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryDeadlineQueue:
    """A heap with lazy deletion: cancelled or moved entries are skipped when popped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, tuple[float, int]] = {}
        self._seq = itertools.count()

    async def schedule(self, item: str, *, due_at: float) -> None:
        entry = (due_at, next(self._seq))
        self._live[item] = entry
        heapq.heappush(self._heap, (*entry, item))

    async def cancel(self, item: str) -> bool:
        return self._live.pop(item, None) is not None

    def _prune(self) -> None:
        while self._heap and self._live.get(self._heap[0][2]) != self._heap[0][:2]:
            heapq.heappop(self._heap)

    async def due(self, *, now: float, limit: int = DUE_BATCH) -> list[DueItem]:
        out: list[DueItem] = []
        self._prune()
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            due_at, _, item = heapq.heappop(self._heap)
            del self._live[item]
            out.append(DueItem(item, due_at))
            self._prune()
        return out

    async def next_due_at(self) -> float | None:
        self._prune()
        return self._heap[0][0] if self._heap else None

    async def close(self) -> None:
        return None


# Pop in one step: a second poller running at the same time sees the items already gone.
_POP_DUE = r"""
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #items, 2 do redis.call('ZREM', KEYS[1], items[i]) end
return items
"""


class RedisDeadlineQueue:
    """A sorted set: member = item, score = due time."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}:deadlines"
        self._pop = redis.register_script(_POP_DUE)

    async def schedule(self, item: str, *, due_at: float) -> None:
        await self._redis.zadd(self._key, {item: due_at})

    async def cancel(self, item: str) -> bool:
        return bool(await self._redis.zrem(self._key, item))

    async def due(self, *, now: float, limit: int = DUE_BATCH) -> list[DueItem]:
        flat = await self._pop(keys=[self._key], args=[repr(float(now)), limit])
        return [DueItem(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def next_due_at(self) -> float | None:
        first = await self._redis.zrange(self._key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def close(self) -> None:
        await self._redis.aclose()


def claims_from_url(redis_url: str | None, *, prefix: str) -> CaseClaims:
    """Redis claims when ``redis_url`` is set, else in-memory (embedded mode)."""
    if not redis_url:
        return MemoryCaseClaims()
    return RedisCaseClaims(Redis.from_url(redis_url, decode_responses=True), prefix=prefix)


def deadline_queue_from_url(redis_url: str | None, *, prefix: str) -> DeadlineQueue:
    """The Redis deadline queue when ``redis_url`` is set, else in-memory."""
    if not redis_url:
        return MemoryDeadlineQueue()
    return RedisDeadlineQueue(Redis.from_url(redis_url, decode_responses=True), prefix=prefix)
