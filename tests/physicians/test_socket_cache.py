"""The per-process handshake caches (physicians/socket_cache.py), on a fake clock."""

from __future__ import annotations

import asyncio

from physicians.selectors import Profile, SocketIdentity
from physicians.socket_cache import Sessions, SocketProfiles


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def identity(user_id: str = "u1") -> SocketIdentity:
    profile = Profile(id=user_id, email="", display_name="Dr. X", first_name="", last_name="",
                      role="physician", country="ES", jurisdiction="", specialty="cardiology",
                      specialties=[], languages=["es"], licence_status="verified",
                      verified=True)
    return SocketIdentity(user_id=user_id, role="physician", profile=profile)


def test_a_profile_is_kept_for_its_ttl_then_read_again():
    clock = Clock()
    cache = SocketProfiles(ttl_s=60, clock=clock)
    loads = []

    async def load():
        loads.append(1)
        return identity()

    async def run():
        first = await cache.identity("u.a", load)
        clock.now += 59
        again = await cache.identity("u.a", load)
        clock.now += 2
        later = await cache.identity("u.a", load)
        return first, again, later

    first, again, later = asyncio.run(run())
    assert first is again and later == first
    assert len(loads) == 2


def test_refusals_are_never_cached():
    cache = SocketProfiles(ttl_s=60, clock=Clock())
    loads = []

    async def load():
        loads.append(1)
        return (4403, "licence not verified")

    async def run():
        return [await cache.identity("u.a", load) for _ in range(3)]

    assert asyncio.run(run()) == [(4403, "licence not verified")] * 3
    assert len(loads) == 3 and len(cache) == 0


def test_a_forget_drops_the_entry_and_a_load_that_raced_it_is_not_stored():
    cache = SocketProfiles(ttl_s=60, clock=Clock())

    async def run():
        await cache.identity("u.a", lambda: _value(identity()))
        cache.forget("u.a")
        assert cache.get("u.a") is None
        gate = asyncio.Event()

        async def slow_load():
            await gate.wait()
            return identity()  # read before the invalidation below

        pending = asyncio.ensure_future(cache.identity("u.a", slow_load))
        await asyncio.sleep(0)
        cache.forget("u.a")  # a suspension lands while the read is in flight
        gate.set()
        used = await pending
        return used

    used = asyncio.run(run())
    assert used.user_id == "u1"  # the racing handshake uses it once …
    assert cache.get("u.a") is None  # … but the next one reads again


def test_concurrent_handshakes_of_one_user_share_one_load():
    cache = SocketProfiles(ttl_s=60, clock=Clock())
    loads = []

    async def load():
        loads.append(1)
        await asyncio.sleep(0)
        return identity()

    async def run():
        return await asyncio.gather(*(cache.identity("u.a", load) for _ in range(50)))

    results = asyncio.run(run())
    assert len(loads) == 1 and all(r is results[0] for r in results)


def test_the_profile_cache_is_bounded():
    cache = SocketProfiles(ttl_s=60, max_entries=3, clock=Clock())
    for i in range(5):
        assert cache.put(f"u.{i}", identity(str(i)), epoch=cache.epoch)
    assert len(cache) == 3 and cache.get("u.0") is None and cache.get("u.4") is not None


def test_a_ttl_of_zero_turns_the_cache_off():
    cache = SocketProfiles(ttl_s=0, clock=Clock())
    assert not cache.put("u.a", identity(), epoch=cache.epoch)
    assert cache.get("u.a") is None


def test_a_session_lives_until_it_expires_or_the_ttl_passes():
    clock = Clock()
    cache = Sessions(ttl_s=60, clock=clock)
    cache.put("s.short", user_id="u1", user_group="u.1", expires_at=clock.now + 10,
              epoch=cache.epoch)
    cache.put("s.long", user_id="u1", user_group="u.1", expires_at=clock.now + 3600,
              epoch=cache.epoch)
    clock.now += 11
    assert cache.get("s.short") is None and cache.get("s.long") == "u1"
    clock.now += 50
    assert cache.get("s.long") is None


def test_forgetting_a_user_forgets_all_their_sessions_only():
    cache = Sessions(ttl_s=60, clock=Clock())
    for key, user in (("s.a", "1"), ("s.b", "1"), ("s.c", "2")):
        cache.put(key, user_id=user, user_group=f"u.{user}", expires_at=1e12, epoch=cache.epoch)
    cache.forget_user("u.1")
    assert cache.get("s.a") is None and cache.get("s.b") is None and cache.get("s.c") == "2"
    epoch = cache.epoch
    cache.forget("s.c")
    assert cache.get("s.c") is None
    cache.put("s.c", user_id="2", user_group="u.2", expires_at=1e12, epoch=epoch)
    assert cache.get("s.c") is None  # a read that raced the logout is not stored


async def _value(value):
    return value
