"""Live presence of physicians: who is connected, from which daphne processes, in what state.

One interface (``PresenceStore``) with two implementations and one contract test suite:

- ``MemoryPresenceStore`` for the embedded default (one process, nothing to install);
- ``RedisPresenceStore`` (``presence/store_redis.py``) when several daphne processes share a
  Redis.

Nothing here reads a clock. Every call takes ``now`` (seconds since the epoch, a float) and
all expiry is computed from it, so tests advance a fake clock and the Redis implementation
needs no server-side time.

Presence is the dominant load of a chat server (Zulip measured about a third of all requests),
so a heartbeat is one write (one Redis round trip) and mutating calls return a
``PresenceChange`` only when something others can see changed — online/offline, the effective
status or the on-call flag. The caller fans out that change, and only to who needs it (lounge
online counts, a case poster watching candidates); ``None`` means "tell nobody".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

# The client pings every HEARTBEAT_INTERVAL_S (PROTOCOL.md: ``ping`` refreshes presence).
HEARTBEAT_INTERVAL_S = 25.0
# A connection not heartbeated for three intervals is gone: two lost pings are tolerated (a
# slow network, a GC pause), the third means the socket or its whole daphne process died.
# This is the bound on how long a killed process's connections stay visible, given that
# someone calls ``expire`` at least every EXPIRE_SWEEP_S (see docs/presence.md).
CONNECTION_TTL_S = 3 * HEARTBEAT_INTERVAL_S
# How often a driver should call ``expire``; the bound above grows by at most this much.
EXPIRE_SWEEP_S = 5.0
# No activity (a client-reported interaction, a status change, a new connection) for this
# long and an "available" physician shows as "away", so nobody offers an urgent case to an
# unattended screen. Computed from ``now`` on every read; there is no timer.
IDLE_AWAY_S = 10 * 60.0

Status = Literal["available", "busy", "away"]
STATUSES: frozenset[str] = frozenset({"available", "busy", "away"})


class UnknownConnection(Exception):
    """A heartbeat for a connection the store does not know (never connected, or expired).

    The caller should ``connect`` again: its socket outlived the connection's deadline.
    """

    def __init__(self, user_id: str, conn_id: str) -> None:
        super().__init__(f"unknown connection {conn_id!r} of user {user_id!r}")
        self.user_id = user_id
        self.conn_id = conn_id


class NotOnline(Exception):
    """``set_status`` / ``set_on_call`` for a user with no live connection."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} is not online")
        self.user_id = user_id


@dataclass(frozen=True, slots=True)
class PresenceProfile:
    """What a physician brings to presence from their account, given at ``connect``."""

    specialties: list[str]
    languages: list[str]
    country: str


@dataclass(frozen=True, slots=True)
class Connection:
    conn_id: str
    process_id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Presence:
    """One online physician as others see them at ``now``.

    ``status`` is the effective status (``away`` once idle); ``chosen_status`` is what the
    physician set. ``open_consults`` and ``last_offered_at`` are the router's counters.
    """

    user_id: str
    status: Status
    chosen_status: Status
    on_call: bool
    specialties: tuple[str, ...]
    languages: tuple[str, ...]
    country: str
    last_active_at: float
    connections: tuple[Connection, ...]
    open_consults: int = 0
    last_offered_at: float | None = None

    @property
    def seen(self) -> Seen:
        """The part of presence that others are told about when it changes."""
        return Seen(self.status, self.on_call)


class Seen(NamedTuple):
    """What subscribers were told about a user: the part of presence worth fanning out."""

    status: Status
    on_call: bool


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A change others can see.

    ``previous`` is what subscribers last heard (None: they thought the user offline);
    ``after`` is the user now (None: went offline).
    """

    user_id: str
    previous: Seen | None
    after: Presence | None

    @property
    def went_online(self) -> bool:
        return self.previous is None and self.after is not None

    @property
    def went_offline(self) -> bool:
        return self.after is None


def effective_status(chosen: str, last_active_at: float, now: float) -> Status:
    """``away`` if chosen so, or if idle for IDLE_AWAY_S; otherwise what the user chose."""
    if chosen == "away" or now - last_active_at >= IDLE_AWAY_S:
        return "away"
    return chosen  # type: ignore[return-value]


def check_status(status: str) -> Status:
    """Raises: ValueError for anything but available / busy / away."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}, not {status!r}")
    return status  # type: ignore[return-value]


class PresenceStore(Protocol):
    """Live presence across every daphne process. Every method is one round trip in Redis.

    Calling order: ``connect`` once per socket, then ``heartbeat`` every
    HEARTBEAT_INTERVAL_S, ``disconnect`` when the socket closes. Some driver calls ``expire``
    every EXPIRE_SWEEP_S to sweep the connections of processes that died without saying so.
    Mutating calls return a ``PresenceChange`` or ``None`` when nothing visible changed.
    """

    async def connect(
        self, *, user_id: str, conn_id: str, process_id: str, profile: PresenceProfile, now: float
    ) -> PresenceChange | None: ...

    async def heartbeat(
        self, *, user_id: str, conn_id: str, now: float, active: bool = False
    ) -> PresenceChange | None:
        """Extend the connection's deadline; ``active`` marks a user interaction.

        Raises:
            UnknownConnection: the connection expired or never existed; connect again.
        """
        ...

    async def disconnect(self, *, user_id: str, conn_id: str, now: float) -> PresenceChange | None: ...

    async def set_status(self, *, user_id: str, status: str, now: float) -> PresenceChange | None:
        """Raises: ValueError for an unknown status; NotOnline without a live connection."""
        ...

    async def set_on_call(self, *, user_id: str, on_call: bool, now: float) -> PresenceChange | None:
        """Raises: NotOnline without a live connection."""
        ...

    async def get(self, user_id: str, *, now: float) -> Presence | None: ...

    async def online(self, *, specialty: str | None = None, now: float) -> list[Presence]:
        """Everyone online (with ``specialty`` among their specialties), ordered by user id."""
        ...

    async def online_count(self, *, specialty: str | None = None, now: float) -> int: ...

    async def expire(self, *, now: float) -> list[str]:
        """Drop connections past their deadline; return the users who went offline."""
        ...

    async def consults_open(self, user_id: str) -> int: ...

    async def consult_started(self, *, user_id: str, case_id: str | None = None) -> int:
        """One more open consult for ``user_id``; returns their count. With ``case_id`` the
        count is held per case: starting the same case again counts it once."""
        ...

    async def consult_finished(self, *, user_id: str, case_id: str | None = None) -> int:
        """One consult fewer (never below zero); returns the count. With ``case_id`` only a
        case the user holds is released, and only once: a replayed or racing release of the
        same case (resolve then close, two processes) changes nothing."""
        ...

    async def consults_held(self, user_id: str) -> set[str]:
        """The case ids ``user_id`` holds capacity for (those started with a ``case_id``)."""
        ...

    async def holders(self) -> dict[str, set[str]]:
        """Every user holding capacity for at least one case, with those case ids: what the
        capacity reconciliation (``consult.driver.capacity_reconcile``) compares with the
        database."""
        ...

    async def mark_offered(self, *, user_id: str, now: float) -> None: ...

    async def mark_offered_many(self, *, user_ids: list[str], now: float) -> None:
        """``mark_offered`` for each of ``user_ids`` (an urgent round offers hundreds at
        once): one round trip in Redis."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _User:
    profile: PresenceProfile
    chosen_status: Status
    on_call: bool
    last_active_at: float
    # conn_id -> Connection
    connections: dict[str, Connection] = field(default_factory=dict)
    # What subscribers were last told, so only real changes are reported.
    reported: Seen | None = None


class MemoryPresenceStore:
    """The embedded implementation: one process, plain dicts, no locks needed.

    Every method runs to completion without an ``await`` in between, so asyncio cannot
    interleave two of them.
    """

    def __init__(self, *, connection_ttl_s: float = CONNECTION_TTL_S) -> None:
        self._ttl = connection_ttl_s
        self._users: dict[str, _User] = {}
        self._open: dict[str, int] = {}
        self._held: dict[str, set[str]] = {}
        self._offered: dict[str, float] = {}

    def _live(self, user: _User, now: float) -> tuple[Connection, ...]:
        return tuple(
            sorted(
                (c for c in user.connections.values() if c.expires_at > now),
                key=lambda c: c.conn_id,
            )
        )

    def _view(self, user_id: str, now: float) -> Presence | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        live = self._live(user, now)
        if not live:
            return None
        return Presence(
            user_id=user_id,
            status=effective_status(user.chosen_status, user.last_active_at, now),
            chosen_status=user.chosen_status,
            on_call=user.on_call,
            specialties=tuple(user.profile.specialties),
            languages=tuple(user.profile.languages),
            country=user.profile.country,
            last_active_at=user.last_active_at,
            connections=live,
            open_consults=self._open.get(user_id, 0),
            last_offered_at=self._offered.get(user_id),
        )

    def _report(self, user_id: str, now: float) -> PresenceChange | None:
        """Compare what subscribers last heard with the state at ``now``; record the new one."""
        after = self._view(user_id, now)
        user = self._users.get(user_id)
        previously = user.reported if user is not None else None
        current = after.seen if after is not None else None
        if after is None:
            self._users.pop(user_id, None)
        elif user is not None:
            user.reported = current
        if previously == current:
            return None
        return PresenceChange(user_id=user_id, previous=previously, after=after)

    async def connect(
        self, *, user_id: str, conn_id: str, process_id: str, profile: PresenceProfile, now: float
    ) -> PresenceChange | None:
        before = self._view(user_id, now)
        user = self._users.get(user_id)
        if user is None or before is None:
            # Offline, or only dead connections left: start afresh but keep what
            # subscribers were last told so an unseen blip reports nothing.
            reported = user.reported if user is not None else None
            user = _User(profile, "available", False, now, reported=reported)
            self._users[user_id] = user
        user.profile = profile
        user.last_active_at = now
        user.connections[conn_id] = Connection(conn_id, process_id, now + self._ttl)
        return self._report(user_id, now)

    async def heartbeat(
        self, *, user_id: str, conn_id: str, now: float, active: bool = False
    ) -> PresenceChange | None:
        user = self._users.get(user_id)
        conn = user.connections.get(conn_id) if user is not None else None
        if user is None or conn is None or conn.expires_at <= now:
            raise UnknownConnection(user_id, conn_id)
        user.connections[conn_id] = Connection(conn_id, conn.process_id, now + self._ttl)
        if active:
            user.last_active_at = now
        return self._report(user_id, now)

    async def disconnect(self, *, user_id: str, conn_id: str, now: float) -> PresenceChange | None:
        user = self._users.get(user_id)
        if user is None:
            return None
        user.connections.pop(conn_id, None)
        return self._report(user_id, now)

    def _online_user(self, user_id: str, now: float) -> _User:
        if self._view(user_id, now) is None:
            raise NotOnline(user_id)
        return self._users[user_id]

    async def set_status(self, *, user_id: str, status: str, now: float) -> PresenceChange | None:
        chosen = check_status(status)
        user = self._online_user(user_id, now)
        user.chosen_status = chosen
        user.last_active_at = now
        return self._report(user_id, now)

    async def set_on_call(self, *, user_id: str, on_call: bool, now: float) -> PresenceChange | None:
        user = self._online_user(user_id, now)
        user.on_call = on_call
        user.last_active_at = now
        return self._report(user_id, now)

    async def get(self, user_id: str, *, now: float) -> Presence | None:
        return self._view(user_id, now)

    async def online(self, *, specialty: str | None = None, now: float) -> list[Presence]:
        result = []
        for user_id in sorted(self._users):
            user = self._users[user_id]
            if specialty is not None and specialty not in user.profile.specialties:
                continue
            view = self._view(user_id, now)
            if view is not None:
                result.append(view)
        return result

    async def online_count(self, *, specialty: str | None = None, now: float) -> int:
        return len(await self.online(specialty=specialty, now=now))

    async def expire(self, *, now: float) -> list[str]:
        gone = []
        for user_id in sorted(self._users):
            user = self._users[user_id]
            dead = [c for c, conn in user.connections.items() if conn.expires_at <= now]
            if not dead:
                continue
            for conn_id in dead:
                del user.connections[conn_id]
            if not user.connections:
                del self._users[user_id]
                gone.append(user_id)
        return gone

    async def consults_open(self, user_id: str) -> int:
        return self._open.get(user_id, 0)

    async def consult_started(self, *, user_id: str, case_id: str | None = None) -> int:
        if case_id is not None:
            held = self._held.setdefault(user_id, set())
            if case_id in held:
                return self._open.get(user_id, 0)
            held.add(case_id)
        self._open[user_id] = self._open.get(user_id, 0) + 1
        return self._open[user_id]

    async def consult_finished(self, *, user_id: str, case_id: str | None = None) -> int:
        if case_id is not None:
            held = self._held.get(user_id, set())
            if case_id not in held:
                return self._open.get(user_id, 0)
            held.discard(case_id)
        # Never below zero: a finish replayed after a restart must not grant extra capacity.
        self._open[user_id] = max(0, self._open.get(user_id, 0) - 1)
        return self._open[user_id]

    async def consults_held(self, user_id: str) -> set[str]:
        return set(self._held.get(user_id, set()))

    async def holders(self) -> dict[str, set[str]]:
        return {user_id: set(held) for user_id, held in self._held.items() if held}

    async def mark_offered(self, *, user_id: str, now: float) -> None:
        self._offered[user_id] = now

    async def mark_offered_many(self, *, user_ids: list[str], now: float) -> None:
        for user_id in user_ids:
            await self.mark_offered(user_id=user_id, now=now)

    async def close(self) -> None:
        return None


def presence_store_from_url(redis_url: str | None, *, prefix: str,
                            connection_ttl_s: float = CONNECTION_TTL_S,
                            max_connections: int = 200) -> PresenceStore:
    """The Redis store when ``redis_url`` is set, else the in-memory one (embedded mode).
    ``connection_ttl_s`` is three heartbeat intervals of the deployment."""
    if not redis_url:
        return MemoryPresenceStore(connection_ttl_s=connection_ttl_s)
    from presence.store_redis import RedisPresenceStore

    return RedisPresenceStore.from_url(redis_url, prefix=prefix, connection_ttl_s=connection_ttl_s,
                                       max_connections=max_connections)
