"""Handlers of the socket ops: each checks what the socket may do, calls one service (one
thread hop for the database), and returns the reply data. Domain exceptions raised here or
in services become error replies in the consumer."""

from __future__ import annotations

import time
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from bus import hub, protocol
from consult import selectors as case_selectors
from consult import services as case_services
from core.errors import Forbidden, RateLimited, TooLarge, ValidationFailed
from core.limits import TokenBucket, retry_after_s
from phi.guard import phi_guard
from presence import runtime
from rooms import events, messages, roster, selectors, services


@dataclass
class Joined:
    """What a socket knows about a room it has joined."""

    author: roster.Author
    moderator_view: bool
    newly_member: bool = False  # this join made the membership (or made it active again)


# Per-user message buckets of this process (a user's sockets on one process share one).
_message_buckets: dict[str, TokenBucket] = {}


def _message_bucket(user_id: str) -> TokenBucket:
    bucket = _message_buckets.get(user_id)
    if bucket is None:
        limits = settings.CURBSIDE_LIMITS
        bucket = _message_buckets[user_id] = TokenBucket(rate=limits["messages_per_s"],
                                                         burst=limits["message_burst"])
    return bucket


def _joined(conn, room_id: str) -> Joined:
    joined = conn.rooms.get(room_id)
    if joined is None:
        raise Forbidden("Join the room first (room.join).", details={"room": room_id})
    return joined


def _check_body(body: str) -> None:
    limit = settings.CURBSIDE_LIMITS["message_chars"]
    if len(body) > limit:
        raise TooLarge(f"The message is longer than {limit} characters.",
                       details={"field": "body", "max": limit, "length": len(body)})
    if not body.strip():
        raise ValidationFailed("The message is empty.", details={"field": "body"})


def _join(conn, room_id: str, since: int | None) -> tuple[Joined, dict, selectors.Page]:
    room, member = services.room_join(room_id=room_id, user=conn.user)
    profile = conn.identity.profile
    author = roster.author_for(
        user_id=conn.identity.user_id, room_id=room_id, role=conn.identity.role,
        specialty=profile.specialty, verified=profile.verified,
        real_name=profile.display_name if member and member.real_name else None)
    joined = Joined(author=author, moderator_view=conn.user.is_moderator,
                    newly_member=bool(getattr(member, "newly_active", False)))
    page = selectors.messages_since(room_id=room_id, since=since,
                                    moderator_view=joined.moderator_view)
    return joined, selectors.room_summary(room=room, member=member), page


async def room_join(conn, request: protocol.RoomJoin) -> dict:
    limit = settings.CURBSIDE_LIMITS["rooms_per_socket"]
    if request.room not in conn.rooms and len(conn.rooms) >= limit:
        raise Forbidden(f"A socket may join at most {limit} rooms.",
                        details={"limit": "rooms_per_socket", "max": limit})
    # Subscribe before reading history: an event that lands in between arrives twice at
    # worst (the client drops seqs it has), never zero times.
    await hub.room_subscribe(request.room, conn)
    try:
        joined, summary, page = await database_sync_to_async(_join)(conn, request.room,
                                                                    request.since)
    except Exception:
        if request.room not in conn.rooms:
            await hub.room_unsubscribe(request.room, conn)
        raise
    first_join = request.room not in conn.rooms
    conn.rooms[request.room] = joined
    if summary["kind"] == "lounge":
        summary["online"] = await runtime.store().online_count(specialty=summary["specialty"],
                                                               now=time.time())
        if summary["specialty"]:
            # The lounge's case history: the cards posted before this joiner came, as
            # ``case.posted`` events (each its own frame, so they never crowd the page of
            # messages out of the reply), oldest first, right after the reply.
            for card in await database_sync_to_async(_lounge_cards)(conn, summary["specialty"]):
                conn.send_after_reply(request, protocol.event_frame(
                    "case.posted", protocol.CasePosted(case=card, earlier=True),
                    room=request.room))
    if first_join and joined.author.moderator:
        await hub.room_ephemeral(room_id=request.room, frame=events.moderator_presence(
            room_id=request.room, author=joined.author, present=True))
    if joined.newly_member:
        # Live member counts: only a membership that is new (or back) changes the count, so
        # a reconnect storm re-joining its rooms sends nothing.
        await hub.room_ephemeral(room_id=request.room, frame=events.member_count(
            room_id=request.room, members=summary["members"]))
    return {"room": summary, "me": joined.author.card(), "messages": page.messages,
            "more": page.more}


# How many earlier case cards a lounge join replays (the feed has the rest).
LOUNGE_CARDS = 20


def _lounge_cards(conn, specialty: str) -> list[protocol.CaseCard]:
    page, _ = case_selectors.case_feed(
        user=conn.user, filters=case_selectors.FeedFilter(specialty=specialty),
        limit=LOUNGE_CARDS)
    return [case_services.case_card(c) for c in reversed(page)
            if c.urgency == "routine" or c.published]


async def room_leave(conn, request: protocol.RoomLeave) -> dict:
    joined = conn.rooms.pop(request.room, None)
    await hub.room_unsubscribe(request.room, conn)
    if request.forget:
        await database_sync_to_async(services.membership_end)(room_id=request.room, user=conn.user)
        members = await database_sync_to_async(selectors.member_count)(room_id=request.room)
        await hub.room_ephemeral(room_id=request.room, frame=events.member_count(
            room_id=request.room, members=members))
    if joined and joined.author.moderator:
        await hub.room_ephemeral(room_id=request.room, frame=events.moderator_presence(
            room_id=request.room, author=joined.author, present=False))
    return {"room": request.room, "left": bool(request.forget)}


def _history(conn, room_id: str, before: int | None, limit: int, moderator_view: bool) -> dict:
    services.membership_require(room_id=room_id, user=conn.user)
    page = selectors.messages_before(room_id=room_id, before=before, limit=limit,
                                     moderator_view=moderator_view)
    return {"messages": page.messages, "more": page.more}


async def room_history(conn, request: protocol.RoomHistory) -> dict:
    joined = _joined(conn, request.room)
    return await database_sync_to_async(_history)(conn, request.room, request.before,
                                                  request.limit, joined.moderator_view)


async def message_send(conn, request: protocol.MessageSend) -> dict:
    joined = _joined(conn, request.room)
    _check_body(request.body)
    wait = _message_bucket(conn.identity.user_id).take(time.monotonic())
    if wait:
        raise RateLimited("You are sending too fast.", details={"retry_after_s": retry_after_s(wait)})
    # The PHI guard runs here, on the loop, before the writer sees the message: a refused
    # body is never stored (it is not even queued).
    findings = phi_guard(request.body, field="body", confirmed=request.confirm_phi)
    # Confirmed findings travel with the draft: the audit entry is written in the
    # transaction that stores the message.
    posted = await messages.post(request.room, messages.Draft(
        user=conn.user, author=joined.author, body=request.body, client_id=request.client_id,
        reply_to=request.reply_to, mentions=tuple(request.mentions),
        attachments=tuple(request.attachments), phi_confirmed=tuple(findings)))
    return {"seq": posted.seq, "id": posted.id, "sent_at": posted.sent_at.isoformat()}


async def message_edit(conn, request: protocol.MessageEdit) -> dict:
    joined = _joined(conn, request.room)
    _check_body(request.body)
    findings = phi_guard(request.body, field="body", confirmed=request.confirm_phi)
    msg = await database_sync_to_async(services.message_edit)(
        room_id=request.room, seq=request.seq, user=conn.user, author=joined.author,
        body=request.body, phi_confirmed=tuple(findings))
    return {"seq": msg.seq, "edited_at": msg.edited_at.isoformat()}


async def message_delete(conn, request: protocol.MessageDelete) -> dict:
    joined = _joined(conn, request.room)
    msg = await database_sync_to_async(services.message_delete)(
        room_id=request.room, seq=request.seq, user=conn.user, author=joined.author)
    return {"seq": msg.seq, "deleted_at": msg.deleted_at.isoformat()}


# Typing notices one socket may send per second (they are ephemeral; drop the excess).
TYPING_PER_S = 1.0


async def typing(conn, request: protocol.Typing) -> dict:
    joined = _joined(conn, request.room)
    now = time.monotonic()
    if now - conn.last_typing.get(request.room, 0.0) >= 1.0 / TYPING_PER_S:
        conn.last_typing[request.room] = now
        await hub.room_ephemeral(room_id=request.room,
                                    frame=events.typing(room_id=request.room, author=joined.author))
    return {}


async def read(conn, request: protocol.Read) -> dict:
    _joined(conn, request.room)
    seq = await database_sync_to_async(services.read_mark)(room_id=request.room, user=conn.user,
                                                           seq=request.seq)
    return {"room": request.room, "last_read_seq": seq}
