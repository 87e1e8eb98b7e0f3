"""One contract for both presence stores (in-memory and Redis), with a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from presence.store import (
    CONNECTION_TTL_S,
    EXPIRE_SWEEP_S,
    HEARTBEAT_INTERVAL_S,
    IDLE_AWAY_S,
    MemoryPresenceStore,
    NotOnline,
    PresenceProfile,
    PresenceStore,
    UnknownConnection,
    presence_store_from_url,
)

CARDIO = PresenceProfile(specialties=["cardiology"], languages=["en", "es"], country="ES")
NEURO = PresenceProfile(specialties=["neurology", "stroke"], languages=["en"], country="US")


async def test_connect_makes_user_visible_and_reports_going_online(store: PresenceStore, clock):
    change = await store.connect(
        user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now
    )
    assert change is not None and change.went_online
    assert change.after is not None and change.after.status == "available"

    alice = await store.get("alice", now=clock.now)
    assert alice is not None
    assert alice.status == "available"
    assert alice.on_call is False
    assert alice.specialties == ("cardiology",)
    assert alice.languages == ("en", "es")
    assert alice.country == "ES"
    assert [(c.conn_id, c.process_id) for c in alice.connections] == [("c1", "p1")]
    assert await store.get("bob", now=clock.now) is None


async def test_heartbeat_without_visible_change_reports_nothing(store, clock):
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now)
    for _ in range(10):
        assert await store.heartbeat(user_id="alice", conn_id="c1", now=clock.advance(25)) is None
    # Still online well past one TTL because each heartbeat pushed the deadline on.
    assert await store.get("alice", now=clock.now) is not None


async def test_second_connection_is_no_change_and_last_disconnect_goes_offline(store, clock):
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now)
    assert (
        await store.connect(
            user_id="alice", conn_id="c2", process_id="p2", profile=CARDIO, now=clock.advance(1)
        )
        is None
    )
    alice = await store.get("alice", now=clock.now)
    assert {(c.conn_id, c.process_id) for c in alice.connections} == {("c1", "p1"), ("c2", "p2")}

    assert await store.disconnect(user_id="alice", conn_id="c1", now=clock.advance(1)) is None
    assert await store.get("alice", now=clock.now) is not None

    change = await store.disconnect(user_id="alice", conn_id="c2", now=clock.advance(1))
    assert change is not None and change.went_offline and change.after is None
    assert await store.get("alice", now=clock.now) is None
    assert await store.online(now=clock.now) == []
    # Disconnecting again (a duplicate close) is harmless.
    assert await store.disconnect(user_id="alice", conn_id="c2", now=clock.now) is None


async def test_killed_process_connections_vanish_within_the_bound(store, clock):
    """Process p1 dies without disconnecting; its sockets are gone within TTL + one sweep."""
    await store.connect(user_id="alice", conn_id="a1", process_id="p1", profile=CARDIO, now=clock.now)
    await store.connect(user_id="bob", conn_id="b1", process_id="p1", profile=NEURO, now=clock.now)
    await store.connect(user_id="bob", conn_id="b2", process_id="p2", profile=NEURO, now=clock.now)
    died_at = clock.now

    # p2 keeps heartbeating; p1 is silent. Sweep every EXPIRE_SWEEP_S like the driver does.
    gone: dict[str, float] = {}
    while clock.now < died_at + CONNECTION_TTL_S + 2 * EXPIRE_SWEEP_S:
        clock.advance(EXPIRE_SWEEP_S)
        if (clock.now - died_at) % HEARTBEAT_INTERVAL_S < EXPIRE_SWEEP_S:
            await store.heartbeat(user_id="bob", conn_id="b2", now=clock.now)
        for user_id in await store.expire(now=clock.now):
            gone[user_id] = clock.now

    assert set(gone) == {"alice"}
    assert gone["alice"] - died_at <= CONNECTION_TTL_S + EXPIRE_SWEEP_S
    bob = await store.get("bob", now=clock.now)
    assert [c.conn_id for c in bob.connections] == ["b2"]
    assert [p.user_id for p in await store.online(now=clock.now)] == ["bob"]
    # The dead connection cannot be revived by a late heartbeat: connect again instead.
    with pytest.raises(UnknownConnection):
        await store.heartbeat(user_id="alice", conn_id="a1", now=clock.now)


async def test_dead_connections_are_invisible_before_the_sweep(store, clock):
    await store.connect(user_id="alice", conn_id="a1", process_id="p1", profile=CARDIO, now=clock.now)
    clock.advance(CONNECTION_TTL_S)
    assert await store.get("alice", now=clock.now) is None
    assert await store.online(specialty="cardiology", now=clock.now) == []
    assert await store.online_count(specialty="cardiology", now=clock.now) == 0
    assert await store.expire(now=clock.now) == ["alice"]
    assert await store.expire(now=clock.now) == []


async def test_reconnect_after_silent_death_reports_nothing(store, clock):
    """Subscribers never heard alice left, so her coming back is not news either."""
    await store.connect(user_id="alice", conn_id="a1", process_id="p1", profile=CARDIO, now=clock.now)
    clock.advance(CONNECTION_TTL_S + 1)
    assert (
        await store.connect(user_id="alice", conn_id="a2", process_id="p2", profile=CARDIO, now=clock.now)
        is None
    )
    # The old connection was dropped with the reconnect, so the sweep reports nobody.
    assert await store.expire(now=clock.advance(1)) == []
    alice = await store.get("alice", now=clock.now)
    assert [c.conn_id for c in alice.connections] == ["a2"]


async def test_auto_away_after_idle_and_back_on_activity(store, clock):
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now)
    # Heartbeats keep the socket alive but are not activity.
    t = 0.0
    change = None
    while t < IDLE_AWAY_S:
        t += HEARTBEAT_INTERVAL_S
        change = await store.heartbeat(user_id="alice", conn_id="c1", now=clock.advance(25))
        if change is not None:
            break
    assert change is not None, "idle user never reported away"
    assert change.previous.status == "available" and change.after.status == "away"
    assert change.after.chosen_status == "available"
    assert (await store.get("alice", now=clock.now)).status == "away"
    # The first heartbeat after the idle mark reports it; the following ones do not repeat it.
    assert await store.heartbeat(user_id="alice", conn_id="c1", now=clock.advance(25)) is None

    back = await store.heartbeat(user_id="alice", conn_id="c1", now=clock.advance(25), active=True)
    assert back is not None and back.after.status == "available"


async def test_idle_status_is_computed_from_now_without_any_write(store, clock):
    start = clock.now
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=start)
    # Keep the socket alive just short of the idle mark, then only read.
    while clock.now + HEARTBEAT_INTERVAL_S < start + IDLE_AWAY_S - 1:
        await store.heartbeat(user_id="alice", conn_id="c1", now=clock.advance(HEARTBEAT_INTERVAL_S))
    assert (await store.get("alice", now=start + IDLE_AWAY_S - 1)).status == "available"
    assert (await store.get("alice", now=start + IDLE_AWAY_S)).status == "away"
    assert [p.status for p in await store.online(now=start + IDLE_AWAY_S)] == ["away"]


async def test_set_status_reports_only_real_changes(store, clock):
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now)
    change = await store.set_status(user_id="alice", status="busy", now=clock.advance(1))
    assert change is not None and change.after.status == "busy"
    assert await store.set_status(user_id="alice", status="busy", now=clock.advance(1)) is None
    with pytest.raises(ValueError):
        await store.set_status(user_id="alice", status="asleep", now=clock.now)
    with pytest.raises(NotOnline):
        await store.set_status(user_id="nobody", status="busy", now=clock.now)


async def test_on_call_flag(store, clock):
    await store.connect(user_id="alice", conn_id="c1", process_id="p1", profile=CARDIO, now=clock.now)
    change = await store.set_on_call(user_id="alice", on_call=True, now=clock.advance(1))
    assert change is not None and change.after.on_call and not change.previous.on_call
    assert (await store.get("alice", now=clock.now)).on_call is True
    assert await store.set_on_call(user_id="alice", on_call=True, now=clock.advance(1)) is None
    # A second socket of the same user sees the same flag (it is per user, not per socket).
    await store.connect(user_id="alice", conn_id="c2", process_id="p2", profile=CARDIO, now=clock.now)
    assert (await store.get("alice", now=clock.now)).on_call is True
    with pytest.raises(NotOnline):
        await store.set_on_call(user_id="nobody", on_call=True, now=clock.now)


async def test_specialty_index(store, clock):
    await store.connect(user_id="alice", conn_id="a", process_id="p1", profile=CARDIO, now=clock.now)
    await store.connect(user_id="bob", conn_id="b", process_id="p1", profile=NEURO, now=clock.now)
    both = PresenceProfile(specialties=["cardiology", "stroke"], languages=["fr"], country="FR")
    await store.connect(user_id="carol", conn_id="c", process_id="p2", profile=both, now=clock.now)

    cardio = await store.online(specialty="cardiology", now=clock.now)
    assert [p.user_id for p in cardio] == ["alice", "carol"]
    assert [p.user_id for p in await store.online(specialty="stroke", now=clock.now)] == [
        "bob",
        "carol",
    ]
    assert await store.online(specialty="dermatology", now=clock.now) == []
    assert [p.user_id for p in await store.online(now=clock.now)] == ["alice", "bob", "carol"]
    assert await store.online_count(specialty="cardiology", now=clock.now) == 2
    assert await store.online_count(now=clock.now) == 3

    await store.disconnect(user_id="carol", conn_id="c", now=clock.now)
    assert [p.user_id for p in await store.online(specialty="cardiology", now=clock.now)] == ["alice"]


async def test_reconnect_with_new_specialties_moves_the_index(store, clock):
    await store.connect(user_id="alice", conn_id="a", process_id="p1", profile=CARDIO, now=clock.now)
    moved = PresenceProfile(specialties=["nephrology"], languages=["en"], country="ES")
    await store.connect(user_id="alice", conn_id="b", process_id="p1", profile=moved, now=clock.now)
    assert await store.online(specialty="cardiology", now=clock.now) == []
    assert [p.user_id for p in await store.online(specialty="nephrology", now=clock.now)] == ["alice"]


async def test_router_counters(store, clock):
    assert await store.consults_open("alice") == 0
    assert await store.consult_started(user_id="alice") == 1
    assert await store.consult_started(user_id="alice") == 2
    assert await store.consult_finished(user_id="alice") == 1
    assert await store.consult_finished(user_id="alice") == 0
    # A replayed finish never drives the counter negative (that would grant extra capacity).
    assert await store.consult_finished(user_id="alice") == 0
    await store.consult_started(user_id="alice")

    await store.mark_offered(user_id="alice", now=clock.now)
    await store.connect(user_id="alice", conn_id="a", process_id="p1", profile=CARDIO, now=clock.now)
    alice = await store.get("alice", now=clock.now)
    assert alice.open_consults == 1
    assert alice.last_offered_at == clock.now
    # The counters outlive presence: going offline does not reset someone's load.
    await store.disconnect(user_id="alice", conn_id="a", now=clock.now)
    assert await store.consults_open("alice") == 1


def test_factory_without_url_is_in_memory():
    assert isinstance(presence_store_from_url(None, prefix="x"), MemoryPresenceStore)


async def test_factory_with_url_is_redis(prefix):
    from presence.store_redis import RedisPresenceStore
    from tests.support.redis import redis_url

    s = presence_store_from_url(redis_url(), prefix=prefix)
    try:
        assert isinstance(s, RedisPresenceStore)
        assert await s.online(now=0.0) == []
    finally:
        await s.close()


async def test_redis_heartbeat_is_one_round_trip(prefix, clock):
    """Presence is the dominant load: a heartbeat must cost one Redis command, not several.
    Heartbeats travel in pipelines (one per batch): each pipeline sent is one entry."""
    from redis.asyncio import Redis

    from presence.store_redis import RedisPresenceStore
    from tests.support.redis import purge, redis_url

    class CountingRedis(Redis):
        commands: list[str] = []

        async def execute_command(self, *args, **options):
            self.commands.append(str(args[0]))
            return await super().execute_command(*args, **options)

        def pipeline(self, transaction=True, shard_hint=None):
            pipe = super().pipeline(transaction, shard_hint)
            execute = pipe.execute

            async def counted(raise_on_error=True):
                self.commands.append([str(args[0]) for args, _ in pipe.command_stack])
                return await execute(raise_on_error=raise_on_error)

            pipe.execute = counted
            return pipe

    client = CountingRedis.from_url(redis_url(), decode_responses=True)
    store = RedisPresenceStore(client, prefix=prefix)
    try:
        await store.connect(user_id="a", conn_id="c", process_id="p", profile=CARDIO, now=clock.now)
        await store.heartbeat(user_id="a", conn_id="c", now=clock.advance(25))  # loads scripts
        client.commands.clear()
        for _ in range(5):
            await store.heartbeat(user_id="a", conn_id="c", now=clock.advance(25))
        assert client.commands == [["EVALSHA"]] * 5
    finally:
        await purge(client, prefix)
        await client.aclose()


async def test_only_the_callers_now_counts_not_any_server_clock(store):
    """Deadlines in 1970: a store that consulted a real clock would see them long expired."""
    await store.connect(user_id="a", conn_id="c", process_id="p", profile=CARDIO, now=1000.0)
    assert await store.get("a", now=1000.0 + CONNECTION_TTL_S - 0.5) is not None
    assert await store.expire(now=1000.0 + CONNECTION_TTL_S - 0.5) == []
    assert await store.get("a", now=1000.0 + CONNECTION_TTL_S) is None
    assert await store.expire(now=1000.0 + CONNECTION_TTL_S) == ["a"]


async def test_redis_presence_is_shared_between_processes(prefix, clock):
    """Two daphne processes = two clients: each sees the other's sockets, and either may
    sweep the connections of a third that died."""
    from redis.asyncio import Redis

    from presence.store_redis import RedisPresenceStore
    from tests.support.redis import purge, redis_url

    clients = [Redis.from_url(redis_url(), decode_responses=True) for _ in range(2)]
    one, two = (RedisPresenceStore(c, prefix=prefix) for c in clients)
    try:
        await one.connect(user_id="a", conn_id="a1", process_id="p1", profile=CARDIO, now=clock.now)
        # The second socket, on another process, is not news to anyone.
        assert (
            await two.connect(user_id="a", conn_id="a2", process_id="p2", profile=CARDIO, now=clock.now)
            is None
        )
        seen = await two.get("a", now=clock.now)
        assert {(c.conn_id, c.process_id) for c in seen.connections} == {
            ("a1", "p1"),
            ("a2", "p2"),
        }
        # p1 dies; p2 keeps heartbeating and sweeps: a stays online on a2 only.
        for _ in range(4):
            await two.heartbeat(user_id="a", conn_id="a2", now=clock.advance(25))
        assert await two.expire(now=clock.now) == []
        assert [c.conn_id for c in (await one.get("a", now=clock.now)).connections] == ["a2"]
    finally:
        await purge(clients[0], prefix)
        for c in clients:
            await c.aclose()


async def test_capacity_per_case_is_released_exactly_once(store, clock):
    """A consult held by case: started twice counts once; the first release frees it, any
    later release of the same case (resolve then close, a second process) changes nothing."""
    assert await store.consult_started(user_id="alice", case_id="c1") == 1
    assert await store.consult_started(user_id="alice", case_id="c1") == 1
    assert await store.consult_started(user_id="alice", case_id="c2") == 2
    assert await store.consults_held("alice") == {"c1", "c2"}
    assert await store.consult_finished(user_id="alice", case_id="c1") == 1
    assert await store.consult_finished(user_id="alice", case_id="c1") == 1
    # A case alice never held releases nothing of hers.
    assert await store.consult_finished(user_id="alice", case_id="c9") == 1
    assert await store.consult_finished(user_id="bob", case_id="c2") == 0
    assert await store.consults_held("alice") == {"c2"}
    await store.connect(user_id="alice", conn_id="a", process_id="p1", profile=CARDIO, now=clock.now)
    assert (await store.get("alice", now=clock.now)).open_consults == 1
    assert await store.consult_finished(user_id="alice", case_id="c2") == 0
    assert await store.consult_finished(user_id="alice", case_id="c2") == 0
    assert (await store.get("alice", now=clock.now)).open_consults == 0
    # Released, the same case may be held again (a reopened case accepted anew).
    assert await store.consult_started(user_id="alice", case_id="c1") == 1


async def test_racing_releases_of_one_case_release_once(store, clock):
    for case in ("c1", "c2", "c3"):
        await store.consult_started(user_id="alice", case_id=case)
    counts = await asyncio.gather(*(store.consult_finished(user_id="alice", case_id="c2")
                                    for _ in range(8)))
    assert min(counts) == 2
    assert await store.consults_open("alice") == 2
    assert await store.consults_held("alice") == {"c1", "c3"}


async def test_holders_lists_every_held_case_and_forgets_released_ones(store, clock):
    assert await store.holders() == {}
    await store.consult_started(user_id="alice", case_id="c1")
    await store.consult_started(user_id="alice", case_id="c2")
    await store.consult_started(user_id="bob", case_id="c3")
    await store.consult_started(user_id="carol")  # counted, but no case: nothing to list
    assert await store.holders() == {"alice": {"c1", "c2"}, "bob": {"c3"}}
    await store.consult_finished(user_id="bob", case_id="c3")
    await store.consult_finished(user_id="alice", case_id="c1")
    assert await store.holders() == {"alice": {"c2"}}


async def test_concurrent_heartbeats_behave_as_one_at_a_time(store, clock):
    """The Redis store sends concurrent heartbeats as one pipeline; each still extends its
    own connection, reports its own change, and an unknown one fails alone."""
    for i in range(40):
        await store.connect(user_id=f"u{i:02d}", conn_id=f"c{i}", process_id="p1",
                            profile=CARDIO if i % 2 else NEURO, now=clock.now)
    await store.set_status(user_id="u03", status="away", now=clock.now)
    now = clock.advance(HEARTBEAT_INTERVAL_S)
    results = await asyncio.gather(
        *(store.heartbeat(user_id=f"u{i:02d}", conn_id=f"c{i}", now=now, active=i == 3)
          for i in range(40)),
        store.heartbeat(user_id="u05", conn_id="gone", now=now),
        store.heartbeat(user_id="nobody", conn_id="c0", now=now),
        return_exceptions=True)
    assert all(r is None for r in results[:40]), results[:40]
    assert [type(r) for r in results[40:]] == [UnknownConnection, UnknownConnection]
    # Every deadline moved on: one TTL after the first connect, all are still online.
    later = clock.advance(CONNECTION_TTL_S - 1)
    assert len(await store.online(now=later)) == 40
    assert (await store.get("u03", now=later)).chosen_status == "away"


async def test_heartbeats_of_one_tick_share_one_redis_round_trip(redis_client, prefix, clock):
    from presence.store_redis import RedisPresenceStore

    store = RedisPresenceStore(redis_client, prefix=prefix)
    for i in range(50):
        await store.connect(user_id=f"u{i}", conn_id="c", process_id="p1", profile=CARDIO,
                            now=clock.now)
    now = clock.advance(HEARTBEAT_INTERVAL_S)
    await asyncio.gather(*(store.heartbeat(user_id=f"u{i}", conn_id="c", now=now)
                           for i in range(50)))
    assert store.heartbeat_round_trips <= 2
    # A Redis that forgot its scripts (restarted, SCRIPT FLUSH): the batch loads and resends.
    await redis_client.script_flush()
    before = store.heartbeat_round_trips
    now = clock.advance(HEARTBEAT_INTERVAL_S)
    assert await asyncio.gather(*(store.heartbeat(user_id=f"u{i}", conn_id="c", now=now)
                                  for i in range(5))) == [None] * 5
    assert store.heartbeat_round_trips == before + 2
    online = await store.online(now=clock.advance(CONNECTION_TTL_S - 1))
    assert [p.user_id for p in online] == [f"u{i}" for i in range(5)]


async def test_offers_marked_in_one_call_are_each_marked(store, clock):
    """An urgent round marks hundreds of offers at once (one Redis pipeline); each physician
    reads as offered at that time, others untouched, and an empty round is a no-op."""
    await store.mark_offered_many(user_ids=[], now=clock.now)
    offered = [f"s{i:03d}" for i in range(500)]
    await store.mark_offered(user_id="other", now=clock.now)
    later = clock.advance(5)
    await store.mark_offered_many(user_ids=offered, now=later)
    for user_id in (offered[0], offered[-1], "other", "never"):
        await store.connect(user_id=user_id, conn_id="c", process_id="p1", profile=CARDIO,
                            now=later)
    seen = {p.user_id: p.last_offered_at for p in await store.online(now=later)}
    assert seen == {offered[0]: later, offered[-1]: later, "other": later - 5, "never": None}
