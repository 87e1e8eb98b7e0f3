"""The after-commit outbox: what a transaction announces goes out only once it is stored.

Services queue events here (``room_event``, ``users_event``, closes, evictions, profile
invalidations) inside their transaction; nothing leaves before the commit, and nothing
queued in a savepoint that rolls back ever leaves. Each queued send rides on Django's public
``transaction.on_commit`` (which already drops the callbacks of a rolled-back savepoint), so
no Django internals are read.

One flush per transaction: a service that opens its transaction with ``outbox.atomic()``
instead of ``transaction.atomic()`` has everything its block committed sent in one batch
(``bus.hub.publish``: one thread hop to the event loop, one channel-layer send for every
process's hub) — a group commit of 256 messages or 500 offers is one hop, not hundreds.
A send queued under a plain ``transaction.atomic()`` still goes out after commit, on its own.

Publishing never fails a transaction that committed: what is stored is acknowledged. When
the channel layer fails, the hub keeps the sends and retries them in order once it works
again (``bus.hub.RoomHub.send``); clients repair any gap with ``since``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from asgiref.sync import async_to_sync
from django.db import transaction

from bus import hub

log = logging.getLogger(__name__)
_local = threading.local()


def _state():
    if not hasattr(_local, "depth"):
        _local.depth = 0  # open outbox.atomic() blocks on this thread
        _local.kept = []  # committed sends waiting for the outermost block's flush
    return _local


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """``transaction.atomic()`` whose committed sends are flushed together, once, when the
    outermost such block ends (or, inside a plain outer transaction, when that commits)."""
    st = _state()
    st.depth += 1
    try:
        with transaction.atomic():
            yield
    except BaseException:
        st.depth -= 1
        if st.depth == 0:
            st.kept = []  # a rolled-back transaction ran none of its callbacks anyway
        raise
    st.depth -= 1
    if st.depth == 0:
        # The outermost block committed and its callbacks (``_keep``) ran. Nested in a plain
        # transaction, they run at that one's commit instead, each sending on its own.
        _flush_kept()


def _keep(item: tuple[str, dict]) -> None:
    """Runs as an on-commit callback: hold the send for the block's one flush, or send it
    now when no outbox block is collecting."""
    st = _state()
    if st.depth:
        st.kept.append(item)
    else:
        _flush([item])


def _flush_kept() -> None:
    st = _state()
    items, st.kept = st.kept, []
    _flush(items)


def _flush(items: list[tuple[str, dict]]) -> None:
    if not items:
        return
    seen_profile: set[str] = set()
    out = []
    for group, message in items:
        if message["type"] in (hub.PROFILE_CHANGED, hub.SESSION_CLOSE):
            # This process forgets at once (its own hub hears the batch a moment later): a
            # handshake here right after the change must not use the old profile.
            hub.hub.forget_user(group)
        if message["type"] == hub.PROFILE_CHANGED:
            if group in seen_profile:  # once per batch is enough
                continue
            seen_profile.add(group)
        out.append((group, message))
    try:
        async_to_sync(hub.deliver)(out)
    except Exception:  # deliver never raises; this is the last guard of a committed reply
        log.exception("publishing %d committed events failed", len(out))


def _send_on_commit(group: str, message: dict) -> None:
    """Queue a send for after the current transaction commits (now, outside one)."""
    item = (group, message)
    if not transaction.get_connection().in_atomic_block:
        _flush([item])
    else:
        transaction.on_commit(lambda: _keep(item))


def close_user_sockets(*, user_id: str, code: int) -> None:
    """Close every live socket of a user (suspension, ban), once the change is committed."""
    _send_on_commit(hub.user_group(user_id), {"type": hub.SESSION_CLOSE, "code": code})


def close_session_sockets(*, session_key: str, code: int) -> None:
    """Close the sockets opened with one browser session (logout)."""
    _send_on_commit(hub.session_group(session_key), {"type": hub.SESSION_CLOSE, "code": code})


def profile_changed(*, user_id: str) -> None:
    """Forget the user's cached handshake profile on every process, once committed (a
    licence decision, a role or profile change, the on-call flag)."""
    _send_on_commit(hub.user_group(user_id), {"type": hub.PROFILE_CHANGED})


def room_evict(*, user_id: str, room_id: str, frame: str) -> None:
    """Unsubscribe every live socket of a user from one room after commit; each socket that
    had joined it sends ``frame`` (room.removed). Other rooms on those sockets stay."""
    _send_on_commit(hub.user_group(user_id),
                    {"type": hub.ROOM_EVICT, "room": room_id, "frame": frame})


def room_event(*, room_id: str, frame: str) -> None:
    """One event to everyone subscribed to the room, after the transaction commits. The
    frame is already encoded; it travels once per process (bus/hub.py) and every local
    socket gets the same text (no per-recipient encoding)."""
    group = hub.room_group(room_id)
    _send_on_commit(group, {"type": hub.FRAME, "group": group, "frame": frame})


def users_event(*, user_ids: list[str], frame: str) -> None:
    """One event to every open socket of each user (mentions, offers), after commit."""
    for user_id in dict.fromkeys(user_ids):
        _send_on_commit(hub.user_group(user_id), {"type": hub.FRAME, "frame": frame})
