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
import logging
from collections.abc import Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from crypto.personal import blind_index

log = logging.getLogger(__name__)

# channels-redis forgets group memberships after its group_expiry (a day by default); a
# long-lived process refreshes its subscriptions well before that.
REFRESH_S = 3600.0
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
    """Best-effort event with nothing to commit (typing, moderator presence)."""
    group = room_group(room_id)
    await get_channel_layer().group_send(group, {"type": FRAME, "group": group, "frame": frame})


class Socket(Protocol):
    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None: ...

    async def control(self, message: dict) -> None:
        """A session.close or room.evict addressed to the socket's user or session."""


class RoomHub:
    """room id → this process's sockets in that room, fed by one layer channel."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[Socket]] = {}
        self._users: dict[str, set[Socket]] = {}
        self._subscribing: dict[str, asyncio.Future] = {}
        self._channel: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Future | None = None
        # Whether the last receive from the channel layer failed (readyz reports it).
        self.receive_failing = False
        # Called with a user group whose cached handshake profile must go (the profile
        # cache registers itself; rooms imports nothing from it).
        self.forget_listeners: list[Callable[[str], None]] = []

    async def _ensure(self) -> str:
        loop = asyncio.get_running_loop()
        if self._ready is None or self._loop is not loop:
            # A new event loop (tests run several) gets its own channel and pump. The first
            # caller starts it; everyone else (a burst of handshakes) waits for the same one.
            self._rooms.clear()
            self._users.clear()
            self._subscribing.clear()
            self._loop = loop
            self._channel = None
            self._ready = loop.create_future()
            try:
                # The default prefix on purpose: channels-redis runs one receive loop per
                # process for one non-local name ("specific.<client>!").
                channel = await get_channel_layer().new_channel()
                self._tasks = [loop.create_task(self._pump(channel), name="room-hub"),
                               loop.create_task(self._refresh(), name="room-hub-refresh")]
                await get_channel_layer().group_add(USERS_GROUP, channel)
            except BaseException as exc:
                ready, self._ready = self._ready, None
                ready.set_exception(exc)
                ready.exception()
                raise
            self._channel = channel
            self._ready.set_result(channel)
        return await asyncio.shield(self._ready)

    async def user_join(self, user_group: str, socket: Socket) -> None:
        """Deliver what is addressed to ``user_group`` (a user's or a browser session's
        group) to ``socket``. Returns once this process receives the batches, so a close
        sent after this returns reaches the socket."""
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

    async def join(self, room_group: str, socket: Socket) -> None:
        """Deliver the room's events to ``socket``. Returns once this process is subscribed,
        so history read afterwards cannot miss an event."""
        channel = await self._ensure()
        members = self._rooms.setdefault(room_group, set())
        members.add(socket)
        pending = self._subscribing.get(room_group)
        if pending is None:
            pending = self._subscribing[room_group] = asyncio.ensure_future(
                get_channel_layer().group_add(room_group, channel))
        await asyncio.shield(pending)

    async def leave(self, room_group: str, socket: Socket) -> None:
        members = self._rooms.get(room_group)
        if not members or socket not in members:
            return
        members.discard(socket)
        if not members:
            del self._rooms[room_group]
            self._subscribing.pop(room_group, None)
            if self._channel is not None:
                await get_channel_layer().group_discard(room_group, self._channel)

    def local_sockets(self, room_group: str) -> int:
        return len(self._rooms.get(room_group, ()))

    async def _pump(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message: dict[str, Any] = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis blip: keep pumping; clients repair gaps with since
                log.exception("room hub receive failed")
                self.receive_failing = True
                await asyncio.sleep(0.5)
                continue
            self.receive_failing = False
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

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            layer = get_channel_layer()
            for group in [USERS_GROUP, *self._rooms]:
                await layer.group_add(group, self._channel)


hub = RoomHub()


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
