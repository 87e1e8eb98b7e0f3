"""Closing every socket with a close frame when the process is told to stop (SIGTERM).

daphne answers SIGTERM by stopping Twisted's reactor: its own "before shutdown" trigger
cancels every application instance, and the reactor then drops each TCP connection. A
client saw its socket vanish without a close frame (1006) and could not tell a restart from
a network fault. Here a "before shutdown" trigger of our own, registered when daphne builds
its WebSocket factory (gateway/patches.py), runs first: it refuses new handshakes (HTTP
503), sends every open socket a close frame with 1012 (service restart: reconnect at once,
to another process, and resume with ``since``), and waits until the clients have answered
and the connections are closed — at most ``DRAIN_S`` — before the reactor goes on to stop.

Nothing is lost by closing: a message is acknowledged only after its commit, so a client
resends what was not acknowledged (same client_id) and reads what it missed with ``since``.
"""

from __future__ import annotations

import asyncio
import logging

from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from twisted.internet import defer, reactor

from bus import protocol

log = logging.getLogger(__name__)

# The longest the process waits, after SIGTERM, for its clients to answer the close frames.
DRAIN_S = 2.0

_draining = False
_installed: set[int] = set()


def draining() -> bool:
    """Whether the process is shutting down (new handshakes are refused)."""
    return _draining


def install(server) -> None:
    """Register the drain for daphne's ``server`` (once per server)."""
    if id(server) in _installed:
        return
    _installed.add(id(server))
    reactor.addSystemEventTrigger("before", "shutdown", close_all, server)


def _sockets(server) -> list:
    return [p for p in list(getattr(server, "connections", {}))
            if isinstance(p, AutobahnProtocol)]


def close_all(server, *, code: int = protocol.CLOSE_SERVICE_RESTART,
              timeout: float = DRAIN_S) -> defer.Deferred:
    """Send every open socket of ``server`` a close frame with ``code``, refuse the
    handshakes in progress (HTTP 503); the Deferred fires once all are closed, or after
    ``timeout``."""
    global _draining
    _draining = True
    sockets = _sockets(server)
    for socket in sockets:
        try:
            if socket.state == socket.STATE_OPEN:
                socket.sendCloseFrame(code=code, reasonUtf8=b"server restart", isReply=False)
            elif socket.state == socket.STATE_CONNECTING and hasattr(socket, "serverReject"):
                socket.serverReject(status=503, reason="Service Unavailable")
        except Exception:  # one odd socket must not keep the others open
            log.debug("closing a socket on shutdown failed", exc_info=True)
    log.info("shutting down: closing %d sockets", len(sockets))
    return defer.Deferred.fromFuture(asyncio.ensure_future(_closed(sockets, timeout)))


async def _closed(sockets: list, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if all(s.state == s.STATE_CLOSED for s in sockets):
            return
        await asyncio.sleep(0.02)
    left = sum(s.state != s.STATE_CLOSED for s in sockets)
    log.warning("shutting down with %d sockets still closing", left)
