"""A client that stops reading its socket, under a server on asyncio transports (uvicorn).

uvicorn's ``send`` waits while its transport's write buffer is above the high-water mark
(64 KiB by default) — and the hub (bus/hub.py) delivers to a process's sockets one after the
other, so one client that stopped reading would stall every delivery of the process until
the ping timeout closed its socket. Here the high-water mark is raised above the backlog
limit, so a send never waits, and a socket whose unsent bytes pass
``CURBSIDE_SEND_BACKLOG_BYTES`` is dropped before anything more is written to it — what
``gateway/patches.SendBacklog`` does under daphne. Its client reconnects and resumes with
``since`` as after any dropped connection.

The transport is reached through the ASGI ``send`` callable, which uvicorn's WebSocket
protocols (``websockets``, ``websockets-sansio``, ``wsproto``) hand over as a bound method of
themselves; a server whose ``send`` is anything else (daphne's, granian's) gets no watch here.
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def send_backlog_limit() -> int:
    """``CURBSIDE_SEND_BACKLOG_BYTES``, never below twice the largest frame the server sends
    (one legitimate large reply to a reading client must not trip it)."""
    return max(settings.CURBSIDE_SEND_BACKLOG_BYTES, 2 * settings.CURBSIDE_SEND_FRAME_BYTES)


class TransportBacklog:
    __slots__ = ("limit", "transport")

    def __init__(self, transport, limit: int) -> None:
        self.transport = transport
        self.limit = limit

    def stalled(self) -> bool:
        """Whether nothing more may be written: the socket is closing, or its client is too
        far behind — then it is dropped here (the hub delivers to every socket of the
        process in turn; one must never make the others wait)."""
        transport = self.transport
        if transport.is_closing():
            return True
        unsent = transport.get_write_buffer_size()
        if unsent <= self.limit:
            return False
        log.warning("socket dropped: its client left over %d bytes unread", unsent)
        transport.abort()
        return True


def watch(send) -> TransportBacklog | None:
    """A watch on the asyncio transport behind ``send``, or None when there is none."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not (hasattr(transport, "get_write_buffer_size")
            and hasattr(transport, "set_write_buffer_limits")):
        return None
    limit = send_backlog_limit()
    # Above the limit by more than the largest frame: a send below the limit never pauses.
    transport.set_write_buffer_limits(high=limit + 2 * settings.CURBSIDE_SEND_FRAME_BYTES)
    return TransportBacklog(transport, limit)
