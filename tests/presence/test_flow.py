"""The pieces together, as the consult driver will use them: presence → router → deadline
queue → claim, on both back ends, with a fake clock."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from presence.claims import (
    MemoryCaseClaims,
    MemoryDeadlineQueue,
    RedisCaseClaims,
    RedisDeadlineQueue,
)
from presence.routing import (
    Claimed,
    CloseOffer,
    LoungeCall,
    Offer,
    RouteStatus,
    RoutingPolicy,
    Taxonomy,
    UrgentCase,
    candidate_from_presence,
    route_on_accept,
    route_on_expiry,
    route_on_online,
    route_start,
)
from presence.store import PresenceProfile
from tests.presence.conftest import _purge, redis_url

TAXONOMY = Taxonomy(parents={"cardiology": "internal-medicine", "internal-medicine": None})
CARDIO = PresenceProfile(specialties=["cardiology"], languages=["es"], country="ES")


@pytest.fixture
async def backends(store, prefix):
    """Claims and deadline queue matching the ``store`` parameter (memory or Redis)."""
    if type(store).__name__.startswith("Memory"):
        yield MemoryCaseClaims(), MemoryDeadlineQueue()
        return
    client = Redis.from_url(redis_url(), decode_responses=True)
    await client.ping()
    yield RedisCaseClaims(client, prefix=prefix), RedisDeadlineQueue(client, prefix=prefix)
    await _purge(client, prefix)
    await client.aclose()


async def _candidates(store, now):
    return [candidate_from_presence(p) for p in await store.online(specialty="cardiology", now=now)]


async def _apply(actions, store, queue, now):
    for a in actions:
        if isinstance(a, Offer):
            await store.mark_offered(user_id=a.user_id, now=now)
            await queue.schedule(a.offer_id, due_at=a.expires_at)
        elif isinstance(a, CloseOffer):
            await queue.cancel(a.offer_id)


async def test_case_expires_to_the_lounge_then_a_newcomer_claims_it(store, backends, clock):
    claims, queue = backends
    await store.connect(user_id="oncall", conn_id="a", process_id="p1", profile=CARDIO, now=clock.now)
    await store.set_on_call(user_id="oncall", on_call=True, now=clock.now)
    await store.connect(user_id="poster", conn_id="b", process_id="p2", profile=CARDIO, now=clock.now)

    case = UrgentCase("case9", "cardiology", "poster", "es")
    policy = RoutingPolicy(k=2, offer_ttl_s=90)
    state, actions = route_start(case, await _candidates(store, clock.now), TAXONOMY, policy, clock.now)
    assert [a.user_id for a in actions if isinstance(a, Offer)] == ["oncall"]
    await _apply(actions, store, queue, clock.now)
    assert (await store.get("oncall", now=clock.now)).last_offered_at == clock.now

    # Nobody answers: the driver polls the queue as the clock moves on.
    clock.advance(60)
    assert await queue.due(now=clock.now) == []
    clock.advance(30)
    due = await queue.due(now=clock.now)
    assert [d.item for d in due] == ["case9:1"]
    state, actions = route_on_expiry(state, await _candidates(store, clock.now), clock.now)
    assert LoungeCall("cardiology") in actions
    assert state.status is RouteStatus.LOUNGE_CALLED
    await _apply(actions, store, queue, clock.now)

    # A cardiologist comes online while the case waits and is offered it at once.
    change = await store.connect(
        user_id="late", conn_id="c", process_id="p3", profile=CARDIO, now=clock.advance(5)
    )
    newcomer = candidate_from_presence(change.after)
    state, actions = route_on_online(state, newcomer, clock.now)
    assert [a.user_id for a in actions if isinstance(a, Offer)] == ["late"]
    await _apply(actions, store, queue, clock.now)

    # Late accepts: "late" and a lounge member race; exactly one claim wins.
    offer = next(a for a in actions if isinstance(a, Offer))
    won = await claims.claim("case9", "late", offer.offer_id)
    lost = await claims.claim("case9", "lounge-member", "lounge")
    assert won.won and not lost.won and lost.winner == "late"
    state, actions = route_on_accept(state, won.winner, clock.now)
    assert actions == [Claimed("late")]
    await store.consult_started(user_id="late")
    # The claimed offer's deadline is no longer needed.
    assert await queue.cancel(offer.offer_id) is True
    assert await queue.due(now=clock.advance(1000)) == []
    assert await store.consults_open("late") == 1
