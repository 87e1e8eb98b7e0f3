"""Builders of the room events: each returns the frame text, encoded once (bus.protocol)."""

from __future__ import annotations

from bus import protocol
from rooms.roster import Author


def message_payload(*, message, author: Author, body: str, moderator_view: bool = False) -> dict:
    """The wire shape of one message (events and history share it). Deleted and hidden
    messages keep their seq but lose their body, except hidden ones for moderators."""
    hidden = message.hidden_at is not None
    deleted = message.deleted_at is not None
    show = not deleted and (not hidden or moderator_view)
    return {
        "id": str(message.id),
        "seq": message.seq,
        "author": author.card(),
        "body": body if show else "",
        "sent_at": message.sent_at.isoformat(),
        "reply_to": message.reply_to,
        "mentions": list(message.mentions),
        "attachments": [str(a) for a in message.attachments] if show else [],
        "edited": message.edited_at is not None,
        "deleted": deleted,
        "hidden": hidden,
    }


def message_new(*, room_id: str, message, author: Author, body: str) -> str:
    return protocol.event_frame("message.new", message_payload(message=message, author=author,
                                                               body=body),
                                room=room_id, seq=message.seq)


def message_changed(type_: str, *, room_id: str, seq: int, data: dict) -> str:
    """message.edited / message.deleted / message.hidden / message.unhidden."""
    return protocol.event_frame(type_, {"seq": seq, **data}, room=room_id, seq=seq)


def mention(*, room_id: str, seq: int, by: Author) -> str:
    return protocol.event_frame("mention", {"room": room_id, "seq": seq, "by": by.card()},
                                room=room_id, seq=seq)


def typing(*, room_id: str, author: Author) -> str:
    return protocol.event_frame("typing", {"author": author.card()}, room=room_id)


def member_count(*, room_id: str, members: int) -> str:
    """``room.members``: the room's active member count changed (a new or returning member,
    one who left for good)."""
    return protocol.event_frame("room.members", protocol.RoomMembers(members=members),
                                room=room_id)


def moderator_presence(*, room_id: str, author: Author, present: bool) -> str:
    return protocol.event_frame("room.moderator", {"author": author.card(), "present": present},
                                room=room_id)


# --- Moderation (rooms/moderation.py) ---

def member_muted(*, room_id: str, pseudonym: str, until: str) -> str:
    return protocol.event_frame("member.muted", {"pseudonym": pseudonym, "until": until},
                                room=room_id)


def member_kicked(*, room_id: str, pseudonym: str) -> str:
    return protocol.event_frame("member.kicked", {"pseudonym": pseudonym}, room=room_id)


def member_banned(*, room_id: str, pseudonym: str, scope: str) -> str:
    return protocol.event_frame("member.banned", {"pseudonym": pseudonym, "scope": scope},
                                room=room_id)


def room_removed(*, room_id: str, reason: str) -> str:
    """To the removed member's own sockets: the room is no longer subscribed."""
    return protocol.event_frame("room.removed", {"room": room_id, "reason": reason}, room=room_id)
