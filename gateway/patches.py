"""Every runtime patch of a third-party internal, in one place, each guarded.

A patch applies only when the installed package's major version is one it was written and
measured against and the patched name still exists; otherwise it is skipped with a warning,
and ``tests/gateway/test_patches.py`` fails, so an upgrade is noticed in CI rather than in
production. ``apply()`` is idempotent; ``asgi.py`` and ``manage.py serve`` call it.

1. autobahn: ``pformat`` of ~80 configuration attributes for a debug line on every new
   connection, debug logging on or off — 12 % of a daphne's time while 5,000 sockets opened
   (py-spy, --gil). Deferred until the line is formatted; autobahn's ``Timings.__str__``,
   which used the same name, keeps a real ``pprint.pformat``.
2. Twisted: every request's Content-Type is parsed with the ``email`` package before daphne
   sees it — 12 % of a daphne's time under 5,000 ticket requests. A pure function of the
   header bytes: memoized (LRU of 256 values).
3. daphne: its WebSocket factory drops the TCP connection on a protocol violation (an
   oversized message) without a close frame. With autobahn's ``failByDrop`` off the client
   gets the 1009 close frame first (RFC 6455 §7.1.7). The same factory builds
   ``CurbsideWebSocketProtocol``: autobahn lets an application close only with 1000 or
   3000–4999, so the server's own codes — 1001 going away, 1011, 1012 service restart, 1013
   try again later — are sent as close frames directly; a handshake closed with 1013 before
   accept is answered HTTP 503 instead of daphne's 403; and on SIGTERM every socket gets
   1012 before the process exits (gateway/shutdown.py).
4. autobahn: ``sendMessage`` holds what the server sends to ``maxMessagePayloadSize`` too,
   the one limit daphne sets from ``--websocket-max-message-size`` for what it receives. A
   reply over the incoming limit raised ``PayloadExceededError`` inside the application's
   ``send``: the consumer died and daphne closed the socket with 1011 (nine maximal messages
   made every ``room.join`` do that). Sends are held to ``CURBSIDE_SEND_FRAME_BYTES`` instead
   (the consumer refuses larger frames before they get here); what arrives still is to
   ``frame_bytes``.
5. Twisted: ``Request.requestReceived`` parses a POST's ``multipart/form-data`` or
   ``x-www-form-urlencoded`` body into ``request.args`` before daphne sees the request —
   which daphne never reads (Django parses the body it is handed). A malformed multipart
   body (no boundary, a broken part) was answered by Twisted itself with a bare ``400 Bad
   Request`` and a dropped connection: no JSON error, none of the security headers, and a
   second full parse of every upload. daphne's request class is built with Twisted's own
   switch for this, ``parsePOSTFormSubmission=False``, so the application decides.
6. Twisted: ``Request.gotLength`` writes a body of 100,000 bytes or more, or of unknown
   length (chunked), to ``tempfile.TemporaryFile()`` as soon as the headers are in: every
   image upload sat unencrypted on disk while it arrived. The same request class keeps every
   body in memory, up to ``FILE_UPLOAD_MAX_MEMORY_SIZE`` (the attachment limit and a form's
   overhead, which Django keeps in memory too); past that it keeps one byte more and drops
   the rest, so whatever reads the body finds it over its limit and refuses it (413)
   without the server holding, or writing, the remainder.
"""

from __future__ import annotations

import functools
import io
import logging
import pprint
from dataclasses import dataclass
from importlib.metadata import version

import autobahn.websocket.protocol as autobahn_protocol
import daphne.http_protocol
import daphne.server
from autobahn.websocket.types import ConnectionDeny
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet.interfaces import IPushProducer
from twisted.web import http as twisted_http
from zope.interface import implementer

from bus import protocol
from gateway import shutdown
from gateway.backlog import send_backlog_limit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Patch:
    name: str
    package: str  # distribution name, for its version
    majors: tuple[int, ...]  # major versions the patch was written and measured against
    module: object
    attribute: str

    def installed_major(self) -> int:
        return int(version(self.package).split(".")[0])

    def applicable(self) -> bool:
        return self.installed_major() in self.majors and hasattr(self.module, self.attribute)


class _LazyPformat:
    """``pprint.pformat`` deferred until the text is needed (it never is, below DEBUG)."""

    __slots__ = ("value",)

    def __init__(self, value, *args, **kwargs) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    __repr__ = __str__


def _timings_str(self) -> str:
    return pprint.pformat(self._timings)


# Close codes the server itself sends, which autobahn's ``sendClose`` would refuse.
SERVER_CLOSE_CODES = frozenset({protocol.CLOSE_GOING_AWAY, 1011, protocol.CLOSE_SERVICE_RESTART,
                                protocol.CLOSE_TRY_AGAIN_LATER})


@implementer(IPushProducer)
class SendBacklog:
    """What a socket's client has not read yet, as far as this process holds it.

    Twisted keeps in user space, without a limit, whatever the kernel's send buffer does not
    take, and tells a registered streaming producer when that buffer grows past its
    ``bufferSize`` (64 KiB: ``pauseProducing``) and when it has drained (``resumeProducing``).
    Registered on each socket's transport, this counts the bytes sent while the client is
    behind; past ``CURBSIDE_SEND_BACKLOG_BYTES`` the socket is dropped (a client that stopped
    reading would otherwise make the process hold every frame of its rooms for it). Its
    client reconnects and resumes with ``since`` as after any dropped connection.

    A transport holds one producer: the upgraded HTTP connection (Twisted's ``HTTPChannel``)
    is already registered, and pauses reading from the client while it is behind. This one
    takes its place and passes every call on to it.
    """

    def __init__(self, inner=None) -> None:
        self.inner = inner
        self.behind = False
        self.bytes = 0

    def pauseProducing(self) -> None:
        self.behind = True
        if self.inner is not None:
            self.inner.pauseProducing()

    def resumeProducing(self) -> None:
        self.behind, self.bytes = False, 0
        if self.inner is not None:
            self.inner.resumeProducing()

    def stopProducing(self) -> None:
        self.behind = False
        if self.inner is not None:
            self.inner.stopProducing()

    def over(self, sent: int, limit: int) -> bool:
        """Count ``sent`` bytes just written; whether the client is now too far behind."""
        if not self.behind:
            return False
        self.bytes += sent
        return self.bytes > limit


class CurbsideWebSocketProtocol(WebSocketProtocol):
    """daphne's protocol with the server's close codes (``SERVER_CLOSE_CODES``), a 503 for a
    handshake refused with 1013, no new sockets while the process shuts down, (patch 4)
    a limit of its own on what it sends: autobahn's one ``maxMessagePayloadSize`` stays the
    limit on what it receives, and a bound on what it holds for a client that does not read
    (``SendBacklog``)."""

    # Set by the autobahn-send-limit patch when it applies (gateway/patches.py, item 4).
    send_limit = False
    backlog: SendBacklog | None = None

    def onOpen(self):
        transport = self.transport
        inner = getattr(transport, "producer", None)
        if inner is None or getattr(transport, "streamingProducer", False):
            if inner is not None:
                transport.unregisterProducer()
            self.backlog = SendBacklog(inner)
            transport.registerProducer(self.backlog, True)
        return super().onOpen()

    def sendMessage(self, payload, isBinary=False, fragmentSize=None, sync=False,
                    doNotCompress=False):
        if not self.send_limit:
            result = super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress)
        else:
            # Twisted runs this on its one thread, start to end: no frame is received
            # meanwhile.
            incoming = self.maxMessagePayloadSize
            self.maxMessagePayloadSize = settings.CURBSIDE_SEND_FRAME_BYTES
            try:
                result = super().sendMessage(payload, isBinary, fragmentSize, sync,
                                             doNotCompress)
            finally:
                self.maxMessagePayloadSize = incoming
        if (self.backlog is not None and self.backlog.over(len(payload), send_backlog_limit())
                and self.state != self.STATE_CLOSED):
            log.warning("socket dropped: its client left over %d bytes unread",
                        self.backlog.bytes)
            self.backlog = None
            self.dropConnection(abort=True)
        return result

    def onConnect(self, request):
        if shutdown.draining():
            raise ConnectionDeny(503, "Service Unavailable")
        return super().onConnect(request)

    def handle_reply(self, message):
        if (message.get("type") == "websocket.close" and self.state == self.STATE_CONNECTING
                and message.get("code") == protocol.CLOSE_TRY_AGAIN_LATER):
            return self.serverReject(status=503, reason="Service Unavailable")
        return super().handle_reply(message)

    def serverReject(self, status: int = 403, reason: str = "Access denied"):
        """daphne's ``serverReject`` with the HTTP status as a parameter."""
        if not hasattr(self, "handshake_deferred"):
            return
        self.handshake_deferred.errback(ConnectionDeny(code=status, reason=reason))
        del self.handshake_deferred
        self.server.protocol_disconnected(self)
        self.server.log_action("websocket", "rejected", {
            "path": self.request.path,
            "client": ":".join(map(str, self.client_addr)) if self.client_addr else None})

    def serverClose(self, code=None):
        if code in SERVER_CLOSE_CODES:
            if self.state == self.STATE_OPEN:
                self.sendCloseFrame(code=code, isReply=False)
            return
        super().serverClose(code=code)


class BoundedBody(io.BytesIO):
    """A request body in memory (patch 6): the first ``cap`` + 1 bytes are kept, the rest
    is counted and dropped — a body over ``cap`` still reads as over it."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.keep = cap + 1
        self.received = 0

    def write(self, data) -> int:
        if self.received < self.keep:
            super().write(bytes(data[: self.keep - self.received]))
        self.received += len(data)
        return len(data)


class FormsUnparsedWebRequest(daphne.http_protocol.WebRequest):
    """daphne's request, built with Twisted's form parsing off (patch 5): the body reaches
    the application untouched, which parses it (or refuses it) itself; and kept in memory,
    bounded, never in a temporary file (patch 6)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
        self.content = BoundedBody(settings.FILE_UPLOAD_MAX_MEMORY_SIZE)


class ClosingWebSocketFactory(WebSocketFactory):
    """daphne's factory with autobahn's ``failByDrop`` off: a protocol violation (such as
    an oversized message) sends the close frame, carrying 1009, before the TCP close. Its
    protocol is ``CurbsideWebSocketProtocol``; building it (daphne does, once, as the
    server starts) registers the SIGTERM drain (gateway/shutdown.py)."""

    protocol = CurbsideWebSocketProtocol

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False)
        shutdown.install(self.server_class)


AUTOBAHN_PFORMAT = Patch("autobahn-lazy-pformat", "autobahn", (24, 25, 26),
                         autobahn_protocol, "pformat")
AUTOBAHN_TIMINGS = Patch("autobahn-timings-str", "autobahn", (24, 25, 26),
                         autobahn_protocol, "Timings")
AUTOBAHN_SEND_LIMIT = Patch("autobahn-send-limit", "autobahn", (24, 25, 26),
                            autobahn_protocol.WebSocketProtocol, "sendMessage")
TWISTED_CONTENT_TYPE = Patch("twisted-content-type-lru", "twisted", (24, 25, 26),
                             twisted_http, "_parseContentType")
DAPHNE_FACTORY = Patch("daphne-close-frame", "daphne", (4,), daphne.server, "WebSocketFactory")
# Twisted's switch (its major versions); daphne's module-level name is what gets replaced.
TWISTED_FORM_BODIES = Patch("twisted-form-bodies-unparsed", "twisted", (24, 25, 26),
                            daphne.http_protocol, "WebRequest")
PATCHES = (AUTOBAHN_PFORMAT, AUTOBAHN_TIMINGS, AUTOBAHN_SEND_LIMIT, TWISTED_CONTENT_TYPE,
           DAPHNE_FACTORY, TWISTED_FORM_BODIES)

_applied: set[str] = set()


def _apply_one(patch: Patch) -> None:
    if patch is AUTOBAHN_PFORMAT:
        autobahn_protocol.pformat = _LazyPformat
    elif patch is AUTOBAHN_TIMINGS:
        autobahn_protocol.Timings.__str__ = _timings_str
    elif patch is TWISTED_CONTENT_TYPE:
        twisted_http._parseContentType = functools.lru_cache(maxsize=256)(
            twisted_http._parseContentType)
    elif patch is AUTOBAHN_SEND_LIMIT:
        # Takes effect through the factory of patch 3, which builds every socket's protocol.
        CurbsideWebSocketProtocol.send_limit = True
    elif patch is TWISTED_FORM_BODIES:
        # daphne's HTTPFactory.buildProtocol reads this module-level name for each connection.
        daphne.http_protocol.WebRequest = FormsUnparsedWebRequest
    elif patch is DAPHNE_FACTORY:
        # daphne.server builds its factory from this module-level name.
        daphne.server.WebSocketFactory = ClosingWebSocketFactory


def apply() -> list[str]:
    """Apply every applicable patch once; returns the names of those skipped."""
    skipped = []
    for patch in PATCHES:
        if patch.name in _applied:
            continue
        if not patch.applicable():
            log.warning("runtime patch %s skipped: %s %s is not a version it was written for",
                        patch.name, patch.package, version(patch.package))
            skipped.append(patch.name)
            continue
        _apply_one(patch)
        _applied.add(patch.name)
    return skipped
