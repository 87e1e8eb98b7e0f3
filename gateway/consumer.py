"""The one WebSocket consumer of /ws/v1/: parse → call a handler → reply.

No ORM calls here. The handshake redeems a ticket (``physicians.services.ws_ticket_redeem``:
a decryption and one spent-nonce write, no database) or reads the browser session, then
takes the user's profile from ``physicians.socket_cache`` (a database read only on a miss);
then every frame goes through ``bus.protocol.parse_request`` and the handler
registered for its op in ``gateway.ops_rooms``; domain exceptions become error replies with stable
codes, and a bad frame never closes the socket (except one over the size limit: 1009).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from bus import hub, protocol
from core.errors import DomainError
from core.limits import TokenBucket, retry_after_s
from gateway import ops_consult
from gateway.optable import OPS
from physicians import selectors, socket_cache
from physicians.models import User
from physicians.selectors import SocketIdentity
from physicians.services import ws_ticket_redeem

log = logging.getLogger(__name__)


# Frames per second one socket may send before it is told rate_limited (a flood guard on
# top of the per-user message rate): generous for a real client, cheap to enforce.
FRAMES_PER_S = 30.0
FRAME_BURST = 60.0

# CURBSIDE_VALIDATE_FRAMES=1 (every daphne the tests start has it): check each frame this
# process sends against bus.protocol and log an invalid one as an ERROR carrying
# INVALID_FRAME_MARK, which fails the test (tests/support/servers.py). Decided once, here:
# without it the consumer keeps its plain methods and the check costs nothing.
VALIDATE_FRAMES = os.environ.get("CURBSIDE_VALIDATE_FRAMES") == "1"
INVALID_FRAME_MARK = "INVALID FRAME"

class CurbsideConsumer(AsyncWebsocketConsumer):
    # Class-level defaults: most sockets never set these, so they cost no per-socket dict slot.
    closed_early = False  # closed before or while the handshake finished
    busy = False  # an op is being handled
    deferred: list[dict] | None = None  # room evictions that arrived while busy
    # No channel-layer channel per socket: Channels then creates no channel and runs no
    # receive task for it (channels/consumer.py). Everything addressed to a socket arrives
    # through this process's hub (rooms/hub.py): room events, user events, closes and room
    # evictions.
    channel_layer_alias = None
    groups = ()  # Channels' own group list: none (and no empty list per socket)
    identity: SocketIdentity
    session_id: str

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers", []))
        origin_raw = headers.get(b"origin")
        origin = origin_raw.decode("latin-1") if origin_raw is not None else None
        ticket = (parse_qs(self.scope.get("query_string", b"").decode()).get("ticket") or [""])[0]
        refusal = selectors.origin_refusal(origin=origin, allowed_origins=settings.CURBSIDE_WS_ORIGINS,
                                           has_ticket=bool(ticket))
        if refusal is not None:
            return await self.refuse(refusal)
        session_key = None
        if ticket:
            user_id = await ws_ticket_redeem(ticket=ticket)
        else:
            cookies = SimpleCookie()
            cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
            morsel = cookies.get(settings.SESSION_COOKIE_NAME)
            session_key = morsel.value if morsel else None
            user_id = session_key and await socket_cache.session_user_id(session_key)
        if not user_id:
            return await self.refuse((4401, "unauthenticated"))
        # Subscribe before the profile is read: a suspension committed after that read
        # still finds this socket and closes it (the hub forgets the cached profile first).
        self.groups_joined: tuple[str, ...] = (hub.user_group(user_id),) + (
            (hub.session_group(session_key),) if session_key else ())
        for group in self.groups_joined:
            await hub.user_subscribe(group, self)
        result = await socket_cache.profiles().identity(
            self.groups_joined[0],
            lambda: database_sync_to_async(selectors.socket_profile)(user_id=user_id))
        if self.closed_early:  # closed (suspended, logged out) while the profile was read
            return self.unsubscribe_all()
        if isinstance(result, tuple):
            self.unsubscribe_all()
            return await self.refuse(result)
        if session_key:
            result = dataclasses.replace(result, session_key=session_key)
        self.identity = result
        self.rooms: dict = {}
        self.session_id = secrets.token_hex(8)
        await self.accept()
        await self.send(text_data=self.welcome())
        self.active_since_ping = True
        await ops_consult.socket_opened(self)

    async def refuse(self, refusal: tuple[int, str]) -> None:
        # Closing before accept makes daphne answer the handshake with HTTP 403: the
        # client is refused before any data is sent.
        log.info("socket refused: %s", refusal[1])
        self.closed_early = True
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
        self.closed_early = True
        self.unsubscribe_all()
        for room in getattr(self, "rooms", {}):
            await hub.room_unsubscribe(room, self)
        if hasattr(self, "identity"):
            await ops_consult.socket_closed(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
        self.busy = True
        try:
            data = await handler(self, request)
        except DomainError as exc:
            details = dict(exc.details)
            if exc.fields:
                details.setdefault("fields", exc.fields)
            reply = protocol.reply_error(request.ref, exc.code, exc.message, details)
        except Exception:
            log.exception("op %s failed", type(request).__name__)
            reply = protocol.reply_error(request.ref, protocol.INTERNAL,
                                         "The server failed to handle this request.")
        else:
            reply = protocol.reply_ok(request.ref, data)
        finally:
            self.busy = False
        await self.send(text_data=reply)
        while self.deferred:
            await self.room_evict(self.deferred.pop(0))

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
            if self.busy:
                if self.deferred is None:
                    self.deferred = []
                self.deferred.append(message)
            else:
                await self.room_evict(message)

    async def session_close(self, message: dict) -> None:
        """Suspension, ban, erasure or logout. Before accept (a handshake still reading the
        profile) the close refuses the handshake instead."""
        self.closed_early = True
        await self.close(code=message.get("code", protocol.CLOSE_FORBIDDEN))

    async def room_evict(self, message: dict) -> None:
        """A kick or room ban (rooms.moderation): drop the room from this socket."""
        if getattr(self, "rooms", {}).pop(message["room"], None) is not None:
            await hub.room_unsubscribe(message["room"], self)
            await self.send(text_data=message["frame"])


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
