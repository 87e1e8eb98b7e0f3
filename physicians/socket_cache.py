"""What a socket handshake needs about a user, cached in this process's memory.

A handshake used to read the user, the physician with its specialties and unwrap the
personal key to open three fields — on Django's one sync thread, ~1 ms each, serializing
every open (docs/benchmarks.md). Physicians reconnect far more often than their profile
changes, so the result is kept here for ``CURBSIDE_SOCKET_PROFILE_TTL_S`` seconds.

Only users who *may* connect are cached: a refusal (pending, suspended, banned, unknown) is
read again at every attempt, so lifting one (reinstatement, unban) needs no invalidation.
Everything that revokes access or changes the profile forgets the entry on **every**
process: ``bus.outbox.profile_changed`` (and every ``close_user_sockets``: suspension,
network ban, erasure) goes out after commit through the hub's ``hub.users`` group, which
every process's hub receives (bus/hub.py); the hub calls ``forget`` before it closes any
socket. The TTL is the backstop for a change made outside the services (a SQL console).

Decrypted personal fields (the welcome's display name, e-mail, names) stay in this
process's memory; they are never written to Redis or the database.

Entries are keyed by the user's socket group name (``bus.hub.user_group``, a keyed hash
of the id) — the name the invalidation carries, so no user id travels in the channel layer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from bus.hub import hub, listening, session_group, user_group
from physicians.selectors import SocketIdentity, session_user

# Bound on cached users per process: enough for every user a process serves at once; the
# least recently used go first.
MAX_ENTRIES = 20_000

Loaded = SocketIdentity | tuple[int, str]


class SocketProfiles:
    """user group → (SocketIdentity, monotonic deadline), LRU-bounded, TTL-limited.

    ``get`` runs on the event loop; ``forget`` may also run on a sync thread (the outbox
    flush after commit), so changes take a lock. A load that started before a ``forget``
    is used for its own handshake but not stored (``epoch``): a stale read cannot outlive
    the invalidation that raced it.
    """

    def __init__(self, *, ttl_s: float, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[SocketIdentity, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0
        self._loading: dict[str, asyncio.Future] = {}

    def get(self, key: str) -> SocketIdentity | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[1] <= self._clock():
            with self._lock:
                if self._entries.get(key) is hit:
                    del self._entries[key]
            return None
        return hit[0]

    def put(self, key: str, identity: SocketIdentity, *, epoch: int) -> bool:
        """Store unless something was forgotten since ``epoch`` (a racing invalidation)."""
        if self.ttl_s <= 0:
            return False
        with self._lock:
            if epoch != self._epoch:
                return False
            self._entries[key] = (identity, self._clock() + self.ttl_s)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return True

    def forget(self, key: str) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    @property
    def epoch(self) -> int:
        return self._epoch

    def __len__(self) -> int:
        return len(self._entries)

    async def identity(self, key: str, load: Callable[[], Awaitable[Loaded]]) -> Loaded:
        """The cached identity, else ``load()``'s result (stored when it is one). Concurrent
        handshakes of one user share a single load."""
        hit = self.get(key)
        if hit is not None:
            return hit
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        epoch = self._epoch
        future = self._loading[key] = asyncio.get_running_loop().create_future()
        try:
            result = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._loading.pop(key, None)
        if isinstance(result, SocketIdentity):
            self.put(key, result, epoch=epoch)
        future.set_result(result)
        return result


class Sessions:
    """Browser session → its user, so a ticket request or a cookie handshake need not read
    the session and the user again: session group → (user id, user group, deadline).

    Only sessions that are logged in as an active user are kept, until the session itself
    expires or ``ttl_s`` passes. Logout (a ``session.close`` for the session's group), and
    anything that forgets the user's profile (ban, erasure, a password or activity change),
    forgets them on every process.
    """

    def __init__(self, *, ttl_s: float, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}  # user group → its cached session keys
        self._lock = threading.Lock()
        self._epoch = 0

    def get(self, key: str) -> str | None:
        hit = self._entries.get(key)
        if hit is None or hit[2] <= self._clock():
            return None
        return hit[0]

    def _drop(self, key: str) -> None:  # with the lock held
        entry = self._entries.pop(key, None)
        if entry is not None:
            keys = self._by_user.get(entry[1])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_user[entry[1]]

    def put(self, key: str, *, user_id: str, user_group: str, expires_at: float,
            epoch: int) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if epoch != self._epoch:
                return
            self._drop(key)
            self._entries[key] = (user_id, user_group,
                                  min(expires_at, self._clock() + self.ttl_s))
            self._by_user.setdefault(user_group, set()).add(key)
            while len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))

    def forget(self, key: str) -> None:
        with self._lock:
            self._epoch += 1
            self._drop(key)

    def forget_user(self, user_group: str) -> None:
        with self._lock:
            self._epoch += 1
            for key in list(self._by_user.get(user_group, ())):
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._by_user.clear()

    @property
    def epoch(self) -> int:
        return self._epoch

    def __len__(self) -> int:
        return len(self._entries)


_profiles: SocketProfiles | None = None
_sessions: Sessions | None = None


def profiles() -> SocketProfiles:
    """This process's cache (built from settings on first use)."""
    global _profiles
    if _profiles is None:
        from django.conf import settings

        _profiles = SocketProfiles(ttl_s=settings.CURBSIDE_SOCKET_PROFILE_TTL_S)
    return _profiles


def sessions() -> Sessions:
    global _sessions
    if _sessions is None:
        from django.conf import settings

        _sessions = Sessions(ttl_s=settings.CURBSIDE_SOCKET_PROFILE_TTL_S)
    return _sessions


async def session_user_id(session_key: str) -> str | None:
    """The user a browser session is logged in as (cached), or None."""
    key = session_group(session_key)
    cache = sessions()
    user_id = cache.get(key)
    if user_id is not None:
        return user_id
    epoch = cache.epoch
    found = await database_sync_to_async(session_user)(session_key=session_key)
    if found is None:
        return None
    user_id, expires_at = found
    if not listening():
        # No hub here yet, so a logout on another process could not reach this cache: read
        # the session every time until the first socket starts the hub.
        return user_id
    cache.put(key, user_id=user_id, user_group=user_group(user_id), expires_at=expires_at,
              epoch=epoch)
    return user_id


def forget(key: str) -> None:
    """Drop what is cached for a user (``key`` is their socket group, ``u.…``: profile and
    sessions) or for one browser session (``s.…``); called by the hub."""
    if key.startswith("s."):
        if _sessions is not None:
            _sessions.forget(key)
        return
    if _profiles is not None:
        _profiles.forget(key)
    if _sessions is not None:
        _sessions.forget_user(key)


def reset() -> None:
    """Forget everything (tests)."""
    global _profiles, _sessions
    _profiles = None
    _sessions = None


def forget_all() -> None:
    """Drop every cached profile and session: the hub calls it after its channel layer
    failed, when invalidations sent meanwhile may have reached nobody."""
    if _profiles is not None:
        _profiles.clear()
    if _sessions is not None:
        _sessions.clear()


def _listen() -> None:
    # The hub hears every process's invalidations (bus/hub.py) and hands them here.
    if forget not in hub.forget_listeners:
        hub.forget_listeners.append(forget)
    if forget_all not in hub.resync_listeners:
        hub.resync_listeners.append(forget_all)


_listen()
