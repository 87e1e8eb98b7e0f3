"""Reads of rooms and messages, with the bodies opened for the member who asks."""

from __future__ import annotations

from dataclasses import dataclass

from crypto import envelope
from crypto.aead import DecryptError
from rooms import events, roster
from rooms.models import Membership, Message, Room

# Messages per page of history or resume; `more` says there is another page.
PAGE = 100


@dataclass(frozen=True)
class Page:
    messages: list[dict]
    more: bool


def _open(m: Message) -> str:
    try:
        return envelope.message_open(
            room_id=m.room_id, message_id=str(m.id), seq=m.seq, author=m.author,
            sealed=envelope.Sealed(epoch=m.epoch, key_id=m.key_id, blob=bytes(m.body_sealed)),
        ).decode()
    except DecryptError:
        # Erased author (keys destroyed): the message stays in order but has no body.
        return ""


def _payloads(rows: list[Message], moderator_view: bool) -> list[dict]:
    out = []
    for m in rows:
        body = "" if m.deleted_at else _open(m)
        out.append(events.message_payload(
            message=m, author=roster.author_of(m.room_id, m.author), body=body,
            moderator_view=moderator_view))
    return out


def messages_since(*, room_id: str, since: int | None, moderator_view: bool = False,
                   limit: int = PAGE) -> Page:
    """Messages after ``since`` in seq order (resume), or the latest page without it."""
    qs = Message.objects.filter(room_id=room_id)
    if since is None:
        rows = list(qs.order_by("-seq")[: limit + 1])
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    else:
        rows = list(qs.filter(seq__gt=since).order_by("seq")[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
    return Page(messages=_payloads(rows, moderator_view), more=more)


def messages_before(*, room_id: str, before: int | None, limit: int = PAGE,
                    moderator_view: bool = False) -> Page:
    """One page backwards from ``before`` (exclusive), returned in seq order."""
    qs = Message.objects.filter(room_id=room_id)
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    more = len(rows) > limit
    return Page(messages=_payloads(list(reversed(rows[:limit])), moderator_view), more=more)


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
