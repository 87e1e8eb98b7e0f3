"""Posting messages: the group-commit writer and the one transaction that stores a batch.

The path of a message: permission → seal under the room's data key, bound to room, id, seq,
epoch and author → one transaction that takes the room's next ``seq`` under the room row's
lock and inserts → only then the reply → one fan-out event, serialized once, after commit
(bus/outbox.py, bus/hub.py).

Group commit within one process (``post``): while one batch is being stored, the sends that
arrive — for any room — queue up and become the next batch: under load many messages, of one
room or of hundreds, share one thread hop, a handful of statements and one commit
(``messages_post_rooms``); at rest a batch is a single message and nothing waits. No timer
holds a message back. A room's messages keep their arrival order inside a batch, and batches
are stored one after the other, so seqs follow arrival within this process.

Every send is stored by ``_insert_rooms`` — in a batch, or on its own when a batch fails —
so the PHI confirmation audit and the events are written on every path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from channels.db import database_sync_to_async
from django.db import DatabaseError, IntegrityError, connection
from django.dispatch import Signal
from django.utils import timezone

from bus import outbox
from core import metrics
from core.errors import (
    Conflict,
    DomainError,
    NotFound,
    Unavailable,
    ValidationFailed,
    database_unreachable,
)
from crypto import envelope
from phi.audit import phi_confirmation_record
from physicians.models import User
from rooms import events, roster, search_index
from rooms.models import CASE_ROOM_PREFIX, Attachment, Membership, Message, Room
from rooms.services import membership_check

log = logging.getLogger(__name__)

# Sent inside the transaction that stores messages of case rooms, once per batch, with
# ``authors``: {room id: [user id of each new message's author, in order]} and ``now``. A
# receiver's writes commit or roll back with the messages (consult keeps a case's first
# response and reply count this way without rooms knowing about cases).
case_messages_stored = Signal()
# Sent inside the transaction that stores messages which mention members or reply to a
# message, once per batch, with ``addressed``: a list of ``Addressed`` and ``now``. The
# notification inbox (consult/notifications.py) stores mention and reply rows this way.
messages_addressed = Signal()


@dataclass(frozen=True)
class Addressed:
    """Whom one new message addresses, as user ids (resolved from pseudonyms here, so no
    pseudonym leaves this module): its author, the members it mentions and the author of the
    message it replies to (None: no reply, or the replied author is unknown)."""

    room_id: str
    author: str
    mentioned: tuple[str, ...]
    replied: str | None


@dataclass(frozen=True)
class Posted:
    seq: int
    id: str
    sent_at: datetime
    created: bool  # False when client_id matched an earlier message (idempotent retry)



def message_post(
    *, room_id: str, user: User, author: roster.Author, body: str, client_id: str,
    reply_to: int | None = None, mentions: tuple[str, ...] = (),
    attachments: tuple[str, ...] = (), now: datetime | None = None,
) -> Posted:
    """Store one message and hand back its seq; the fan-out event leaves after commit. The
    same path as a group commit (``messages_post_rooms`` with one draft).

    Idempotent on (room, author, client_id): a retry gets the first message's seq.

    Raises:
        NotFound: ``reply_to`` names no message of the room.
        Forbidden: not a member, banned or muted.
        ValidationFailed: a mention or attachment that does not belong here.
    """
    draft = Draft(user=user, author=author, body=body, client_id=client_id, reply_to=reply_to,
                  mentions=tuple(mentions), attachments=tuple(attachments))
    result = messages_post(room_id=room_id, drafts=[draft], now=now)[0]
    if isinstance(result, Exception):
        raise result
    return result


@dataclass(frozen=True)
class Draft:
    """One message.send waiting to be stored (rooms/messages.py batches them per room)."""

    user: User
    author: roster.Author
    body: str
    client_id: str
    reply_to: int | None = None
    mentions: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    # PHI guard findings the author confirmed are not patient data: the audit entry is
    # written in the transaction that stores the message (phi/audit.py).
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
    rosters = {room: _roster_for(room, batches[room]) for room in rooms
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
        except DatabaseError as exc:
            if database_unreachable(exc):
                raise  # nothing to gain draft by draft: every one would wait and fail
            # A concurrent retry stored one of these client_ids (IntegrityError), or one
            # draft the database refuses: each send on its own, so one cannot fail the rest.
            stored = {room: [_retry_one(room, batches[room][i], rosters, now) for i in idx]
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
    with outbox.atomic():  # the batch's events leave in one flush after commit
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
        search_index.message_terms_add(
            (msg.id, room, now, d.body) for msg, (room, d, _, _) in zip(rows, plan, strict=True))
        metrics.count_after_commit(metrics.MESSAGES_POSTED, len(rows))
        authors: dict[str, list[str]] = {}
        for room, d, _, _ in plan:
            if room.startswith(CASE_ROOM_PREFIX):
                authors.setdefault(room, []).append(str(d.user.pk))
        if authors:
            case_messages_stored.send(sender=Message, authors=authors, now=now)
        addressed = _addressed(plan, rosters)
        if addressed:
            messages_addressed.send(sender=Message, addressed=addressed, now=now)
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


def _addressed(plan: list, rosters: dict[str, dict]) -> list[Addressed]:
    """The mentions and replies of a stored batch as user ids (one query for the replied
    messages' authors, only when the batch has replies)."""
    wanted = [(room, d) for room, d, _, _ in plan if d.mentions or d.reply_to]
    if not wanted:
        return []
    replies = {(room, d.reply_to) for room, d in wanted if d.reply_to}
    repliers: dict[tuple[str, int], str] = {}
    if replies:
        repliers = {(r, s): a for r, s, a in Message.objects.filter(
            room_id__in={r for r, _ in replies}, seq__in={s for _, s in replies})
            .values_list("room_id", "seq", "author") if (r, s) in replies}
    out, fresh = [], set()
    for room, d in wanted:
        members = rosters.get(room)
        if members is None:
            members = rosters[room] = roster.roster(room)
        if (d.reply_to and repliers.get((room, d.reply_to), "") not in members
                and room not in fresh):  # a member who joined a moment ago: read again once
            roster.roster_forget(room)
            members = rosters[room] = roster.roster(room)
            fresh.add(room)
        replied = members.get(repliers.get((room, d.reply_to), "")) if d.reply_to else None
        out.append(Addressed(
            room_id=room, author=str(d.user.pk),
            mentioned=tuple(members[p].user_id for p in d.mentions if p in members),
            replied=replied.user_id if replied is not None else None))
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
            "key_id, body_sealed, reply_to, mentions, attachments, sent_at) "
            "SELECT id, room_id, seq, author, client_id, epoch, key_id, body, reply_to, "
            "mentions::jsonb, attachments::jsonb, %s FROM unnest(%s::uuid[], %s::text[], "
            "%s::bigint[], %s::text[], %s::text[], %s::int[], %s::bigint[], %s::bytea[], "
            "%s::bigint[], %s::text[], %s::text[]) AS t(id, room_id, seq, author, client_id, "
            "epoch, key_id, body, reply_to, mentions, attachments)",
            [rows[0].sent_at, [m.id for m in rows], [m.room_id for m in rows],
             [m.seq for m in rows], [m.author for m in rows], [m.client_id for m in rows],
             [m.epoch for m in rows], [m.key_id for m in rows], [m.body_sealed for m in rows],
             [m.reply_to for m in rows], [json.dumps(m.mentions) for m in rows],
             [json.dumps(m.attachments) for m in rows]])


def _retry_one(room_id: str, d: Draft, rosters: dict[str, dict],
               now: datetime) -> Posted | Exception:
    """Store one draft of a failed batch on its own — the same insert, audit and events."""
    try:
        return _insert_rooms({room_id: [d]}, rosters, now)[room_id][0]
    except IntegrityError:
        # Another process stored this client_id first: the earlier message is the answer.
        existing = _posted(room_id, d.author.pseudonym, d.client_id)
        if existing is not None:
            return existing
        return Conflict("The message could not be stored; send it again.")
    except DatabaseError as exc:
        return _unavailable() if database_unreachable(exc) else exc


def _unavailable() -> Unavailable:
    return Unavailable("The database is unavailable; send the message again with the same "
                       "client_id.")


def _roster_for(room_id: str, drafts: list[Draft]) -> dict:
    """The room's roster, read again once when a mention names someone it does not know
    yet (a member who joined a moment ago)."""
    members = roster.roster(room_id)
    if any(p not in members for d in drafts for p in d.mentions):
        roster.roster_forget(room_id)
        members = roster.roster(room_id)
    return members


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

    try:
        found = Attachment.objects.filter(room_id=room_id, author=author, id__in=ids).count()
    except Exception:  # a malformed uuid
        found = -1
    if found != len(set(ids)):
        raise ValidationFailed("Attachments must be your own uploads to this room.",
                               details={"field": "attachments"})


# --- group commit ----------------------------------------------------------------------

# Largest batch: bounds one transaction's size and the wait of the last message in it.
MAX_BATCH = 256

_queue: list[tuple[str, Draft, asyncio.Future]] = []
_task: asyncio.Task | None = None


async def post(room_id: str, draft: Draft) -> Posted:
    """Store ``draft`` (group-committed with the other sends of this process); returns its
    Posted.

    Raises:
        DomainError: the draft was refused (not a member, muted, bad reply_to, …).
    """
    global _task
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    if _task is not None and _task.get_loop() is not loop:
        _task, _queue[:] = None, []  # a new event loop (tests run several): start afresh
    _queue.append((room_id, draft, future))
    if _task is None or _task.done():
        _task = loop.create_task(_drain())
    result = await future
    if isinstance(result, Exception):
        raise result
    return result


async def _drain() -> None:
    while _queue:
        batch = _queue[:MAX_BATCH]
        del _queue[:MAX_BATCH]
        by_room: dict[str, list[tuple[Draft, asyncio.Future]]] = {}
        for room_id, draft, future in batch:
            by_room.setdefault(room_id, []).append((draft, future))
        # A stack of groups still to store, the next one last.
        groups = [by_room]
        while groups:
            group = groups.pop()
            try:
                results = await database_sync_to_async(messages_post_rooms)(
                    batches={room: [d for d, _ in items] for room, items in group.items()})
            except Exception as exc:
                if database_unreachable(exc):
                    # The database is out of reach (or the commit's outcome is unknown): the
                    # senders hear "unavailable" and retry with the same client_id, which
                    # finds the message if it was stored after all. No one-by-one retry: it
                    # would only queue every draft on a pool that cannot connect.
                    log.warning("storing %d messages failed: %s", sum(map(len, group.values())),
                                exc)
                    unavailable = _unavailable()
                    for items in group.values():
                        for _, future in items:
                            if not future.done():
                                future.set_exception(unavailable)
                    continue
                # One room's trouble must not fail the others: room by room; and one draft's
                # (a value the database refuses, even in the batch's first reads) must not
                # fail the other senders of its room: draft by draft, in arrival order, so
                # seqs still follow arrival and the refused draft takes none.
                if len(group) > 1:
                    groups.extend({room: items} for room, items in group.items())
                    continue
                (room, items), = group.items()
                if len(items) > 1:
                    groups.extend({room: [item]} for item in reversed(items))
                    continue
                for _, future in items:  # this one send failed on its own: its sender hears it
                    if not future.done():
                        future.set_exception(exc)
                continue
            for room, items in group.items():
                for (_, future), result in zip(items, results[room], strict=True):
                    if not future.done():
                        future.set_result(result)
