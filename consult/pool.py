"""Who the router may ask, read from live presence: the one function the routing driver
(consult/driver.py) and the network simulator (sim/) both call.

No Django here: it takes the presence store it reads, so the simulator runs it on a
``MemoryPresenceStore`` with a fake clock and production on the process's store.
"""

from __future__ import annotations

from collections.abc import Iterable

from consult.triage import Candidate, candidate_from_presence
from presence.store import PresenceStore


async def candidates(store: PresenceStore, specialties: Iterable[str], *,
                     now: float) -> list[Candidate]:
    """Online physicians of any of ``specialties``, as the router sees them (each once)."""
    seen: dict[str, Candidate] = {}
    for slug in sorted(specialties):
        for p in await store.online(specialty=slug, now=now):
            seen.setdefault(p.user_id, candidate_from_presence(p))
    return list(seen.values())
