"""The one WebSocket consumer of /ws/v1/: parse → call a handler → reply.

No ORM calls here. The handshake asks ``consult.selectors.socket_identity`` (one thread
hop), then every frame goes through ``rooms.protocol.parse_request`` and the handler
registered for its op in ``rooms.ops``; domain exceptions become error replies with stable
codes, and a bad frame never closes the socket (except one over the size limit: 1009).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from consult.errors import DomainError
from consult.models import User
from consult.selectors import SocketIdentity, socket_identity
from presence import ops as presence_ops
from rooms import fanout, mod_ops, ops, protocol  # noqa: F401  (ops modules register handlers)
from rooms.handlers import HANDLERS
from rooms.limits import TokenBucket

log = logging.getLogger(__name__)

# Frames per second one socket may send before it is told rate_limited (a flood guard on
# top of the per-user message rate): generous for a real client, cheap to enforce.
FRAMES_PER_S = 30.0
FRAME_BURST = 60.0

class CurbsideConsumer(AsyncWebsocketConsumer):
    identity: SocketIdentity
    session_id: str

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers", []))
        origin = headers.get(b"origin")
        query = parse_qs(self.scope.get("query_string", b"").decode())
        cookies = SimpleCookie()
        cookies.load(headers.get(b"cookie", b"").decode("latin-1"))
        session = cookies.get(settings.SESSION_COOKIE_NAME)
        result = await database_sync_to_async(socket_identity)(
            ticket=(query.get("ticket") or [None])[0],
            session_key=session.value if session else None,
            origin=origin.decode("latin-1") if origin is not None else None,
            allowed_origins=settings.CURBSIDE_WS_ORIGINS,
        )
        if isinstance(result, tuple):
            # Closing before accept makes daphne answer the handshake with HTTP 403: the
            # client is refused before any data is sent.
            log.info("socket refused: %s", result[1])
            await self.close(code=result[0])
            return
        self.identity = result
        # A detached user object: services need only its id and role, no query per op.
        self.user = User(id=uuid.UUID(result.user_id), role=result.role)
        self.rooms: dict = {}
        self.last_typing: dict[str, float] = {}
        self.session_id = secrets.token_hex(8)
        self.frame_bucket = TokenBucket(rate=FRAMES_PER_S, burst=FRAME_BURST)
        self.groups_joined: list[str] = [fanout.user_group(result.user_id)]
        if result.session_key:
            self.groups_joined.append(fanout.session_group(result.session_key))
        await fanout.subscribe(self.channel_name, *self.groups_joined)
        await fanout.user_subscribe(result.user_id, self)
        await self.accept()
        await self.send(text_data=self.welcome())
        self.active_since_ping = True
        await presence_ops.socket_opened(self)

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
        if hasattr(self, "identity"):
            await presence_ops.socket_closed(self)
        if hasattr(self, "identity"):
            fanout.user_unsubscribe(self.identity.user_id, self)
        for room in getattr(self, "rooms", {}):
            await fanout.room_unsubscribe(room, self)
        await fanout.unsubscribe(self.channel_name, *getattr(self, "groups_joined", []))

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
                {"retry_after_s": round(wait, 3)}))
            return
        handler = HANDLERS[type(request)]
        if not isinstance(request, protocol.Ping):
            self.active_since_ping = True  # folded into the next heartbeat's presence write
            await presence_ops.frame_seen(self)
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
        await self.send(text_data=reply)

    # --- channel-layer messages (types are prefixed per Channels convention) ---------------
    async def session_close(self, message: dict) -> None:
        await self.close(code=message.get("code", protocol.CLOSE_FORBIDDEN))

    async def room_evict(self, message: dict) -> None:
        """A kick or room ban (rooms.moderation): drop the room from this socket."""
        if self.rooms.pop(message["room"], None) is not None:
            await fanout.room_unsubscribe(message["room"], self)
            await self.send(text_data=message["frame"])
