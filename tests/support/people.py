"""A physician in one room, posting through the message writer (rooms/messages.py) and
reading their stored notifications: for the inbox tests (mentions, replies, the digest)."""

from __future__ import annotations

from datetime import UTC, datetime

from consult.models import Notification
from crypto.pseudonyms import pseudonym_id
from rooms import messages, roster
from rooms import services as room_services

LOUNGE = "lounge-cardiology"
NOW = datetime(2030, 5, 1, 12, 0, 42, tzinfo=UTC)


class Person:
    def __init__(self, make_physician, room_id: str = LOUNGE, **physician) -> None:
        self.physician, self.email, self.password = make_physician(**physician)
        self.user = self.physician.user
        self.room_id = room_id
        room_services.room_join(room_id=room_id, user=self.user)
        self.pseudonym = pseudonym_id(user_id=str(self.user.pk), room_id=room_id)
        self.author = roster.author_for(user_id=str(self.user.pk), room_id=room_id,
                                        role=self.user.role,
                                        specialty=physician.get("specialty", "cardiology"),
                                        verified=True)

    def post(self, body: str, *, mentions=(), reply_to=None, now=NOW) -> int:
        return messages.message_post(room_id=self.room_id, user=self.user, author=self.author,
                                     body=body, client_id=body[:64], mentions=tuple(mentions),
                                     reply_to=reply_to, now=now).seq

    def inbox(self) -> list[tuple[str, str]]:
        return list(Notification.objects.filter(user=self.user).order_by("id")
                    .values_list("kind", "room_id"))
