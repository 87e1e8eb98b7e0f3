"""Every state change of rooms and messages (keyword-only, typed, atomic).

The path of a message: permission → seal under the room's data key, bound to room, id, seq,
epoch and author → one transaction that takes the room's next ``seq`` under the room row's
lock and inserts → only then the reply → one fan-out event, serialized once, after commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bus import outbox
from core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from crypto import envelope, escrow
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from physicians.models import User
from rooms import events, roster
from rooms.models import MemberRole, Membership, Message, MessageRevision, Room, RoomKind


@dataclass(frozen=True)
class Posted:
    seq: int
    id: str
    sent_at: datetime
    created: bool  # False when client_id matched an earlier message (idempotent retry)


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
        if not (room.is_open or user.is_moderator):
            raise NotFound(f"No room '{room_id[:64]}'.", details={"room": room_id[:64]})
        role = MemberRole.MODERATOR if user.is_moderator else MemberRole.MEMBER
        m = membership_add(room=room, user=user, role=role)
    return room, m


def membership_add(*, room: Room, user: User, role: str = MemberRole.MEMBER) -> Membership:
    """Make ``user`` an active member. A membership change starts a new key epoch, and the
    (room, pseudonym) → user link is sealed to the escrow key for audited unmasking."""
    with transaction.atomic():
        m, created = Membership.objects.get_or_create(room=room, user=user,
                                                      defaults={"role": role})
        if created or not m.active:
            if not created:
                m.active = True
                m.save(update_fields=["active"])
            envelope.room_epoch_advance(room_id=room.id)
        escrow.escrow_record(room_id=room.id, user_id=str(user.pk),
                             pseudonym=pseudonym_id(user_id=str(user.pk), room_id=room.id))
    roster.roster_forget(room.id)
    return m


def membership_end(*, room_id: str, user: User) -> None:
    """Leave a room for good (a kick uses the same path). New messages are sealed under a
    fresh epoch key, so the departed member's keys give nothing new."""
    with transaction.atomic():
        n = Membership.objects.filter(room_id=room_id, user=user, active=True).update(active=False)
        if n:
            envelope.room_epoch_advance(room_id=room_id)
    roster.roster_forget(room_id)


def message_post(
    *, room_id: str, user: User, author: roster.Author, body: str, client_id: str,
    reply_to: int | None = None, mentions: tuple[str, ...] = (),
    attachments: tuple[str, ...] = (), now: datetime | None = None,
) -> Posted:
    """Store a message and hand back its seq; the fan-out event leaves after commit.

    Idempotent on (room, author, client_id): a retry gets the first message's seq.

    Raises:
        NotFound: no such room, or ``reply_to`` names no message of the room.
        Forbidden: not a member, banned or muted.
        ValidationFailed: a mention or attachment that does not belong here.
    """
    now = now or timezone.now()
    # No look-up of client_id first: a retry is rare, and the unique constraint catches it
    # (below) at the price of a rolled-back insert instead of a query on every send.
    membership_require(room_id=room_id, user=user, now=now, for_writing=True)
    members = roster.roster(room_id)
    if unknown := [p for p in mentions if p not in members]:
        roster.roster_forget(room_id)
        members = roster.roster(room_id)
        if unknown := [p for p in mentions if p not in members]:
            raise ValidationFailed("Mentioned pseudonyms are not members of this room.",
                                   details={"field": "mentions", "unknown": unknown[:10]})
    message_id = uuid.uuid4()
    try:
        with transaction.atomic():
            seq = _next_seq(room_id)
            if reply_to is not None and not (0 < reply_to < seq and Message.objects.filter(
                    room_id=room_id, seq=reply_to).exists()):
                raise NotFound(f"No message {reply_to} to reply to.",
                               details={"field": "reply_to", "seq": reply_to})
            if attachments:
                _attachments_check(room_id, author.pseudonym, attachments)
            sealed = envelope.message_seal(room_id=room_id, message_id=str(message_id), seq=seq,
                                           author=author.pseudonym, body=body.encode())
            msg = Message.objects.create(
                id=message_id, room_id=room_id, seq=seq, author=author.pseudonym,
                client_id=client_id, epoch=sealed.epoch, key_id=sealed.key_id,
                body_sealed=sealed.blob, reply_to=reply_to, mentions=list(mentions),
                attachments=list(attachments), sent_at=now,
            )
            frame = events.message_new(room_id=room_id, message=msg, author=author, body=body)
            outbox.room_event(room_id=room_id, frame=frame)
            if mentions:
                outbox.users_event(
                    user_ids=[members[p].user_id for p in mentions],
                    frame=events.mention(room_id=room_id, seq=seq, by=author),
                )
    except IntegrityError:
        # A concurrent retry with the same client_id won the insert; ours rolled back whole
        # (seq included, so no gap) and the earlier message is the answer.
        existing = _posted(room_id, author.pseudonym, client_id)
        if existing:
            return existing
        raise
    return Posted(seq=seq, id=str(message_id), sent_at=now, created=True)


@dataclass(frozen=True)
class Draft:
    """One message.send waiting to be stored (rooms/writer.py batches them per room)."""

    user: User
    author: roster.Author
    body: str
    client_id: str
    reply_to: int | None = None
    mentions: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    # PHI guard findings the author confirmed are not patient data: the audit entry is
    # written in the transaction that stores the message (consult/phi_audit.py).
    phi_confirmed: tuple = ()


def messages_post(*, room_id: str, drafts: list[Draft],
                  now: datetime | None = None) -> list[Posted | DomainError]:
    """Store several messages of one room in one transaction (``messages_post_rooms`` for
    one room). The result list matches ``drafts``."""
    return messages_post_rooms(batches={room_id: drafts}, now=now)[room_id]


def messages_post_rooms(*, batches: dict[str, list[Draft]],
                        now: datetime | None = None) -> dict[str, list[Posted | DomainError]]:
    """Store the messages of many rooms in one transaction (group commit): a handful of
    statements for the whole batch — the memberships, client_ids and replies read in one
    query each, every room's seqs taken in one UPDATE, every epoch counted in one UPDATE,
    one INSERT, one commit — instead of that many per room.

    Each draft is judged on its own first; one that fails gets its error in its place and
    takes no seq, so every room's sequence stays gapless. Each result list matches its
    room's drafts. Events leave after commit, in seq order within each room.

    Should another process store one of these client_ids at the same moment (a retry on two
    sockets), the batch falls back to ``message_post`` draft by draft.
    """
    now = now or timezone.now()
    rooms = [room for room, drafts in batches.items() if drafts]
    results: dict[str, list[Posted | DomainError | None]] = {
        room: [None] * len(drafts) for room, drafts in batches.items()}
    all_drafts = [d for room in rooms for d in batches[room]]
    if not all_drafts:
        return results  # type: ignore[return-value]
    memberships = {(m.room_id, m.user_id): m for m in Membership.objects.filter(
        room_id__in=rooms, user_id__in={d.user.pk for d in all_drafts})}
    done: dict[tuple[str, str, str], Posted | None] = {
        (r, a, c): Posted(seq=s, id=str(i), sent_at=t, created=False)
        for r, a, c, s, i, t in Message.objects.filter(
            room_id__in=rooms, client_id__in={d.client_id for d in all_drafts})
        .values_list("room_id", "author", "client_id", "seq", "id", "sent_at")}
    wanted_replies = {d.reply_to for d in all_drafts if d.reply_to}
    existing_replies = set(Message.objects.filter(room_id__in=rooms, seq__in=wanted_replies)
                           .values_list("room_id", "seq")) if wanted_replies else set()
    rosters = {room: roster.roster(room) for room in rooms
               if any(d.mentions for d in batches[room])}
    accepted: dict[str, list[int]] = {}
    for room in rooms:
        replies = {seq for r, seq in existing_replies if r == room}
        for i, d in enumerate(batches[room]):
            key = (room, d.author.pseudonym, d.client_id)
            if key in done:
                results[room][i] = done[key]
                continue
            try:
                _draft_check(room, d, memberships.get((room, d.user.pk)), rosters.get(room, {}),
                             replies, now)
            except DomainError as exc:
                results[room][i] = exc
                continue
            done[key] = None  # a duplicate inside the batch waits for this one's result
            accepted.setdefault(room, []).append(i)
    if accepted:
        try:
            stored = _insert_rooms({room: [batches[room][i] for i in idx]
                                    for room, idx in accepted.items()}, rosters, now)
        except IntegrityError:
            stored = {room: [_retry_one(room, batches[room][i], now) for i in idx]
                      for room, idx in accepted.items()}
        for room, idx in accepted.items():
            for i, posted in zip(idx, stored[room], strict=True):
                results[room][i] = posted
                done[(room, batches[room][i].author.pseudonym, batches[room][i].client_id)] = posted
    for room in rooms:
        for i, d in enumerate(batches[room]):
            if results[room][i] is None:  # a duplicate of an accepted draft in the same batch
                first = done[(room, d.author.pseudonym, d.client_id)]
                results[room][i] = first if not isinstance(first, Posted) else Posted(
                    seq=first.seq, id=first.id, sent_at=first.sent_at, created=False)
    return results  # type: ignore[return-value]


def _draft_check(room_id: str, d: Draft, m: Membership | None, members: dict,
                 existing_replies: set[int], now: datetime) -> None:
    membership_check(m, room_id=room_id, user=d.user, now=now, for_writing=True)
    if unknown := [p for p in d.mentions if p not in members]:
        raise ValidationFailed("Mentioned pseudonyms are not members of this room.",
                               details={"field": "mentions", "unknown": unknown[:10]})
    if d.reply_to is not None and d.reply_to not in existing_replies:
        raise NotFound(f"No message {d.reply_to} to reply to.",
                       details={"field": "reply_to", "seq": d.reply_to})
    if d.attachments:
        _attachments_check(room_id, d.author.pseudonym, d.attachments)


def _insert_rooms(batches: dict[str, list[Draft]], rosters: dict[str, dict],
                  now: datetime) -> dict[str, list[Posted | DomainError]]:
    """One transaction: every room's seqs, every message sealed, one INSERT. A room that no
    longer exists gets NotFound for its drafts; the others are stored."""
    out: dict[str, list[Posted | DomainError]] = {}
    with transaction.atomic():
        last = _next_seqs({room: len(drafts) for room, drafts in batches.items()})
        rows, plan = [], []
        for room, drafts in batches.items():
            if room not in last:
                gone = NotFound(f"No room '{room[:64]}'.", details={"room": room[:64]})
                out[room] = [gone] * len(drafts)
                continue
            first = last[room] - len(drafts) + 1
            for seq, d in enumerate(drafts, start=first):
                plan.append((room, d, seq, uuid.uuid4()))
        sealed = envelope.messages_seal([
            envelope.Plain(room_id=room, message_id=str(mid), seq=seq, author=d.author.pseudonym,
                           body=d.body.encode()) for room, d, seq, mid in plan])
        for (room, d, seq, mid), box in zip(plan, sealed, strict=True):
            rows.append(Message(
                id=mid, room_id=room, seq=seq, author=d.author.pseudonym,
                client_id=d.client_id, epoch=box.epoch, key_id=box.key_id,
                body_sealed=box.blob, reply_to=d.reply_to, mentions=list(d.mentions),
                attachments=list(d.attachments), sent_at=now))
        _insert_messages(rows)
        for msg, (room, d, _, _) in zip(rows, plan, strict=True):
            outbox.room_event(room_id=room, frame=events.message_new(
                room_id=room, message=msg, author=d.author, body=d.body))
            if d.mentions:
                members = rosters[room]
                outbox.users_event(user_ids=[members[p].user_id for p in d.mentions],
                                   frame=events.mention(room_id=room, seq=msg.seq, by=d.author))
            if d.phi_confirmed:
                phi_confirmation_record(actor=d.author.pseudonym, op="message.send",
                                        subject=f"room:{room}/seq:{msg.seq}",
                                        findings=list(d.phi_confirmed))
            out.setdefault(room, []).append(Posted(seq=msg.seq, id=str(msg.id), sent_at=now,
                                                   created=True))
    return out


def _insert_messages(rows: list[Message]) -> None:
    """One INSERT for the batch. On PostgreSQL the columns travel as arrays through
    ``unnest``: a statement text that does not grow with the batch and none of the ORM's
    per-field work (which was 15 % of the server in the 500-room bench)."""
    if connection.vendor != "postgresql" or not rows:
        Message.objects.bulk_create(rows)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Message._meta.db_table} (id, room_id, seq, author, client_id, epoch, "
            "key_id, body_sealed, reply_to, mentions, attachments, sent_at, hidden_reason) "
            "SELECT id, room_id, seq, author, client_id, epoch, key_id, body, reply_to, "
            "mentions::jsonb, attachments::jsonb, %s, '' FROM unnest(%s::uuid[], %s::text[], "
            "%s::bigint[], %s::text[], %s::text[], %s::int[], %s::bigint[], %s::bytea[], "
            "%s::bigint[], %s::text[], %s::text[]) AS t(id, room_id, seq, author, client_id, "
            "epoch, key_id, body, reply_to, mentions, attachments)",
            [rows[0].sent_at, [m.id for m in rows], [m.room_id for m in rows],
             [m.seq for m in rows], [m.author for m in rows], [m.client_id for m in rows],
             [m.epoch for m in rows], [m.key_id for m in rows], [m.body_sealed for m in rows],
             [m.reply_to for m in rows], [json.dumps(m.mentions) for m in rows],
             [json.dumps(m.attachments) for m in rows]])


def _retry_one(room_id: str, d: Draft, now: datetime) -> Posted | DomainError:
    try:
        return message_post(room_id=room_id, user=d.user, author=d.author, body=d.body,
                            client_id=d.client_id, reply_to=d.reply_to, mentions=d.mentions,
                            attachments=d.attachments, now=now)
    except DomainError as exc:
        return exc


def _posted(room_id: str, author: str, client_id: str) -> Posted | None:
    row = (Message.objects.filter(room_id=room_id, author=author, client_id=client_id)
           .values_list("seq", "id", "sent_at").first())
    return Posted(seq=row[0], id=str(row[1]), sent_at=row[2], created=False) if row else None


def _next_seq(room_id: str, count: int = 1) -> int:
    """Take the room's next ``count`` seqs; returns the last. The UPDATE locks the room row
    until commit, so concurrent senders on any process queue here and seqs are gapless and
    unique. One round trip: RETURNING works on PostgreSQL and on SQLite ≥ 3.35."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Room._meta.db_table} SET last_seq = last_seq + %s "
                       "WHERE id = %s RETURNING last_seq", [count, room_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"No room '{room_id[:64]}'.", details={"room": room_id[:64]})
    return row[0]


def _next_seqs(counts: dict[str, int]) -> dict[str, int]:
    """Take ``counts[room]`` seqs of every room in one UPDATE; returns room → last seq
    (rooms that do not exist are absent). The rows are locked in id order first, so two
    processes that write overlapping sets of rooms queue instead of deadlocking."""
    rooms = sorted(counts)
    if len(rooms) == 1:
        last = _next_seq_or_none(rooms[0], counts[rooms[0]])
        return {} if last is None else {rooms[0]: last}
    table = Room._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Arrays keep the statement text the same whatever the batch size (psycopg
            # parses a query text once; a text with hundreds of placeholders each time).
            cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                           [rooms])
            cursor.execute(f"UPDATE {table} AS r SET last_seq = r.last_seq + v.n "
                           "FROM unnest(%s::text[], %s::bigint[]) AS v(id, n) "
                           "WHERE r.id = v.id RETURNING r.id, r.last_seq",
                           [rooms, [counts[room] for room in rooms]])
        else:  # SQLite: one writer at a time, no row locks to order
            marks = ", ".join(["%s"] * len(rooms))
            case = " ".join(["WHEN %s THEN %s"] * len(rooms))
            cursor.execute(f"UPDATE {table} SET last_seq = last_seq + CASE id {case} END "
                           f"WHERE id IN ({marks}) RETURNING id, last_seq",
                           [x for room in rooms for x in (room, counts[room])] + rooms)
        return dict(cursor.fetchall())


def _next_seq_or_none(room_id: str, count: int) -> int | None:
    try:
        return _next_seq(room_id, count)
    except NotFound:
        return None


def _attachments_check(room_id: str, author: str, ids: tuple[str, ...]) -> None:
    from rooms.models import Attachment

    try:
        found = Attachment.objects.filter(room_id=room_id, author=author, id__in=ids).count()
    except Exception:  # a malformed uuid
        found = -1
    if found != len(set(ids)):
        raise ValidationFailed("Attachments must be your own uploads to this room.",
                               details={"field": "attachments"})


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
                 now: datetime | None = None) -> Message:
    """Replace a message's body (own messages; moderators any). The original is kept.

    Raises:
        NotFound, Forbidden, Conflict (deleted).
    """
    now = now or timezone.now()
    membership_require(room_id=room_id, user=user, now=now, for_writing=True)
    with transaction.atomic():
        msg = _own_message(room_id=room_id, seq=seq, user=user, author=author.pseudonym)
        _keep_revision(msg, now)
        # Re-sealed under the same (room, id, seq, author) binding, current epoch.
        sealed = envelope.message_seal(room_id=room_id, message_id=str(msg.id), seq=seq,
                                       author=msg.author, body=body.encode())
        msg.epoch, msg.key_id, msg.body_sealed, msg.edited_at = (
            sealed.epoch, sealed.key_id, sealed.blob, now)
        msg.save(update_fields=["epoch", "key_id", "body_sealed", "edited_at"])
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
    with transaction.atomic():
        msg = _own_message(room_id=room_id, seq=seq, user=user, author=author.pseudonym)
        _keep_revision(msg, now)
        msg.deleted_at = now
        msg.save(update_fields=["deleted_at"])
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
    room = Room.objects.create(id=f"case-{uuid.uuid4().hex[:16]}", kind=RoomKind.CASE,
                               title=title, specialty_id=specialty_id)
    for i, user in enumerate(members):
        membership_add(room=room, user=user, role=MemberRole.POSTER if i == 0 else MemberRole.MEMBER)
    return room


def mute_until(*, minutes: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(minutes=minutes)
