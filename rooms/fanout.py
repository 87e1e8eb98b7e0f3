"""The only module that talks to the channel layer. Group names live here.

Group names never carry a user id: channel-layer payloads and Redis keys would otherwise
link accounts to sockets in a Redis dump (SECURITY.md), so a per-user group is named by a
keyed hash of the id.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from crypto.personal import blind_index

# Channel-layer message types (Channels maps "session.close" to the handler session_close).
SESSION_CLOSE = "session.close"


def user_group(user_id: str) -> str:
    return "u." + blind_index("socket-group", user_id)[:40]


def session_group(session_key: str) -> str:
    return "s." + blind_index("session-group", session_key)[:40]


def _send_on_commit(group: str, message: dict) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    transaction.on_commit(send)


def close_user_sockets(*, user_id: str, code: int) -> None:
    """Close every live socket of a user (suspension, ban), once the change is committed."""
    _send_on_commit(user_group(user_id), {"type": SESSION_CLOSE, "code": code})


def close_session_sockets(*, session_key: str, code: int) -> None:
    """Close the sockets opened with one browser session (logout)."""
    _send_on_commit(session_group(session_key), {"type": SESSION_CLOSE, "code": code})
