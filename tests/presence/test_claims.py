"""First-accept-wins claims and the deadline queue, on both implementations, under races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from presence.claims import (
    CaseClaims,
    DeadlineQueue,
    DueItem,
    MemoryCaseClaims,
    MemoryDeadlineQueue,
    RedisCaseClaims,
    RedisDeadlineQueue,
    claims_from_url,
    deadline_queue_from_url,
)
from tests.presence.conftest import _purge, redis_url

T0 = 1_780_000_000.0


async def _clients(n: int) -> list[Redis]:
    """``n`` separate Redis clients (separate connections), as separate processes would have."""
    clients = [Redis.from_url(redis_url(), decode_responses=True) for _ in range(n)]
    for c in clients:
        await c.ping()  # fails the test, never skips it, when Redis is down
    return clients


@pytest.fixture(params=["memory", "redis"])
async def claims(request, prefix) -> AsyncIterator[CaseClaims]:
    if request.param == "memory":
        yield MemoryCaseClaims()
        return
    (client,) = await _clients(1)
    yield RedisCaseClaims(client, prefix=prefix)
    await _purge(client, prefix)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def queue(request, prefix) -> AsyncIterator[DeadlineQueue]:
    if request.param == "memory":
        yield MemoryDeadlineQueue()
        return
    (client,) = await _clients(1)
    yield RedisDeadlineQueue(client, prefix=prefix)
    await _purge(client, prefix)
    await client.aclose()


async def test_first_claim_wins_and_later_ones_learn_the_winner(claims):
    first = await claims.claim("case1", "alice", "case1:1")
    assert (first.won, first.winner, first.offer_id) == (True, "alice", "case1:1")
    second = await claims.claim("case1", "bob", "case1:2")
    assert (second.won, second.winner, second.offer_id) == (False, "alice", "case1:1")
    # The winner retrying (a resent frame) still holds it.
    assert (await claims.claim("case1", "alice", "case1:1")).won
    assert await claims.winner("case1") == "alice"
    # Cases are independent.
    assert await claims.winner("case2") is None
    assert (await claims.claim("case2", "bob", "case2:1")).won


async def test_memory_claim_race_has_exactly_one_winner():
    claims = MemoryCaseClaims()
    for round_ in range(50):
        case = f"case{round_}"
        results = await asyncio.gather(*(claims.claim(case, f"u{i}", f"{case}:{i}") for i in range(10)))
        assert sum(r.won for r in results) == 1
        assert len({r.winner for r in results}) == 1


async def test_redis_claim_race_has_exactly_one_winner(prefix):
    clients = await _clients(10)
    contenders = [RedisCaseClaims(c, prefix=prefix) for c in clients]
    try:
        for round_ in range(50):
            case = f"case{round_}"
            results = await asyncio.gather(
                *(cl.claim(case, f"u{i}", f"{case}:{i}") for i, cl in enumerate(contenders))
            )
            winners = [r for r in results if r.won]
            assert len(winners) == 1, f"round {round_}: {results}"
            # Every loser was told the same winner, and it is the one stored.
            assert {r.winner for r in results} == {winners[0].winner}
            assert await contenders[0].winner(case) == winners[0].winner
    finally:
        await _purge(clients[0], prefix)
        for c in clients:
            await c.aclose()


async def test_deadline_queue_hands_out_due_items_in_order(queue):
    await queue.schedule("offer:b", due_at=T0 + 20)
    await queue.schedule("offer:a", due_at=T0 + 10)
    await queue.schedule("offer:c", due_at=T0 + 30)
    assert await queue.next_due_at() == T0 + 10
    assert await queue.due(now=T0 + 9) == []
    assert await queue.due(now=T0 + 20) == [
        DueItem("offer:a", T0 + 10),
        DueItem("offer:b", T0 + 20),
    ]
    # Taken items are gone: polling again does not hand them out twice.
    assert await queue.due(now=T0 + 20) == []
    assert await queue.next_due_at() == T0 + 30


async def test_deadline_queue_cancel_and_reschedule(queue):
    await queue.schedule("offer:a", due_at=T0 + 10)
    await queue.schedule("offer:b", due_at=T0 + 10)
    assert await queue.cancel("offer:a") is True
    assert await queue.cancel("offer:a") is False
    # Rescheduling moves the item instead of duplicating it.
    await queue.schedule("offer:b", due_at=T0 + 50)
    assert await queue.due(now=T0 + 40) == []
    assert await queue.due(now=T0 + 50) == [DueItem("offer:b", T0 + 50)]
    assert await queue.next_due_at() is None


async def test_deadline_queue_limit(queue):
    for i in range(5):
        await queue.schedule(f"i{i}", due_at=T0 + i)
    assert [d.item for d in await queue.due(now=T0 + 10, limit=2)] == ["i0", "i1"]
    assert [d.item for d in await queue.due(now=T0 + 10, limit=10)] == ["i2", "i3", "i4"]


async def _race_pollers(producer: DeadlineQueue, pollers: list[DeadlineQueue]) -> None:
    items = [f"offer:{i}" for i in range(300)]
    for i, item in enumerate(items):
        await producer.schedule(item, due_at=T0 + i % 30)
    taken: list[list[str]] = [[] for _ in pollers]

    async def poll(n: int) -> None:
        # Small batches and a slowly advancing "now" force many interleaved polls.
        for step in range(40):
            for d in await pollers[n].due(now=T0 + step, limit=7):
                taken[n].append(d.item)
            await asyncio.sleep(0)

    await asyncio.gather(*(poll(n) for n in range(len(pollers))))
    everything = [item for batch in taken for item in batch]
    assert sorted(everything) == sorted(items), "an item was lost or handed out twice"
    assert set(taken[0]).isdisjoint(taken[1])
    assert all(taken), "both pollers should have won some items"


async def test_memory_deadline_queue_two_pollers_never_share_an_item():
    q = MemoryDeadlineQueue()
    await _race_pollers(q, [q, q])


async def test_redis_deadline_queue_two_pollers_never_share_an_item(prefix):
    clients = await _clients(3)
    try:
        producer, *pollers = (RedisDeadlineQueue(c, prefix=prefix) for c in clients)
        await _race_pollers(producer, pollers)
    finally:
        await _purge(clients[0], prefix)
        for c in clients:
            await c.aclose()


async def test_factories(prefix):
    assert isinstance(claims_from_url(None, prefix=prefix), MemoryCaseClaims)
    assert isinstance(deadline_queue_from_url(None, prefix=prefix), MemoryDeadlineQueue)
    c = claims_from_url(redis_url(), prefix=prefix)
    q = deadline_queue_from_url(redis_url(), prefix=prefix)
    try:
        assert isinstance(c, RedisCaseClaims) and isinstance(q, RedisDeadlineQueue)
        assert (await c.claim("x", "u", "o")).won
        assert await q.due(now=T0) == []
    finally:
        await q.close()
        async with Redis.from_url(redis_url(), decode_responses=True) as cleanup:
            await _purge(cleanup, prefix)
        await c.close()
