"""Every state change of rooms, memberships and existing messages (keyword-only, typed,
atomic). Posting new messages — the hot path — is rooms/messages.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from bus import outbox
from core.errors import Conflict, Forbidden, NotFound
from crypto import envelope, escrow
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from physicians.models import User
from rooms import events, roster, search_index
from rooms.models import (
    MemberRole,
    Membership,
    Message,
    MessageRevision,
    Room,
    RoomKind,
)

# Who may join a room that is not open besides its members and moderators: consult registers
# the case rule (``room_admission_register``) so rooms need not know about cases. A policy
# returns True when it admits ``user`` (and may record the opening); the first True wins.
_admission: list[Callable[[Room, User], bool]] = []


def room_admission_register(policy: Callable[[Room, User], bool]) -> None:
    if policy not in _admission:
        _admission.append(policy)


def _admitted(room: Room, user: User) -> bool:
    return any(policy(room, user) for policy in _admission)


def _room(room_id: str) -> Room:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise NotFound(f"No room '{room_id[:64]}'.", details={"room": room_id[:64]})
    return room


def membership_require(*, room_id: str, user: User, now: datetime | None = None,
                       for_writing: bool = False) -> Membership | None:
    """The caller's active membership, or None for a moderator who is not a member.

    Raises:
        NotFound: no such room (also for a case room the caller may not know about).
        Forbidden: banned, not a member, or (for writing) muted — with the mute's end.
    """
    m = Membership.objects.filter(room_id=room_id, user=user).first()
    return membership_check(m, room_id=room_id, user=user, now=now or timezone.now(),
                            for_writing=for_writing)


def membership_check(m: Membership | None, *, room_id: str, user: User, now: datetime,
                     for_writing: bool) -> Membership | None:
    """``membership_require`` on a membership already read (the batch writer reads many in
    one query). Raises: Forbidden."""
    if m is not None and m.banned:
        raise Forbidden("You are banned from this room.", details={"room": room_id})
    if m is None or not m.active:
        if user.is_moderator:
            return None
        raise Forbidden("You are not a member of this room.", details={"room": room_id})
    if for_writing and m.muted_until and m.muted_until > now:
        raise Forbidden("You are muted in this room.",
                        details={"room": room_id, "muted_until": m.muted_until.isoformat()})
    return m


def room_join(*, room_id: str, user: User) -> tuple[Room, Membership]:
    """Subscribe ``user`` to ``room_id``: lounges let every verified physician in (creating
    the membership), case rooms only their members; moderators may join any room.

    Raises:
        NotFound, Forbidden: see ``membership_require``.
    """
    room = _room(room_id)
    m = Membership.objects.filter(room=room, user=user).first()
    if m is not None and m.banned:
        raise Forbidden("You are banned from this room.", details={"room": room_id})
    if m is None or not m.active:
        if not (room.is_open or user.is_moderator or _admitted(room, user)):
            raise NotFound(f"No room '{room_id[:64]}'.", details={"room": room_id[:64]})
        role = MemberRole.MODERATOR if user.is_moderator else MemberRole.MEMBER
        m = membership_add(room=room, user=user, role=role)
    return room, m


def membership_add(*, room: Room, user: User, role: str = MemberRole.MEMBER) -> Membership:
    """Make ``user`` an active member. A membership change starts a new key epoch, and the
    (room, pseudonym) → user link is sealed to the escrow key for audited unmasking."""
    with outbox.atomic():
        m, created = Membership.objects.get_or_create(room=room, user=user,
                                                      defaults={"role": role})
        if created or not m.active:
            if not created:
                m.active = True
                m.save(update_fields=["active"])
            envelope.room_epoch_advance(room_id=room.id)
            # The room's member count changed: the socket layer tells the room (no query here).
            m.newly_active = True
        escrow.escrow_record(room_id=room.id, user_id=str(user.pk),
                             pseudonym=pseudonym_id(user_id=str(user.pk), room_id=room.id))
    roster.roster_forget(room.id)
    return m


def membership_end(*, room_id: str, user: User) -> None:
    """Leave a room for good (a kick uses the same path). New messages are sealed under a
    fresh epoch key, so the departed member's keys give nothing new."""
    with outbox.atomic():
        n = Membership.objects.filter(room_id=room_id, user=user, active=True).update(active=False)
        if n:
            envelope.room_epoch_advance(room_id=room_id)
    roster.roster_forget(room_id)


def _own_message(*, room_id: str, seq: int, user: User, author: str) -> Message:
    msg = Message.objects.select_for_update().filter(room_id=room_id, seq=seq).first()
    if msg is None:
        raise NotFound(f"No message {seq}.", details={"seq": seq})
    if msg.author != author and not user.is_moderator:
        raise Forbidden("You can only change your own messages.", details={"seq": seq})
    if msg.deleted_at is not None:
        raise Conflict("The message was deleted.", details={"seq": seq})
    return msg


def _keep_revision(msg: Message, now: datetime) -> None:
    """Keep the current body (still sealed) for moderators before it is replaced."""
    rev = MessageRevision.objects.filter(message=msg).count() + 1
    MessageRevision.objects.create(message=msg, revision=rev, epoch=msg.epoch, key_id=msg.key_id,
                                   body_sealed=msg.body_sealed, replaced_at=now)


def message_edit(*, room_id: str, seq: int, user: User, author: roster.Author, body: str,
                 phi_confirmed: tuple = (), now: datetime | None = None) -> Message:
    """Replace a message's body (own messages; moderators any). The original is kept. PHI
    guard findings the author confirmed are audited in the same transaction.

    Raises:
        NotFound, Forbidden, Conflict (deleted).
    """
    now = now or timezone.now()
    membership_require(room_id=room_id, user=user, now=now, for_writing=True)
    with outbox.atomic():
        msg = _own_message(room_id=room_id, seq=seq, user=user, author=author.pseudonym)
        _keep_revision(msg, now)
        # Re-sealed under the same (room, id, seq, author) binding, current epoch.
        sealed = envelope.message_seal(room_id=room_id, message_id=str(msg.id), seq=seq,
                                       author=msg.author, body=body.encode())
        msg.epoch, msg.key_id, msg.body_sealed, msg.edited_at = (
            sealed.epoch, sealed.key_id, sealed.blob, now)
        msg.save(update_fields=["epoch", "key_id", "body_sealed", "edited_at"])
        if msg.hidden_at is None:  # a hidden message stays out of the index until shown
            search_index.message_terms_replace(msg, body)
        if phi_confirmed:
            phi_confirmation_record(actor=author.pseudonym, op="message.edit",
                                    subject=f"room:{room_id}/seq:{msg.seq}",
                                    findings=list(phi_confirmed))
        outbox.room_event(room_id=room_id, frame=events.message_changed(
            "message.edited", room_id=room_id, seq=seq, data={"body": body,
                                                              "edited_at": now.isoformat()}))
    return msg


def message_delete(*, room_id: str, seq: int, user: User, author: roster.Author,
                   now: datetime | None = None) -> Message:
    """Delete a message for members (own; moderators any); the sealed body is kept as a
    revision that only moderators can read."""
    now = now or timezone.now()
    membership_require(room_id=room_id, user=user, now=now)
    with outbox.atomic():
        msg = _own_message(room_id=room_id, seq=seq, user=user, author=author.pseudonym)
        _keep_revision(msg, now)
        msg.deleted_at = now
        msg.save(update_fields=["deleted_at"])
        search_index.message_terms_drop([msg.id])
        outbox.room_event(room_id=room_id, frame=events.message_changed(
            "message.deleted", room_id=room_id, seq=seq, data={"deleted_at": now.isoformat()}))
    return msg


def read_mark(*, room_id: str, user: User, seq: int) -> int:
    """Move the durable read marker forward (never back); returns the marker."""
    m = membership_require(room_id=room_id, user=user)
    if m is None:
        return 0
    room_last = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).get()
    seq = min(seq, room_last)
    Membership.objects.filter(pk=m.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    return max(seq, m.last_read_seq)


def case_room_create(*, title: str, specialty_id: int | None, members: list[User]) -> Room:
    """A case room (the Cases issue calls this when a case is posted)."""
    # The id spelled out (tests/bus/test_protocol_limits.py reads it); CASE_ROOM_PREFIX is "case-".
    room = Room.objects.create(id=f"case-{uuid.uuid4().hex[:16]}", kind=RoomKind.CASE,
                               title=title, specialty_id=specialty_id)
    for i, user in enumerate(members):
        membership_add(room=room, user=user, role=MemberRole.POSTER if i == 0 else MemberRole.MEMBER)
    return room


def mute_until(*, minutes: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(minutes=minutes)
