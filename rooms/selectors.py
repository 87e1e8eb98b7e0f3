"""Reads of rooms and messages, with the bodies opened for the member who asks."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from django.conf import settings

from bus import protocol
from crypto import envelope
from crypto.aead import DecryptError
from rooms import events, roster
from rooms.models import Membership, Message, MessageRevision, Room

# Messages per page of history or resume; `more` says there is another page.
PAGE = 100
# A page is also capped by size: its messages, encoded, take at most page_bytes() — the
# frame limit less ENVELOPE_BYTES for the rest of the reply frame (op, ref, ok, more and,
# for room.join, the room summary and the member's own author card: a few hundred bytes,
# about 3 KiB at worst) — so a reply frame never exceeds limits.frame_bytes. A page holds
# at least one message, and says `more` when it stopped early.
ENVELOPE_BYTES = 8 * 1024
# The most the fields of one message other than its body take encoded: id, seq, the author
# card (a name of at most physicians.services.DISPLAY_NAME_MAX_CHARS, 128), sent_at, reply_to,
# 50 mentions, 10 attachments, the flags (about 3 KiB at worst; tests/rooms measure it).
MESSAGE_OVERHEAD_BYTES = 4 * 1024
# max_bytes for a caller whose page never goes into a frame (the moderators' HTTP API).
NO_SIZE_CAP = sys.maxsize


def page_bytes() -> int:
    """The byte budget of one page's messages (the commas between them included)."""
    return settings.CURBSIDE_LIMITS["frame_bytes"] - ENVELOPE_BYTES


def message_bytes_max() -> int:
    """The most one message can take encoded: a body of ``message_chars`` characters, each
    escaped to six bytes, and the largest other fields. gateway/checks.py refuses limits
    under which this does not fit one page (one maximal message must always be sendable)."""
    return (settings.CURBSIDE_LIMITS["message_chars"] * protocol.JSON_BYTES_PER_CHAR_MAX
            + MESSAGE_OVERHEAD_BYTES)


@dataclass(frozen=True)
class Page:
    messages: list[dict]
    more: bool


def message_body(m: Message) -> str:
    """The message's current body, or "" when its author was erased (keys destroyed)."""
    try:
        return envelope.message_open(
            room_id=m.room_id, message_id=str(m.id), seq=m.seq, author=m.author,
            sealed=envelope.Sealed(epoch=m.epoch, key_id=m.key_id, blob=bytes(m.body_sealed)),
        ).decode()
    except DecryptError:
        # Erased author (keys destroyed): the message stays in order but has no body.
        return ""


def revision_open(m: Message, r: MessageRevision) -> str:
    """An earlier body of ``m`` (sealed under the binding of ``m``, at its own epoch);
    ``""`` once the author was erased."""
    try:
        return envelope.message_open(
            room_id=m.room_id, message_id=str(m.id), seq=m.seq, author=m.author,
            sealed=envelope.Sealed(epoch=r.epoch, key_id=r.key_id, blob=bytes(r.body_sealed)),
        ).decode()
    except DecryptError:
        return ""


def _payload(m: Message, moderator_view: bool) -> dict:
    body = "" if m.deleted_at else message_body(m)
    return events.message_payload(message=m, author=roster.author_of(m.room_id, m.author),
                                  body=body, moderator_view=moderator_view)


def _fill(rows: list[Message], *, limit: int, max_bytes: int,
          moderator_view: bool) -> tuple[list[dict], bool]:
    """Payloads of ``rows`` (walked in the page's direction: up from ``since``, down from
    ``before`` or the top) while they fit ``limit`` messages and ``max_bytes`` encoded bytes;
    at least one. ``rows`` holds up to ``limit + 1`` rows: one more says there are more.
    Returns (payloads in walk order, more)."""
    out: list[dict] = []
    used = 0
    for m in rows[:limit]:
        payload = _payload(m, moderator_view)
        if max_bytes != NO_SIZE_CAP:
            used += protocol.encoded_size(payload) + 1  # and its comma in the list
            if out and used > max_bytes:
                return out, True  # stopped early: the rest is the next page
        out.append(payload)
    return out, len(rows) > limit


def messages_since(*, room_id: str, since: int | None, moderator_view: bool = False,
                   limit: int = PAGE, max_bytes: int | None = None) -> Page:
    """Messages after ``since`` in seq order (resume), or the latest page without it.

    A page holds at most ``limit`` messages and ``max_bytes`` of them encoded (default:
    ``page_bytes()``; ``NO_SIZE_CAP`` for none), at least one; ``more`` says there are more — after
    the last one with ``since``, before the first one without.
    """
    max_bytes = page_bytes() if max_bytes is None else max_bytes
    qs = Message.objects.filter(room_id=room_id)
    if since is None:
        rows = list(qs.order_by("-seq")[: limit + 1])
        payloads, more = _fill(rows, limit=limit, max_bytes=max_bytes,
                               moderator_view=moderator_view)
        payloads.reverse()
    else:
        rows = list(qs.filter(seq__gt=since).order_by("seq")[: limit + 1])
        payloads, more = _fill(rows, limit=limit, max_bytes=max_bytes,
                               moderator_view=moderator_view)
    return Page(messages=payloads, more=more)


def messages_before(*, room_id: str, before: int | None, limit: int = PAGE,
                    moderator_view: bool = False, max_bytes: int | None = None) -> Page:
    """One page backwards from ``before`` (exclusive), returned in seq order; sized as in
    ``messages_since`` (``more``: older messages exist)."""
    max_bytes = page_bytes() if max_bytes is None else max_bytes
    qs = Message.objects.filter(room_id=room_id)
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    payloads, more = _fill(rows, limit=limit, max_bytes=max_bytes, moderator_view=moderator_view)
    payloads.reverse()
    return Page(messages=payloads, more=more)


def member_count(*, room_id: str) -> int:
    return Membership.objects.filter(room_id=room_id, active=True).count()


def room_summary(*, room: Room, member: Membership | None) -> dict:
    return {
        "id": room.id,
        "kind": room.kind,
        "title": room.title,
        "specialty": room.specialty.slug if room.specialty_id and room.specialty else None,
        "last_seq": room.last_seq,
        "last_read_seq": member.last_read_seq if member else 0,
        "members": Membership.objects.filter(room=room, active=True).count(),
    }


def rooms_of(*, user) -> list[dict]:
    """The rooms ``user`` is an active member of, with their read markers: a client's list
    of its rooms and unread counts after a (re)connect. Newest activity first."""
    rows = (Membership.objects.filter(user=user, active=True)
            .select_related("room", "room__specialty").order_by("-room__last_seq", "room_id"))
    return [{"id": m.room.id, "kind": m.room.kind, "title": m.room.title,
             "specialty": m.room.specialty.slug if m.room.specialty_id else None,
             "last_seq": m.room.last_seq, "last_read_seq": m.last_read_seq} for m in rows]
