"""Who speaks in a room, as members see them: pseudonym → author card.

Message rows hold only the author's pseudonym. To show a card (handle or chosen real name,
verified badge, specialty, moderator) the server recomputes each member's pseudonym with the
keyring — one HMAC per member — instead of storing the mapping. The roster is cached per
process for a short time; membership changes in this process drop it at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from crypto import personal
from crypto.pseudonyms import pseudonym_handle, pseudonym_id
from physicians.models import Role
from rooms.models import Membership

# How long a process trusts its cached roster of a room. Other processes' membership
# changes (a new member's real-name card) show up within this bound.
ROSTER_TTL_S = 30.0
# Bounded cache: rooms whose roster a process keeps.
ROSTER_CACHE_ROOMS = 2048


@dataclass(frozen=True)
class Author:
    pseudonym: str
    name: str
    verified: bool
    specialty: str | None
    moderator: bool

    def card(self) -> dict:
        return {"pseudonym": self.pseudonym, "name": self.name, "verified": self.verified,
                "specialty": self.specialty, "moderator": self.moderator}


@dataclass(frozen=True)
class Member:
    user_id: str
    author: Author


_cache: dict[str, tuple[float, dict[str, Member]]] = {}


def author_for(*, user_id: str, room_id: str, role: str, specialty: str | None,
               verified: bool, real_name: str | None = None) -> Author:
    pid = pseudonym_id(user_id=user_id, room_id=room_id)
    return Author(
        pseudonym=pid,
        name=real_name or pseudonym_handle(pid),
        verified=verified,
        specialty=specialty,
        moderator=role in (Role.MODERATOR, Role.ADMIN),
    )


def roster(room_id: str, *, now: float | None = None) -> dict[str, Member]:
    """pseudonym → member, for every current and past member of ``room_id``."""
    now = time.monotonic() if now is None else now
    hit = _cache.get(room_id)
    if hit and now - hit[0] < ROSTER_TTL_S:
        return hit[1]
    members: dict[str, Member] = {}
    rows = (Membership.objects.filter(room_id=room_id)
            .select_related("user", "user__physician", "user__physician__primary_specialty"))
    for m in rows:
        user = m.user
        physician = getattr(user, "physician", None)
        real = None
        if m.real_name and physician is not None and user.personal_key is not None:
            uid = str(user.pk)
            key = personal.unwrap_personal_key(uid, bytes(user.personal_key))
            real = personal.open_field(key, uid, "display_name", bytes(physician.display_name_sealed))
        author = author_for(
            user_id=str(user.pk), room_id=room_id, role=user.role,
            specialty=physician.primary_specialty.slug if physician else None,
            verified=bool(physician and physician.is_verified), real_name=real,
        )
        members[author.pseudonym] = Member(user_id=str(user.pk), author=author)
    if len(_cache) >= ROSTER_CACHE_ROOMS:
        _cache.pop(next(iter(_cache)))
    _cache[room_id] = (now, members)
    return members


def roster_forget(room_id: str) -> None:
    _cache.pop(room_id, None)


def author_of(room_id: str, pseudonym: str) -> Author:
    """The card for ``pseudonym``; a former author who is no longer known gets the handle."""
    member = roster(room_id).get(pseudonym)
    if member is None:
        roster_forget(room_id)
        member = roster(room_id).get(pseudonym)
    if member is None:
        return Author(pseudonym=pseudonym, name=pseudonym_handle(pseudonym), verified=True,
                      specialty=None, moderator=False)
    return member.author
