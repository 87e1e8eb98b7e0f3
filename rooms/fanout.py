"""The only module that talks to the channel layer. Group names live here.

Group names never carry a user id: channel-layer payloads and Redis keys would otherwise
link accounts to sockets in a Redis dump (SECURITY.md), so a per-user group is named by a
keyed hash of the id.
"""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from crypto.personal import blind_index
from rooms.hub import USERS_GROUP, USERS_TYPE, hub

# Message types. Everything addressed to a user ("u.…") or a browser session ("s.…") travels
# in the one per-process batch of the hub's USERS_GROUP (rooms/hub.py), in the order it was
# queued; sockets have no channel-layer channel of their own.
# Closes the sockets of a user or a session (suspension, ban, erasure, logout).
SESSION_CLOSE = "session.close"
# Carries a ready frame (text) that every receiving socket sends as it is.
FRAME = "socket.frame"
# Drops one room from every socket of a user (kick, room ban); see CurbsideConsumer.room_evict.
ROOM_EVICT = "room.evict"
# Forgets a user's cached handshake profile on every process (consult/socket_cache.py).
PROFILE_CHANGED = "profile.changed"
# Types the hub hands to sockets (or, for PROFILE_CHANGED, to the profile cache) as they are.
CONTROL_TYPES = (SESSION_CLOSE, ROOM_EVICT, PROFILE_CHANGED)


def room_group(room_id: str) -> str:
    # Room ids are public ("lounge-cardiology", "case-…") and channel-layer safe.
    return f"r.{room_id}"


def user_group(user_id: str) -> str:
    return "u." + blind_index("socket-group", user_id)[:40]


def session_group(session_key: str) -> str:
    return "s." + blind_index("session-group", session_key)[:40]


class _Outbox:
    """The channel-layer sends of one atomic block, flushed together after commit: one
    thread hop for all of them (a batch of 64 messages, or 500 offers, is one hop, not
    hundreds), sent concurrently across groups and in order within each group."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    def flush(self) -> None:
        # This process forgets at once (its own hub hears the batch a moment later): a
        # handshake here right after the change must not use the old profile.
        for group, message in self.items:
            if message["type"] in (PROFILE_CHANGED, SESSION_CLOSE):
                hub.forget_user(group)
        layer = get_channel_layer()
        if layer is not None and self.items:
            async_to_sync(_send_all)(layer, self.items)


def _to_hubs(group: str, message: dict) -> bool:
    """Whether the send travels in the transaction's one batch for every process's hub:
    every frame — to users, sessions and rooms alike — and the control messages. A group
    commit of 256 messages in 256 rooms is then one channel-layer send, not 256 (each
    several Redis round trips); every hub drops the rooms it has no socket in."""
    return message["type"] == FRAME or (group.startswith(("u.", "s."))
                                        and message["type"] in CONTROL_TYPES)


async def _send_all(layer, items: list[tuple[str, dict]]) -> None:
    by_group: dict[str, list[dict]] = {}
    # One batch for every process, in queue order: a frame is (group, text), anything else
    # (group, message) for the socket's control handler.
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


_local = threading.local()


def _send_on_commit(group: str, message: dict) -> None:
    """Queue a send for after the current transaction commits (now, outside one).

    One outbox per atomic block: its flush is registered with that block's savepoints, so a
    rolled-back savepoint drops its sends with it and nothing is announced that was not
    stored."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        outbox = _Outbox()
        outbox.items.append((group, message))
        outbox.flush()
        return
    key = (id(conn), tuple(conn.savepoint_ids))
    outboxes: dict = getattr(_local, "outboxes", None) or {}
    outbox = outboxes.get(key)
    if outbox is None or not any(func == outbox.flush for _, func, _ in conn.run_on_commit):
        outbox = outboxes[key] = _Outbox()
        # Forget outboxes whose blocks are gone (committed or rolled back).
        live = {func for _, func, _ in conn.run_on_commit}
        _local.outboxes = {k: o for k, o in outboxes.items() if o is outbox or o.flush in live}
        transaction.on_commit(outbox.flush)
    outbox.items.append((group, message))


def _pending(conn) -> list[tuple[str, dict]]:
    """The sends queued in the current atomic block."""
    outbox = (getattr(_local, "outboxes", None) or {}).get((id(conn), tuple(conn.savepoint_ids)))
    live = {func for _, func, _ in conn.run_on_commit}
    return outbox.items if outbox is not None and outbox.flush in live else []


def close_user_sockets(*, user_id: str, code: int) -> None:
    """Close every live socket of a user (suspension, ban), once the change is committed."""
    _send_on_commit(user_group(user_id), {"type": SESSION_CLOSE, "code": code})


def close_session_sockets(*, session_key: str, code: int) -> None:
    """Close the sockets opened with one browser session (logout)."""
    _send_on_commit(session_group(session_key), {"type": SESSION_CLOSE, "code": code})


def profile_changed(*, user_id: str) -> None:
    """Forget the user's cached handshake profile on every process, once committed (a
    licence decision, a role or profile change, the on-call flag)."""
    group = user_group(user_id)
    conn = transaction.get_connection()
    if conn.in_atomic_block and any(  # once per block is enough
            g == group and m["type"] == PROFILE_CHANGED for g, m in _pending(conn)):
        return
    _send_on_commit(group, {"type": PROFILE_CHANGED})


def room_evict(*, user_id: str, room_id: str, frame: str) -> None:
    """Unsubscribe every live socket of a user from one room after commit; each socket that
    had joined it sends ``frame`` (room.removed). Other rooms on those sockets stay."""
    _send_on_commit(user_group(user_id), {"type": ROOM_EVICT, "room": room_id, "frame": frame})


def room_event(*, room_id: str, frame: str) -> None:
    """One event to everyone subscribed to the room, after the transaction commits. The
    frame is already encoded; it travels once per process (rooms/hub.py) and every local
    socket gets the same text (no per-recipient encoding)."""
    group = room_group(room_id)
    _send_on_commit(group, {"type": FRAME, "group": group, "frame": frame})


def users_event(*, user_ids: list[str], frame: str) -> None:
    """One event to every open socket of each user (mentions, offers), after commit."""
    for user_id in dict.fromkeys(user_ids):
        _send_on_commit(user_group(user_id), {"type": FRAME, "frame": frame})


async def room_ephemeral(*, room_id: str, frame: str) -> None:
    """Best-effort event with nothing to commit (typing, moderator presence)."""
    group = room_group(room_id)
    await get_channel_layer().group_send(group, {"type": FRAME, "group": group, "frame": frame})


async def room_subscribe(room_id: str, socket) -> None:
    """Let ``socket`` receive the room's events (through this process's hub)."""
    await hub.join(room_group(room_id), socket)


async def room_unsubscribe(room_id: str, socket) -> None:
    await hub.leave(room_group(room_id), socket)


async def user_subscribe(group: str, socket) -> None:
    """Let ``socket`` receive what is addressed to ``group`` — its user's
    (``user_group``) or its browser session's (``session_group``) — through this process's
    hub: frames, closes, room evictions."""
    await hub.user_join(group, socket)


def user_unsubscribe(group: str, socket) -> None:
    hub.user_leave(group, socket)
