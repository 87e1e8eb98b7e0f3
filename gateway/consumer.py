"""The one WebSocket consumer of /ws/v1/: parse → call a handler → reply.

No ORM calls here. The handshake redeems a ticket (``physicians.services.ws_ticket_spend``:
a decryption and one spent-nonce write, no database) or reads the browser session, then
takes the user's profile from ``physicians.socket_cache`` (a database read only on a miss);
then every frame goes through ``bus.protocol.parse_request`` and the handler
registered for its op in ``gateway.ops_rooms``; domain exceptions become error replies with stable
codes, and a bad frame never closes the socket (except one over the size limit: 1009).
Nor does a frame the server cannot send: a reply over ``CURBSIDE_SEND_FRAME_BYTES`` becomes
a ``too_large`` error, an event over it is dropped, each logged; a send that fails anyway is
logged, and the consumer lives on (``send``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from http.cookies import SimpleCookie
from time import perf_counter  # not through `time`: tests replace the module's clock
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from bus import hub, protocol
from core import metrics
from core.errors import DomainError, Unavailable, unavailable_cause
from core.limits import TokenBucket, retry_after_s
from gateway import backlog, ops_consult, origins
from gateway.optable import OPS
from physicians import selectors, socket_cache
from physicians.models import User
from physicians.selectors import SocketIdentity
from physicians.services import ws_ticket_spend

log = logging.getLogger(__name__)


# message.sends of one socket waiting for their group commit at once; one more is answered
# rate_limited at arrival (with retry_after_s SENDS_RETRY_S) instead of queueing behind them.
MAX_SENDS_IN_FLIGHT = 32
# The longest a socket cancelled at shutdown spends leaving presence and the hub.
SHUTDOWN_DISCONNECT_S = 2.0
SENDS_RETRY_S = 0.25
# Frames per second one socket may send before it is told rate_limited (a flood guard on
# top of the per-user message rate): generous for a real client, cheap to enforce.
FRAMES_PER_S = 30.0
FRAME_BURST = 60.0


def _oversize(text: str) -> int:
    """The encoded size of ``text`` if it is over the send limit, else 0. Characters ≤ bytes
    ≤ 4 × characters: only encode when the cheap bound is unclear."""
    limit = settings.CURBSIDE_SEND_FRAME_BYTES
    if len(text) * 4 <= limit:
        return 0
    size = len(text.encode())
    return size if size > limit else 0


# The ASGI extension a server lists in the scope when it can answer a handshake with an HTTP
# response of the application's own (https://asgi.readthedocs.io/en/latest/extensions.html).
DENIAL_RESPONSE = "websocket.http.response"

# A handshake waits this long at most for Redis (the ticket's nonce, the hub) and PostgreSQL
# (the profile, on a cache miss), then is refused with "try again later" (HTTP 503). It stays
# under daphne's 5 s opening-handshake timeout, which drops the connection with no status.
HANDSHAKE_WAIT_S = 3.5


async def _within(deadline: float, awaitable, *, shield: bool = True):
    """Await ``awaitable`` until the loop time ``deadline`` (TimeoutError after). Shielded,
    a load other handshakes share (a profile, a spent nonce) finishes for them anyway."""
    left = max(deadline - asyncio.get_running_loop().time(), 0.001)
    if not shield:
        return await asyncio.wait_for(awaitable, left)
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.wait_for(asyncio.shield(task), left)
    except TimeoutError:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieve it
        raise


class SocketState(enum.Enum):
    """A socket's life. Moves only forward:

        HANDSHAKE ──accept──▶ OPEN ──op──▶ BUSY ──reply──▶ OPEN
            │                  │             │
            └──────────────────┴─────────────┴──close / refuse──▶ CLOSED

    HANDSHAKE: the ticket or session is being redeemed and the profile read; a close that
    arrives now (suspension, logout) refuses the handshake. BUSY: an op is in flight; a room
    eviction waits for it (a room.join between its membership check and its subscription
    must not outlive a kick that committed meanwhile). CLOSED: nothing more is sent.
    """

    HANDSHAKE = "handshake"
    OPEN = "open"
    BUSY = "busy"
    CLOSED = "closed"


# CURBSIDE_VALIDATE_FRAMES=1 (every daphne the tests start has it): check each frame this
# process sends against bus.protocol and log an invalid one as an ERROR carrying
# INVALID_FRAME_MARK, which fails the test (tests/support/servers.py). Decided once, here:
# without it the consumer keeps its plain methods and the check costs nothing.
VALIDATE_FRAMES = os.environ.get("CURBSIDE_VALIDATE_FRAMES") == "1"
INVALID_FRAME_MARK = "INVALID FRAME"

class CurbsideConsumer(AsyncWebsocketConsumer):
    # Class-level defaults: most sockets never set these, so they cost no per-socket dict slot.
    state = SocketState.HANDSHAKE
    deferred: list[dict] | None = None  # room evictions that arrived while busy
    # Frames a handler asked to send right after its reply (``send_after_reply``), by request.
    after_reply: dict[int, list[str]] | None = None
    # No channel-layer channel per socket: Channels then creates no channel and runs no
    # receive task for it (channels/consumer.py). Everything addressed to a socket arrives
    # through this process's hub (bus/hub.py): room events, user events, closes and room
    # evictions.
    channel_layer_alias = None
    groups = ()  # Channels' own group list: none (and no empty list per socket)
    identity: SocketIdentity
    session_id: str
    counted_open = False  # counted in curbside_open_sockets (core/metrics.py)
    # What this socket's client has not read, under a server on asyncio transports (uvicorn;
    # gateway/backlog.py); daphne bounds it in gateway/patches.py instead.
    backlog: backlog.TransportBacklog | None = None
    disconnected = False  # ``disconnect`` ran (once: by the client's close or by shutdown)

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers", []))
        origin_raw = headers.get(b"origin")
        origin = origin_raw.decode("latin-1") if origin_raw is not None else None
        ticket = (parse_qs(self.scope.get("query_string", b"").decode()).get("ticket") or [""])[0]
        refusal = selectors.origin_refusal(origin=origin, allowed_origins=settings.CURBSIDE_WS_ORIGINS,
                                           has_ticket=bool(ticket))
        if refusal is not None:
            if origin is not None and refusal[1] == selectors.ORIGIN_REFUSED:
                origins.log_refused(origin, settings.CURBSIDE_WS_ORIGINS)
            return await self.refuse(refusal)
        try:
            result = await self.identify(ticket, headers)
        except Exception as exc:
            if not unavailable_cause(exc):
                raise
            # Redis (the ticket's nonce, the hub) or PostgreSQL (the profile) is out of
            # reach: "try again later" (HTTP 503), never a 500.
            log.warning("socket refused: a dependency is unavailable (%s)", type(exc).__name__)
            self.unsubscribe_all()
            return await self.refuse((protocol.CLOSE_TRY_AGAIN_LATER, "unavailable"))
        if self.state is SocketState.CLOSED:  # suspended, logged out while the profile was read
            return self.unsubscribe_all()
        if isinstance(result, tuple):
            self.unsubscribe_all()
            return await self.refuse(result)
        self.identity = result
        self.rooms: dict = {}
        self.session_id = secrets.token_hex(8)
        await self.accept()
        self.backlog = backlog.watch(self.base_send)
        self.state = SocketState.OPEN
        self.counted_open = True
        metrics.OPEN_SOCKETS.inc()
        await self.send(text_data=self.welcome())
        self.active_since_ping = True
        try:
            await ops_consult.socket_opened(self)
        except Exception as exc:
            if not unavailable_cause(exc):
                raise
            log.warning("socket closed: presence is unavailable (%s)", type(exc).__name__)
            self.state = SocketState.CLOSED
            await self.close(code=protocol.CLOSE_TRY_AGAIN_LATER)

    async def identify(self, ticket: str, headers: dict) -> SocketIdentity | tuple[int, str]:
        """Who opens this socket, or (close code, reason) to refuse it. Subscribes the
        socket to its user's (and session's) group on the way. Raises ``Unavailable`` or
        the dependency's error when Redis or PostgreSQL cannot answer within
        ``HANDSHAKE_WAIT_S``."""
        deadline = asyncio.get_running_loop().time() + HANDSHAKE_WAIT_S
        session_key = session = None  # session: the browser session's socket group
        if ticket:
            opened = await _within(deadline, ws_ticket_spend(ticket=ticket))
            user_id = opened and opened.user_id
            session = opened and opened.session_group  # a ticket a browser session asked for
        else:
            cookies = SimpleCookie()
            cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
            morsel = cookies.get(settings.SESSION_COOKIE_NAME)
            session_key = morsel.value if morsel else None
            user_id = session_key and await _within(deadline,
                                                    socket_cache.session_user_id(session_key))
            session = hub.session_group(session_key) if session_key else None
        if not user_id:
            return 4401, "unauthenticated"
        # Subscribe before the profile is read: a suspension committed after that read
        # still finds this socket and closes it (the hub forgets the cached profile first).
        self.groups_joined: tuple[str, ...] = (hub.user_group(user_id),) + (
            (session,) if session else ())
        for group in self.groups_joined:
            await _within(deadline, hub.user_subscribe(group, self), shield=False)
        if not hub.layer_ok():
            # A socket that could miss its own suspension is not opened.
            raise Unavailable("Live delivery is failing on this process.")
        result = await _within(deadline, socket_cache.profiles().identity(
            self.groups_joined[0],
            lambda: database_sync_to_async(selectors.socket_profile)(user_id=user_id)))
        if session_key and not isinstance(result, tuple):
            result = dataclasses.replace(result, session_key=session_key)
        return result

    async def refuse(self, refusal: tuple[int, str]) -> None:
        # Closing before accept makes daphne answer the handshake with HTTP 403: the
        # client is refused before any data is sent.
        log.info("socket refused: %s", refusal[1])
        self.state = SocketState.CLOSED
        if (refusal[0] == protocol.CLOSE_TRY_AGAIN_LATER
                and DENIAL_RESPONSE in self.scope.get("extensions", {})):
            # ASGI's WebSocket Denial Response (uvicorn offers it): the HTTP 503 that daphne
            # answers through gateway/patches.py (item 3) for the same close, without a patch.
            await self.base_send({"type": "websocket.http.response.start", "status": 503,
                                  "headers": [(b"content-type", b"text/plain"),
                                              (b"retry-after", b"1")]})
            await self.base_send({"type": "websocket.http.response.body",
                                  "body": b"Service Unavailable"})
            return
        await self.close(code=refusal[0])

    # Built on first use: an idle socket (most of them) never needs these.
    @functools.cached_property
    def user(self) -> User:
        """A detached user object: services need only its id and role, no query per op."""
        return User(id=uuid.UUID(self.identity.user_id), role=self.identity.role)

    @functools.cached_property
    def last_typing(self) -> dict[str, float]:
        return {}

    @functools.cached_property
    def sends_in_flight(self) -> set[asyncio.Task]:
        return set()

    @functools.cached_property
    def frame_bucket(self) -> TokenBucket:
        return TokenBucket(rate=FRAMES_PER_S, burst=FRAME_BURST)

    @property
    def conn_id(self) -> str:
        """The socket's id in presence (it used to be the channel name)."""
        return self.session_id

    def unsubscribe_all(self) -> None:
        for group in getattr(self, "groups_joined", ()):
            hub.user_unsubscribe(group, self)

    async def __call__(self, scope, receive, send) -> None:
        """Channels' ``AsyncConsumer.__call__`` for a consumer without a channel layer.

        Channels waits on its one source through ``await_many_dispatch``: an extra task per
        socket around every ``receive()`` and an ``asyncio.wait`` per message. With daphne's
        queue as the only source, awaiting it directly does the same in order, and an idle
        socket holds one suspended coroutine instead of two tasks.
        """
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # daphne cancels every application as the process stops (SIGTERM, right after
            # gateway/shutdown.py sent the close frames), before their websocket.disconnect
            # is handled. Leave presence and the hub as a closed socket does, so the other
            # processes do not count this socket online (and offer it urgent cases) until it
            # misses three heartbeats; bounded, so a dead Redis cannot hold the exit.
            if not self.disconnected:
                try:
                    async with asyncio.timeout(SHUTDOWN_DISCONNECT_S):
                        await self.disconnect(protocol.CLOSE_SERVICE_RESTART)
                except Exception:
                    log.warning("presence not told of a socket closed at shutdown",
                                exc_info=log.isEnabledFor(logging.DEBUG))
            raise

    async def dispatch(self, message: dict) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections`` hop.

        Channels ≥ 4.2 closes stale database connections on the sync thread before every
        handler — for every delivered event and every frame. Nothing here touches the ORM
        on the event loop: every database call goes through ``database_sync_to_async``, which
        closes old connections in its own thread hop. The extra hop serialized each of 500
        urgent offers on the one sync thread (docs/benchmarks.md), so it is skipped.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict) -> None:
        """Channels' version without its ``aclose_old_connections`` thread hop (see
        ``dispatch``): closing a socket touches no database connection."""
        await self.disconnect(message["code"])
        raise StopConsumer()

    def welcome(self) -> str:
        p = self.identity.profile
        limits = settings.CURBSIDE_LIMITS
        return protocol.event_frame("session.welcome", protocol.Welcome(
            protocol=protocol.PROTOCOL_VERSION,
            session=self.session_id,
            server_time=time.time(),
            heartbeat_s=settings.CURBSIDE_HEARTBEAT_S,
            me=protocol.SelfProfile(
                id=p.id, display_name=p.display_name, specialty=p.specialty,
                specialties=p.specialties, languages=p.languages, country=p.country,
                roles=[p.role], verified=p.verified,
            ),
            limits=protocol.Limits(**limits),
        ))

    async def disconnect(self, code: int) -> None:
        if self.disconnected:
            return
        self.disconnected = True
        self.state = SocketState.CLOSED
        if self.counted_open:
            self.counted_open = False
            metrics.OPEN_SOCKETS.dec()
        self.unsubscribe_all()
        for room in getattr(self, "rooms", {}):
            await hub.room_unsubscribe(room, self)
        if hasattr(self, "identity"):
            try:
                await ops_consult.socket_closed(self)
            except Exception as exc:  # presence forgets it after three missed heartbeats
                if not unavailable_cause(exc):
                    raise
                log.warning("presence not told of a closed socket (%s)", type(exc).__name__)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        arrived = perf_counter()
        if text_data is None:
            await self.send(text_data=protocol.reply_error(
                None, protocol.BAD_FRAME, "Binary frames are not accepted; send JSON text."))
            return
        # Characters ≤ bytes ≤ 4 × characters: only encode when the cheap bound is unclear.
        limit = settings.CURBSIDE_LIMITS["frame_bytes"]
        if len(text_data) > limit or (len(text_data) * 4 > limit
                                      and len(text_data.encode()) > limit):
            await self.close(code=protocol.CLOSE_TOO_BIG)
            return
        try:
            request = protocol.parse_request(text_data)
        except protocol.ProtocolError as exc:
            await self.send(text_data=exc.reply())
            return
        except Exception:  # a parser bug: answer it, and keep the socket (never a 1011)
            log.exception("parsing a frame failed")
            await self.send(text_data=protocol.reply_error(
                None, protocol.INTERNAL, "The server failed to read this frame."))
            return
        wait = self.frame_bucket.take(time.monotonic())
        if wait:
            await self.send(text_data=protocol.reply_error(
                request.ref, protocol.RATE_LIMITED, "Too many frames; slow down.",
                {"retry_after_s": retry_after_s(wait)}))
            return
        handler = OPS[type(request)]
        if not isinstance(request, protocol.Ping):
            self.active_since_ping = True  # folded into the next heartbeat's presence write
            await ops_consult.frame_seen(self)
        if isinstance(request, protocol.MessageSend):
            # Sends wait for a group commit; handled in the background, they leave this loop
            # free to read the next frame at once, so the message rate is charged when a frame
            # arrives and an overload is answered rate_limited now, not after a queue of
            # commits. Started in arrival order, they reach the writer in arrival order.
            if len(self.sends_in_flight) >= MAX_SENDS_IN_FLIGHT:
                await self.send(text_data=protocol.reply_error(
                    request.ref, protocol.RATE_LIMITED,
                    "Too many messages waiting to be stored; slow down.",
                    {"retry_after_s": SENDS_RETRY_S}))
                return
            task = asyncio.get_running_loop().create_task(
                self.answer(request, handler, arrived=arrived))
            self.sends_in_flight.add(task)
            task.add_done_callback(self.sends_in_flight.discard)
            return
        self.state = SocketState.BUSY
        try:
            await self.answer(request, handler)
        finally:
            if self.state is SocketState.BUSY:
                self.state = SocketState.OPEN
        while self.deferred:
            await self.room_evict(self.deferred.pop(0))

    async def answer(self, request: protocol.Request, handler,
                     arrived: float | None = None) -> None:
        """Run one op's handler and send its reply: data, or the domain error's code.
        ``arrived`` (``perf_counter`` when a message.send frame came in): the time to its
        reply goes to ``curbside_send_ack_seconds``."""
        succeeded = False
        try:
            data = await handler(self, request)
        except DomainError as exc:
            details = dict(exc.details)
            if exc.fields:
                details.setdefault("fields", exc.fields)
            reply = protocol.reply_error(request.ref, exc.code, exc.message, details)
        except Exception as exc:
            if unavailable_cause(exc):
                log.warning("op %s: a dependency is unavailable (%s)", type(request).__name__,
                            type(exc).__name__)
                reply = protocol.reply_error(request.ref, protocol.UNAVAILABLE,
                                             "A service this request needs is unavailable; "
                                             "try again shortly.")
            else:
                log.exception("op %s failed", type(request).__name__)
                reply = protocol.reply_error(request.ref, protocol.INTERNAL,
                                             "The server failed to handle this request.")
        else:
            reply = protocol.reply_ok(request.ref, data)
            succeeded = True
        if size := _oversize(reply):
            succeeded = False
            # Pages are sized to fit frame_bytes (rooms/selectors.py): only data that predates
            # a limit gets here. Say so, rather than send nothing or lose the socket.
            limit = settings.CURBSIDE_SEND_FRAME_BYTES
            log.error("reply to %s not sent: %d bytes, over the %d-byte send limit",
                      type(request).__name__, size, limit)
            reply = protocol.reply_error(request.ref, protocol.TOO_LARGE,
                                         "The reply is too large to send.",
                                         {"bytes": size, "max": limit})
        after = self.after_reply.pop(id(request), ()) if self.after_reply else ()
        await self.send(text_data=reply)
        if arrived is not None:
            metrics.SEND_ACK_SECONDS.observe(perf_counter() - arrived)
        if succeeded:
            for frame in after:
                await self.send(text_data=frame)

    def send_after_reply(self, request: protocol.Request, frame: str) -> None:
        """Queue ``frame`` to follow the reply to ``request`` (sent only if the op succeeds —
        on an error reply they are dropped with it): e.g. a lounge's earlier case cards,
        which a client can place once it knows the room."""
        if self.after_reply is None:
            self.after_reply = {}
        self.after_reply.setdefault(id(request), []).append(frame)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                   close: bool = False) -> None:
        """Every frame to this socket — replies, the welcome, events from the hub — goes
        through here. One that cannot be sent never takes the socket down: over the send
        limit it is dropped and logged (``receive`` has turned an oversized reply into
        ``too_large`` before), and a send that fails (the socket closing under it, or the
        server refusing the frame) is logged. Before, an exception here ended the consumer
        without ``disconnect`` — its hub subscriptions stayed — and daphne closed the socket
        with 1011 a second later."""
        if text_data is not None and (size := _oversize(text_data)):
            # Logged by its head (op, type or ref), never its data: bodies are PHI-adjacent.
            log.error("frame not sent: %d bytes, over the %d-byte send limit (%s…)", size,
                      settings.CURBSIDE_SEND_FRAME_BYTES,
                      text_data[:100].split(',"data"', 1)[0])
            return
        if self.backlog is not None and self.backlog.stalled():
            return  # never wait on a client that does not read (gateway/backlog.py)
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except (Disconnected, OSError):
            # autobahn's Disconnected under daphne; under uvicorn and granian a send to a
            # closed socket raises an OSError, as the ASGI spec asks of servers (uvicorn's
            # ClientDisconnected).
            log.debug("send to a closing socket dropped")
        except Exception:
            log.exception("send failed; the socket stays open")

    # --- what the hub hands over for this socket's user or session -------------------------
    async def control(self, message: dict) -> None:
        """Called by the hub, outside this consumer's own dispatch. A room eviction that
        arrives while an op is in flight waits for it (a room.join between its membership
        check and its subscription must not outlive a kick that committed meanwhile, as when
        evictions queued behind ops on a per-socket channel); a close acts at once."""
        kind = message.get("type")
        if kind == hub.SESSION_CLOSE:
            await self.session_close(message)
        elif kind == hub.ROOM_EVICT:
            if self.state is SocketState.BUSY:
                if self.deferred is None:
                    self.deferred = []
                self.deferred.append(message)
            else:
                await self.room_evict(message)

    async def session_close(self, message: dict) -> None:
        """Suspension, ban, erasure or logout. Before accept (a handshake still reading the
        profile) the close refuses the handshake instead."""
        self.state = SocketState.CLOSED
        await self.close(code=message.get("code", protocol.CLOSE_FORBIDDEN))

    async def room_evict(self, message: dict) -> None:
        """A kick or room ban (rooms.moderation): drop the room from this socket."""
        if getattr(self, "rooms", {}).pop(message["room"], None) is not None:
            await hub.room_unsubscribe(message["room"], self)
            await self.send(text_data=message["frame"])


async def recheck_sockets() -> None:
    """Close the open sockets whose user may no longer connect. The hub calls it once its
    channel layer works again after a failure: a suspension or ban committed meanwhile may
    have sent its close to nobody (a Redis restarted empty drops sends silently until the
    memberships are back), and this process would keep the socket open."""
    sockets = [s for s in hub.hub.sockets() if isinstance(s, CurbsideConsumer)
               and s.state in (SocketState.OPEN, SocketState.BUSY)]
    if not sockets:
        return
    refused = await database_sync_to_async(selectors.socket_refusals)(
        user_ids=list({s.identity.user_id for s in sockets}))
    for socket in sockets:
        refusal = refused.get(socket.identity.user_id)
        if refusal is not None:
            log.info("socket closed after a delivery outage: %s", refusal[1])
            await socket.session_close({"code": refusal[0]})


if recheck_sockets not in hub.hub.resync_listeners:
    hub.hub.resync_listeners.append(recheck_sockets)


# --- Checking every frame sent (tests) -------------------------------------------------------

# The op of the request the running ``receive`` handles: its reply is checked against it.
_request_op: ContextVar[str | None] = ContextVar("curbside_request_op", default=None)


def frame_checked_methods(report: Callable[[str, str], None]) -> dict[str, Callable]:
    """``receive`` and ``send`` for CurbsideConsumer that check every frame the socket sends
    with ``bus.protocol.validate_server_frame`` — a reply against the op of the request it
    answers — and call ``report(problem, frame)`` for an invalid one (it is still sent).

    Installed at import under CURBSIDE_VALIDATE_FRAMES=1, and by the test suite's autouse
    fixture (tests/conftest.py) for consumers that run in the test process. Every frame of a
    socket goes through ``send``: replies, the welcome, and what the hub hands over.
    """
    receive, send = CurbsideConsumer.receive, CurbsideConsumer.send

    async def checked_receive(self, text_data: str | None = None,
                              bytes_data: bytes | None = None) -> None:
        token = _request_op.set(protocol.request_op(text_data) if text_data is not None else None)
        try:
            await receive(self, text_data=text_data, bytes_data=bytes_data)
        finally:
            _request_op.reset(token)

    async def checked_send(self, text_data: str | None = None, bytes_data: bytes | None = None,
                           close: bool = False) -> None:
        if text_data is not None:
            try:
                protocol.validate_server_frame(text_data, op=_request_op.get())
            except protocol.InvalidFrame as exc:
                report(str(exc), text_data)
        elif bytes_data is not None:
            report("a binary frame (the server sends text frames only)", repr(bytes_data[:200]))
        await send(self, text_data=text_data, bytes_data=bytes_data, close=close)

    return {"receive": checked_receive, "send": checked_send}


def _log_invalid_frame(problem: str, frame: str) -> None:
    log.error("%s: %s; frame: %s", INVALID_FRAME_MARK, problem, frame[:2000])


if VALIDATE_FRAMES:
    for _name, _method in frame_checked_methods(_log_invalid_frame).items():
        setattr(CurbsideConsumer, _name, _method)
