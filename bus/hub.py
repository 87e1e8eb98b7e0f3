"""The only module that talks to the channel layer: group names, the one batch a committed
transaction sends, and process-local fan-out (one channel-layer subscription per process
per room, one per process for everything addressed to users).

Group names never carry a user id: channel-layer payloads and Redis keys would otherwise
link accounts to sockets in a Redis dump (SECURITY.md), so a per-user group is named by a
keyed hash of the id.

Channels' plain pattern adds every socket to the room's group, so a message to a 1,000-member
room becomes 1,000 copies in the channel layer — each serialized, encrypted and pushed
through Redis, then popped one by one. Here each process joins the room's group once, with
its own channel, and a single pump task writes the ready frame to every local socket of the
room. A message costs one layer copy per process that has members in the room, whatever
their number (PERFORMANCE.md, lever 3).

Order is kept: one pump per process handles that process's room events in the order the
layer delivers them. Loss is repaired as before: the layer may drop under overload, every
event carries its seq, and clients re-join with ``since`` when they see a gap.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from crypto.personal import blind_index

log = logging.getLogger(__name__)

# How the hub keeps its delivery path alive (``RoomHub._watch``). Redis may drop connections
# or come back empty (restarted without persistence, flushed): channels-redis keeps group
# memberships in Redis (``<prefix>:group:<name>`` sorted sets), so after a flush this
# process would hear nothing until something subscribed it again. Every WATCH_S the hub
# sends a probe to a group only it belongs to; a probe not back within PROBE_LATE_S means the
# path is broken or the memberships are gone, and every group is added again (USERS_GROUP,
# the probe's, each room with a local socket) — as after any channel-layer error.
WATCH_S = 1.0
PROBE_LATE_S = 2.5
# Memberships are re-added this often anyway: channels-redis forgets them after its
# group_expiry (a day by default).
REFRESH_S = 600.0
# A publish that has not finished in this long is given up and kept for a retry: the reply
# to a stored message must not wait on a Redis that does not answer.
PUBLISH_TIMEOUT_S = 3.0
# Sends kept for a retry while the channel layer fails (the watchdog sends them in order once
# it works again). Beyond this many, the oldest frames are dropped first — clients repair
# gaps with ``since`` — and closes, evictions and invalidations last.
BACKLOG_MAX = 10_000
# How many kept sends one retry publishes at once.
BACKLOG_CHUNK = 500
PROBE_TYPE = "hub.probe"
# A pump still waiting in one receive while probes have been late this long is stuck on a
# connection that died without a reset (a network partition): it is restarted.
PUMP_STUCK_S = 10.0

# Every process's hub joins this group: events for users (offers, mentions, routing steps)
# travel as one batch per process — [(user group, frame), …] — instead of one channel-layer
# send per user; each hub hands the frames of its local users to their sockets. The same
# batch carries what used to need a channel per socket: closes (user and browser-session
# groups), room evictions and profile-cache invalidations — [(group, message dict), …] —
# so a socket costs no channel, no receive task and no group membership in the layer.
USERS_GROUP = "hub.users"
USERS_TYPE = "hub.users"
# Message types. Everything addressed to a user ("u.…") or a browser session ("s.…") travels
# in the one per-process batch of USERS_GROUP, in the order it was queued; sockets have no
# channel-layer channel of their own.
# Closes the sockets of a user or a session (suspension, ban, erasure, logout).
SESSION_CLOSE = "session.close"
# Carries a ready frame (text) that every receiving socket sends as it is.
FRAME = "socket.frame"
# Drops one room from every socket of a user (kick, room ban); see the consumer's room_evict.
ROOM_EVICT = "room.evict"
# Forgets a user's cached handshake profile on every process (physicians/socket_cache.py);
# the hub handles it itself instead of a socket.
PROFILE_CHANGED = "profile.changed"
# Types the hub hands to sockets (or, for PROFILE_CHANGED, to the profile cache) as they are.
CONTROL_TYPES = (SESSION_CLOSE, ROOM_EVICT, PROFILE_CHANGED)


def room_group(room_id: str) -> str:
    # Room ids are public ("lounge-cardiology", "case-…") and channel-layer safe: the wire
    # schema admits no other (bus.protocol.RoomId; a space or emoji would fail group_add).
    return f"r.{room_id}"


def user_group(user_id: str) -> str:
    return "u." + blind_index("socket-group", user_id)[:40]


def session_group(session_key: str) -> str:
    return "s." + blind_index("session-group", session_key)[:40]


def _to_hubs(group: str, message: dict) -> bool:
    """Whether the send travels in the transaction's one batch for every process's hub:
    every frame — to users, sessions and rooms alike — and the control messages. A group
    commit of 256 messages in 256 rooms is then one channel-layer send, not 256 (each
    several Redis round trips); every hub drops the rooms it has no socket in."""
    return message["type"] == FRAME or (group.startswith(("u.", "s."))
                                        and message["type"] in CONTROL_TYPES)


async def publish(items: list[tuple[str, dict]]) -> None:
    """Send what one committed transaction queued (bus/outbox.py): one batch for every
    process's hub, in queue order — a frame as (group, text), anything else as (group,
    message) for the socket's control handler — and the rest group by group, in order
    within each group."""
    layer = get_channel_layer()
    if layer is None or not items:
        return
    by_group: dict[str, list[dict]] = {}
    to_users: list[tuple[str, str | dict]] = []
    for group, message in items:
        if _to_hubs(group, message):
            to_users.append((group, message["frame"] if message["type"] == FRAME else message))
        else:
            by_group.setdefault(group, []).append(message)
    if to_users:
        by_group.setdefault(USERS_GROUP, []).append({"type": USERS_TYPE, "frames": to_users})

    async def in_order(group: str, messages: list[dict]) -> None:
        for message in messages:
            await layer.group_send(group, message)

    await asyncio.gather(*(in_order(g, m) for g, m in by_group.items()))


async def room_ephemeral(*, room_id: str, frame: str) -> None:
    """Best-effort event with nothing to commit (typing, moderator presence): while the
    channel layer fails it is dropped, never an error for the op that sent it."""
    group = room_group(room_id)
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await get_channel_layer().group_send(group, {"type": FRAME, "group": group,
                                                         "frame": frame})
    except Exception:
        log.debug("ephemeral event dropped", exc_info=True)


class Socket(Protocol):
    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None: ...

    async def control(self, message: dict) -> None:
        """A session.close or room.evict addressed to the socket's user or session."""


class RoomHub:
    """room id → this process's sockets in that room, fed by one layer channel.

    Its delivery path heals itself: every channel-layer error (receive, publish, subscribe)
    and every late probe marks the memberships for re-adding, which the watchdog does on
    its next pass; sends that failed wait in a backlog and go out, in order, once the layer
    works again. ``delivery_ok`` says whether the path works now (/readyz), ``layer_ok``
    whether the layer answers at all (handshakes).
    """

    def __init__(self) -> None:
        self._rooms: dict[str, set[Socket]] = {}
        self._users: dict[str, set[Socket]] = {}
        self._subscribing: dict[str, asyncio.Future] = {}
        self._channel: str | None = None
        self._probe_group: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Task | None = None
        # Whether the pump's last receive from the channel layer failed.
        self.receive_failing = False
        # Whether the last send, subscription or retry failed (cleared by a clean pass).
        self.send_failing = False
        # Whether the last probe is overdue.
        self.probe_late = False
        self._resync = False  # every membership must be added again
        self._had_failure = False  # since the last successful resync
        self._refreshed = 0.0
        self._probe_sent: float | None = None
        self._late_since: float | None = None
        self._receiving = False
        self._backlog: collections.deque[tuple[str, dict]] = collections.deque()
        self._draining = False
        self._receive_errors = 0
        # Called with a user group whose cached handshake profile must go (the profile
        # cache registers itself; rooms imports nothing from it).
        self.forget_listeners: list[Callable[[str], None]] = []
        # Called after the memberships were restored following a failure: anything sent
        # meanwhile may have reached nobody (a flushed Redis drops sends silently), so
        # caches fed by invalidations start over and open sockets are checked again.
        self.resync_listeners: list[Callable[[], Any]] = []

    def layer_ok(self) -> bool:
        """Whether the channel layer answers this process: its last receive and its last
        send worked (a handshake is refused with "try again later" while not)."""
        return not (self.receive_failing or self.send_failing)

    def delivery_ok(self) -> bool:
        """``layer_ok`` and the last probe came back in time: events reach this process
        (/readyz). A late probe alone does not refuse handshakes: under a burst the pump
        may lag a few seconds, and the memberships are restored meanwhile."""
        return self.layer_ok() and not self.probe_late

    def _failed(self) -> None:
        self.send_failing = True
        self._resync = True
        self._had_failure = True

    async def _ensure(self) -> str:
        loop = asyncio.get_running_loop()
        if self._ready is None or self._loop is not loop:
            # A new event loop (tests run several) gets its own channel, pump and watchdog.
            # The first caller starts them in a task of their own (a caller that gives up
            # waiting cannot leave them half started); everyone else waits for the same one.
            self._rooms.clear()
            self._users.clear()
            self._subscribing.clear()
            self._backlog.clear()
            self._loop = loop
            self.receive_failing = self.send_failing = self.probe_late = False
            self._resync = self._had_failure = self._draining = False
            self._probe_sent = self._late_since = None
            self._ready = loop.create_task(self._start(loop), name="room-hub-start")
        return await asyncio.shield(self._ready)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> str:
        # The default prefix on purpose: channels-redis runs one receive loop per process
        # for one non-local name ("specific.<client>!"). No I/O here.
        channel = self._channel = await get_channel_layer().new_channel()
        self._probe_group = "hub.probe." + uuid.uuid4().hex
        self._tasks = [loop.create_task(self._pump(channel), name="room-hub"),
                       loop.create_task(self._watch(), name="room-hub-watch")]
        try:
            await self._subscribe_all()
        except Exception:  # Redis is down: the watchdog subscribes once it is back
            log.warning("room hub could not subscribe; retrying", exc_info=True)
            self._failed()
        self._refreshed = loop.time()
        return channel

    def _running_here(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return (self._loop is loop and self._ready is not None and self._ready.done()
                and any(not t.done() for t in self._tasks))

    async def user_join(self, user_group: str, socket: Socket) -> None:
        """Deliver what is addressed to ``user_group`` (a user's or a browser session's
        group) to ``socket``. Returns once this process receives the batches (when the
        layer works: see ``delivery_ok``), so a close sent after this returns reaches the
        socket."""
        await self._ensure()
        self._users.setdefault(user_group, set()).add(socket)

    def forget_user(self, user_group: str) -> None:
        """Tell the caches of this process to forget what they hold for ``user_group`` (a
        user's group: profile and sessions; a session's group: that session)."""
        for listener in self.forget_listeners:
            try:
                listener(user_group)
            except Exception:
                log.exception("profile forget failed")

    def user_leave(self, user_group: str, socket: Socket) -> None:
        sockets = self._users.get(user_group)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._users[user_group]

    def sockets(self) -> set[Socket]:
        """Every socket of this process that receives what is addressed to its user."""
        return {socket for sockets in self._users.values() for socket in sockets}

    async def join(self, room_group: str, socket: Socket) -> None:
        """Deliver the room's events to ``socket``. Returns once this process is subscribed,
        so history read afterwards cannot miss an event; raises the channel layer's error
        (and leaves the socket out) when the subscription fails."""
        channel = await self._ensure()
        members = self._rooms.setdefault(room_group, set())
        members.add(socket)
        pending = self._subscribing.get(room_group)
        if pending is None or (pending.done() and (pending.cancelled()
                                                   or pending.exception() is not None)):
            pending = self._subscribing[room_group] = asyncio.ensure_future(
                get_channel_layer().group_add(room_group, channel))
        try:
            await asyncio.shield(pending)
        except Exception:
            self._failed()
            members.discard(socket)
            if not members and self._rooms.get(room_group) is members:
                del self._rooms[room_group]
            raise

    async def leave(self, room_group: str, socket: Socket) -> None:
        members = self._rooms.get(room_group)
        if not members or socket not in members:
            return
        members.discard(socket)
        if not members:
            del self._rooms[room_group]
            self._subscribing.pop(room_group, None)
            if self._channel is not None:
                try:
                    await get_channel_layer().group_discard(room_group, self._channel)
                except Exception:  # a stale membership only brings events this hub drops
                    log.debug("group_discard failed", exc_info=True)

    def local_sockets(self, room_group: str) -> int:
        return len(self._rooms.get(room_group, ()))

    # --- sending ------------------------------------------------------------------------
    async def send(self, items: list[tuple[str, dict]]) -> None:
        """Publish what one committed transaction queued (``publish``). Never raises: when
        the channel layer fails — or earlier sends still wait for it — the items join the
        backlog, which the watchdog sends in order once the layer works again. Outside a
        process whose hub runs (a management command) a failed send is logged and lost."""
        if not items:
            return
        if self._running_here() and (self._backlog or self._draining):
            self._keep(items)
            return
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await publish(items)
        except Exception:
            log.warning("publishing %d events failed; kept for a retry", len(items),
                        exc_info=log.isEnabledFor(logging.DEBUG))
            if self._running_here():
                self._failed()
                self._keep(items)
            else:
                log.error("%d events were not published (no hub runs here to retry them)",
                          len(items))

    def _keep(self, items: list[tuple[str, dict]]) -> None:
        self._backlog.extend(items)
        if len(self._backlog) > BACKLOG_MAX:
            kept = [item for item in self._backlog if item[1].get("type") != FRAME]
            kept = kept[-BACKLOG_MAX:]
            log.error("delivery backlog full: dropped %d events (clients repair gaps with "
                      "since)", len(self._backlog) - len(kept))
            self._backlog = collections.deque(kept)

    async def _retry_backlog(self) -> None:
        """Send the kept items, oldest first; stops (raising) at the first failure."""
        self._draining = True
        try:
            while self._backlog:
                chunk = [self._backlog.popleft()
                         for _ in range(min(BACKLOG_CHUNK, len(self._backlog)))]
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                        await publish(chunk)
                except BaseException:
                    self._backlog.extendleft(reversed(chunk))
                    raise
        finally:
            self._draining = False

    # --- receiving ----------------------------------------------------------------------
    async def _pump(self, channel: str) -> None:
        layer = get_channel_layer()
        pause = 0.1
        while True:
            self._receiving = True
            try:
                message: dict[str, Any] = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis blip: resubscribe, keep pumping; clients use since
                self._receiving = False
                self._receive_errors += 1
                if self._receive_errors == 1:
                    log.exception("room hub receive failed")
                else:
                    log.debug("room hub receive failed again", exc_info=True)
                self.receive_failing = True
                self._resync = self._had_failure = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            self._receiving = False
            pause = 0.1
            if self._receive_errors:
                log.warning("room hub receives again after %d errors", self._receive_errors)
                self._receive_errors = 0
            self.receive_failing = False
            if message.get("type") == PROBE_TYPE:
                self._probe_sent = self._late_since = None
                self.probe_late = False
                continue
            if message.get("type") == USERS_TYPE:
                pairs = message.get("frames", ())
            else:
                pairs = ((message.get("group"), message.get("frame")),)
            for group, frame in pairs:
                if isinstance(frame, dict):
                    await self._control(group, frame)
                    continue
                targets = self._rooms if group.startswith("r.") else self._users
                for socket in tuple(targets.get(group, ())):
                    try:
                        await socket.send(text_data=frame)
                    except Exception:  # a socket closing mid-send must not stall the rest
                        log.debug("send to a closing socket failed", exc_info=True)

    async def _control(self, group: str, message: dict) -> None:
        kind = message.get("type")
        # The cache forgets before any socket closes: a client that reconnects as soon as
        # its socket drops must meet the new state.
        if kind in (PROFILE_CHANGED, SESSION_CLOSE):
            self.forget_user(group)
        if kind == PROFILE_CHANGED:
            return
        for socket in tuple(self._users.get(group, ())):
            try:
                await socket.control(message)
            except Exception:
                log.debug("control to a closing socket failed", exc_info=True)

    # --- keeping the path alive ----------------------------------------------------------
    async def _subscribe_all(self) -> None:
        layer = get_channel_layer()
        groups = [USERS_GROUP, self._probe_group, *self._rooms]
        for group in groups:
            await layer.group_add(group, self._channel)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                await self._check(loop.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self.send_failing:
                    log.warning("room hub check failed; retrying", exc_info=True)
                self._failed()

    async def _check(self, now: float) -> None:
        """One watchdog pass: notice a late probe, restore the memberships when needed,
        retry the backlog, send the next probe. Raises on the first channel-layer error."""
        if self._probe_sent is not None and now - self._probe_sent > PROBE_LATE_S:
            if not self.probe_late:
                log.warning("room hub probe is late: subscribing every group again")
                self._late_since = self._probe_sent
            self.probe_late = True
            self._resync = self._had_failure = True
            self._probe_sent = None
            if self._receiving and now - self._late_since > PUMP_STUCK_S:
                log.warning("room hub pump is stuck in a receive: restarting it")
                self._late_since = now
                self._tasks[0].cancel()
                self._tasks[0] = asyncio.get_running_loop().create_task(
                    self._pump(self._channel), name="room-hub")
        if self._resync or now - self._refreshed > REFRESH_S:
            self._resync = False
            try:
                await self._subscribe_all()
            except BaseException:
                self._resync = True
                raise
            self._refreshed = now
        if self._backlog:
            await self._retry_backlog()
        if self._probe_sent is None:
            self._probe_sent = now
            await get_channel_layer().group_send(self._probe_group, {"type": PROBE_TYPE})
        if self.send_failing:
            log.warning("room hub sends again")
        self.send_failing = False
        if self._had_failure and not self.receive_failing:
            self._had_failure = False
            for listener in self.resync_listeners:
                try:
                    result = listener()
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:
                    log.exception("resync listener failed")


hub = RoomHub()


def layer_ok() -> bool:
    """Whether the channel layer answers this process's hub (``RoomHub.layer_ok``)."""
    return hub.layer_ok()


async def deliver(items: list[tuple[str, dict]]) -> None:
    """Publish what one committed transaction queued; never raises (``RoomHub.send``)."""
    await hub.send(items)


def listening() -> bool:
    """Whether this process's hub runs on the current loop, so invalidations (a logout's
    session.close, a profile change) reach this process's caches. daphne has no startup hook:
    the hub starts with the first socket. A cache fed by those invalidations stores nothing
    while this is False (physicians/socket_cache.py): a process that had served tickets but
    never a socket kept a logged-out session until its TTL."""
    return hub._running_here()


async def room_subscribe(room_id: str, socket: Socket) -> None:
    """Let ``socket`` receive the room's events (through this process's hub)."""
    await hub.join(room_group(room_id), socket)


async def room_unsubscribe(room_id: str, socket: Socket) -> None:
    await hub.leave(room_group(room_id), socket)


async def user_subscribe(group: str, socket: Socket) -> None:
    """Let ``socket`` receive what is addressed to ``group`` — its user's (``user_group``)
    or its browser session's (``session_group``) — through this process's hub: frames,
    closes, room evictions."""
    await hub.user_join(group, socket)


def user_unsubscribe(group: str, socket: Socket) -> None:
    hub.user_leave(group, socket)
