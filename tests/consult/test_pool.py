"""consult/pool.py: who the router may ask, read from a given presence store (the function
the driver and the simulator share)."""

from __future__ import annotations

from consult.pool import candidates
from presence.store import MemoryPresenceStore, PresenceProfile

T0 = 1_780_000_000.0


async def test_candidates_of_several_specialties_each_once_with_router_counters():
    store = MemoryPresenceStore()
    for user_id, specs in (("a", ["cardiology"]), ("b", ["cardiology", "critical-care"]),
                           ("c", ["dermatology"]), ("d", ["critical-care"])):
        await store.connect(user_id=user_id, conn_id="x", process_id="p",
                            profile=PresenceProfile(specs, ["en"], "UK"), now=T0)
    await store.set_on_call(user_id="d", on_call=True, now=T0)
    await store.consult_started(user_id="a", case_id="case1")
    await store.mark_offered(user_id="b", now=T0 + 1)
    got = await candidates(store, {"critical-care", "cardiology"}, now=T0 + 2)
    assert sorted(c.user_id for c in got) == ["a", "b", "d"]
    by_id = {c.user_id: c for c in got}
    assert by_id["a"].open_consults == 1 and by_id["b"].last_offered_at == T0 + 1
    assert by_id["d"].on_call and not by_id["a"].on_call
    await store.disconnect(user_id="b", conn_id="x", now=T0 + 3)
    assert [c.user_id for c in await candidates(store, {"cardiology"}, now=T0 + 3)] == ["a"]
