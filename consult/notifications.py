"""The notification inbox: stored notifications, follows and timed room mutes.

What gets stored (docs/notifications.md): answers on a case I posted or follow, a case I
posted or follow changing state, an urgent offer to me that expired unanswered, a poll on a
case I posted or follow closing. A row names what happened and where (kind, case, room,
ids and statuses), never the text, so it needs no sealing. Each new row is pushed after
commit to the user's open sockets as ``notification.new``; a muted room (``room.mute`` with an
end time) stores and pushes nothing for that user until the mute ends.

Writers call ``notify`` inside their own transaction (``outbox.atomic``), so a notification
exists exactly when the change it reports was committed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from bus import outbox, protocol
from consult import selectors
from consult.models import Case, CaseFollow, Notification, NotificationKind, RoomMute
from core.errors import NotFound, ValidationFailed
from physicians.models import User
from rooms.models import Membership

# Page size bounds of ``notifications.list`` (the op's schema enforces the same).
PAGE_MAX = 100


def card(n: Notification) -> protocol.NotificationCard:
    return protocol.NotificationCard(
        id=n.pk, kind=n.kind, case=str(n.case_id) if n.case_id else None,
        room=n.room_id or None, at=n.at.isoformat(), read=n.read_at is not None,
        detail=dict(n.detail or {}))


def _unread(user_id) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def notify(*, user_ids: list[str] | set[str], kind: str, case: Case | None = None,
           room_id: str = "", detail: dict | None = None, now: datetime | None = None,
           skip: str | int | None = None) -> list[Notification]:
    """Store one notification per user (``skip``: the actor, never told of their own act)
    and push each after commit; users who muted ``room_id`` until later are left out."""
    now = now or timezone.now()
    wanted = sorted({str(u) for u in user_ids} - {str(skip)} - {"None"})
    if not wanted:
        return []
    if room_id:
        muted = {str(u) for u in RoomMute.objects.filter(
            room_id=room_id, user_id__in=wanted, until__gt=now).values_list("user_id", flat=True)}
        wanted = [u for u in wanted if u not in muted]
    rows = Notification.objects.bulk_create([
        Notification(user_id=u, kind=kind, case=case, room_id=room_id, detail=detail or {},
                     at=now) for u in wanted])
    for n in rows:
        if n.pk is None:  # a backend that does not return ids: nothing to push
            continue
        outbox.users_event(user_ids=[str(n.user_id)], frame=protocol.event_frame(
            "notification.new", protocol.NotificationNew(notification=card(n))))
    return rows


def _audience(case: Case) -> set[str]:
    """Who hears about a case: its poster, its accepting specialist and its followers."""
    out = {str(case.poster_id)}
    if case.accepted_by_id:
        out.add(str(case.accepted_by_id))
    out.update(str(u) for u in CaseFollow.objects.filter(case=case)
               .values_list("user_id", flat=True))
    return out


def case_moved(case: Case, *, action: str, actor: User | None, now: datetime) -> None:
    """A lifecycle step of ``case`` committed with it (consult.services._move)."""
    notify(user_ids=_audience(case), kind=NotificationKind.CASE_STATE, case=case,
           room_id=case.room_id, detail={"status": case.status, "action": action}, now=now,
           skip=actor.pk if actor is not None else None)


def offer_missed(*, case: Case, user_id: str, offer_id: str, now: datetime) -> None:
    notify(user_ids=[user_id], kind=NotificationKind.OFFER_MISSED, case=case,
           detail={"offer": offer_id}, now=now)


def poll_closed(*, case: Case, poll_id: str, votes: int, actor: User | None,
                now: datetime) -> None:
    """Results are out. Voters are not told as such: the votes table does not know them
    (consult/polls.py); the case's audience is."""
    notify(user_ids=_audience(case), kind=NotificationKind.POLL_CLOSED, case=case,
           room_id=case.room_id, detail={"poll": poll_id, "votes": votes}, now=now,
           skip=actor.pk if actor is not None else None)


def answers_stored(sender, *, authors: dict[str, list[str]], now: datetime, **_) -> None:
    """Receiver of ``rooms.messages.case_messages_stored`` (in the writer's transaction):
    each case room's poster and followers hear of answers by others, one row per batch."""
    for case in Case.objects.filter(room_id__in=list(authors)):
        writers = set(authors[case.room_id])
        told = _audience(case) - writers
        notify(user_ids=told, kind=NotificationKind.ANSWER, case=case, room_id=case.room_id,
               detail={"count": len(authors[case.room_id])}, now=now)


def messages_addressed(sender, *, addressed: list, now: datetime, **_) -> None:
    """Receiver of ``rooms.messages.messages_addressed`` (in the writer's transaction): a
    member mentioned in a message gets a ``mention``, the author of the message replied to a
    ``reply`` (a mention wins when both; in a case room, the case's audience hears of a reply
    as an ``answer`` already) — never the writer, never someone who can no longer
    read the room (left, kicked, banned), not while they muted the room.

    The row names the room (and its case), never the message: no seq, and its time rounded
    down to the minute, so a database dump cannot join it to the message row whose
    ``mentions`` or ``reply_to`` would tie the user to their pseudonym (docs/notifications.md).
    """
    wanted: dict[tuple[str, str], set[str]] = {}  # (room, kind) → user ids
    for a in addressed:
        mentioned = set(a.mentioned) - {a.author}
        if mentioned:
            wanted.setdefault((a.room_id, NotificationKind.MENTION), set()).update(mentioned)
        if a.replied and a.replied != a.author and a.replied not in mentioned:
            wanted.setdefault((a.room_id, NotificationKind.REPLY), set()).add(a.replied)
    if not wanted:
        return
    rooms = {room for room, _ in wanted}
    readers = {(r, str(u)) for r, u in Membership.objects.filter(
        room_id__in=sorted(rooms), user_id__in=sorted({u for us in wanted.values() for u in us}),
        active=True, banned=False).values_list("room_id", "user_id")}
    cases = {c.room_id: c for c in Case.objects.filter(room_id__in=sorted(rooms))}
    at = now.replace(second=0, microsecond=0)
    for (room, kind), users in sorted(wanted.items()):
        told = {u for u in users if (room, u) in readers}
        if kind == NotificationKind.REPLY and room in cases:
            told -= _audience(cases[room])  # they hear of it as an ``answer`` already
        if told:
            notify(user_ids=told, kind=kind, case=cases.get(room), room_id=room, now=at)


def notifications_list(*, user: User, before: int | None = None, unread: bool = False,
                       limit: int = 50) -> protocol.NotificationsPage:
    limit = max(1, min(limit, PAGE_MAX))
    rows = Notification.objects.filter(user=user)
    if unread:
        rows = rows.filter(read_at__isnull=True)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    page = list(rows.order_by("-id")[:limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return protocol.NotificationsPage(notifications=[card(n) for n in page],
                                      unread=_unread(user.pk),
                                      next=page[-1].pk if more else None)


def notifications_read(*, user: User, ids: list[int], every: bool = False,
                       now: datetime | None = None) -> protocol.NotificationsReadReply:
    """Mark the caller's notifications read (others' ids are ignored: no effect, no leak)."""
    now = now or timezone.now()
    if not ids and not every:
        raise ValidationFailed("Name the notifications, or say all.",
                               fields={"ids": "Give ids, or all: true."})
    rows = Notification.objects.filter(user=user, read_at__isnull=True)
    if not every:
        rows = rows.filter(pk__in=ids)
    read = rows.update(read_at=now)
    return protocol.NotificationsReadReply(read=read, unread=_unread(user.pk))


def case_follow(*, case_id: str, user: User, follow: bool = True) -> bool:
    """Follow (or stop following) a case the caller may open.

    Raises:
        NotFound: no such case for the caller.
    """
    case = selectors.case_get(case_id=case_id, user=user)
    if follow:
        try:
            with transaction.atomic():
                CaseFollow.objects.create(user=user, case=case)
        except IntegrityError:  # following already
            pass
    else:
        CaseFollow.objects.filter(user=user, case=case).delete()
    return follow


def following(*, case: Case, user: User) -> bool:
    return CaseFollow.objects.filter(case=case, user=user).exists()


def mutes_of(*, user: User, now: datetime | None = None) -> dict[str, float]:
    """room id → end of the caller's mute there (epoch seconds), for mutes not over yet."""
    now = now or timezone.now()
    return {room: until.timestamp() for room, until in RoomMute.objects.filter(
        user=user, until__gt=now).values_list("room_id", "until")}


def room_mute(*, user: User, room_id: str, until: float | None,
              now: datetime | None = None) -> float | None:
    """Mute ``room_id``'s notifications for the caller until ``until`` (epoch seconds, at
    most a year ahead); ``None`` or a time past lifts the mute.

    Raises:
        NotFound: the caller is neither in the room nor following its case.
        ValidationFailed: ``until`` more than a year ahead.
    """
    now = now or timezone.now()
    if not (Membership.objects.filter(room_id=room_id, user=user, active=True).exists()
            or CaseFollow.objects.filter(user=user, case__room_id=room_id).exists()):
        raise NotFound("You are not in this room.", details={"room": room_id})
    if until is None or until <= now.timestamp():
        RoomMute.objects.filter(user=user, room_id=room_id).delete()
        return None
    # Compared as numbers first: a huge ``until`` (1e300) overflows ``fromtimestamp``.
    if until - now.timestamp() > protocol.MUTE_MAX_S:
        raise ValidationFailed("Mute for at most a year.", fields={"until": "At most a year."})
    end = datetime.fromtimestamp(until, tz=UTC)
    RoomMute.objects.update_or_create(user=user, room_id=room_id, defaults={"until": end})
    return until
