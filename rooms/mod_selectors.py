"""Reads for moderators: the report queue, each report with the message in its context.

Messages are opened with the moderator view (hidden bodies shown) and carry the author
cards members see — pseudonyms, never who is behind them. Reasons and notes are stored
sealed (rooms/reasons.py) and opened here, for moderators only.
"""

from __future__ import annotations

from crypto.models import AuditEntry
from phi.audit import ACTION as PHI_CONFIRM
from rooms import reasons, roster, selectors
from rooms.models import Ban, Message, Report

# Messages shown on either side of a reported one.
CONTEXT = 3
# Reports per page of the queue, oldest first.
QUEUE_PAGE = 50


def report_context(*, room_id: str, seq: int) -> tuple[dict | None, list[dict], list[dict]]:
    """(the message, up to CONTEXT before it, up to CONTEXT after it), all in seq order."""
    # An HTTP reply, not a frame: no size cap (a cap could drop the reported message itself).
    page = selectors.messages_before(room_id=room_id, before=seq + CONTEXT + 1,
                                     limit=2 * CONTEXT + 1, moderator_view=True,
                                     max_bytes=selectors.NO_SIZE_CAP)
    message = next((m for m in page.messages if m["seq"] == seq), None)
    before = [m for m in page.messages if m["seq"] < seq][-CONTEXT:]
    after = [m for m in page.messages if m["seq"] > seq][:CONTEXT]
    return message, before, after


def report_reason(report: Report) -> str | None:
    """The reporter's reason; None once the reporter was erased (their key is gone)."""
    return reasons.reason_open(room_id=report.room_id,
                               label=reasons.report_label(report.seq, report.reporter),
                               packed=report.reason_sealed, author=report.reporter)


def report_resolution(report: Report) -> str:
    return reasons.reason_open(room_id=report.room_id,
                               label=reasons.resolution_label(report.pk),
                               packed=report.resolution_sealed) or ""


def _handle(room_id: str, pseudonym: str) -> str | None:
    """The pseudonym's handle in the room ("Dr. Opal Tiger · e921"), as message authors are
    named; None when the roster no longer holds it."""
    member = roster.roster(room_id).get(pseudonym)
    return member.author.name if member else None


def report_payload(report: Report) -> dict:
    message, before, after = report_context(room_id=report.room_id, seq=report.seq)
    room = report.room
    reason = report_reason(report)
    return {
        "id": report.pk,
        "status": report.status,
        "room": {"id": room.id, "kind": room.kind, "title": room.title},
        "seq": report.seq,
        "reporter": report.reporter,
        "reporter_name": _handle(report.room_id, report.reporter),
        "reason": reason or "",
        "reason_erased": reason is None,
        "created_at": report.created_at.isoformat(),
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
        "resolution": report_resolution(report),
        "message": message,
        "before": before,
        "after": after,
    }


def reports_list(*, status: str = Report.Status.OPEN, after_id: int = 0,
                 limit: int = QUEUE_PAGE) -> tuple[list[dict], bool]:
    """Reports of ``status``, oldest first, after ``after_id``; and whether more follow."""
    rows = list(Report.objects.filter(status=status, pk__gt=after_id).select_related("room")
                .order_by("pk")[: limit + 1])
    return [report_payload(r) for r in rows[:limit]], len(rows) > limit


def hide_reason(*, room_id: str, seq: int) -> str:
    """Why a message is hidden (``""`` when it is not)."""
    row = Message.objects.filter(room_id=room_id, seq=seq).values_list(
        "id", "hidden_reason_sealed").first()
    if row is None:
        return ""
    return reasons.reason_open(room_id=room_id, label=reasons.hide_label(str(row[0])),
                               packed=row[1]) or ""


def bans_list(*, room_id: str, pseudonym: str) -> list[dict]:
    """The bans issued in ``room_id`` against ``pseudonym``, oldest first, with their reasons
    (what the ``ban`` id of a ``mod.ban.*`` audit entry points at)."""
    rows = Ban.objects.filter(room_id=room_id, pseudonym=pseudonym).order_by("banned_at")
    return [{"id": str(b.pk), "scope": b.scope, "banned_at": b.banned_at.isoformat(),
             "reason": reasons.reason_open(room_id=room_id, label=reasons.ban_label(str(b.pk)),
                                           packed=b.reason_sealed) or ""}
            for b in rows]


# Entries per page of the PHI-confirmation log, newest first.
PHI_LOG_PAGE = 50


def phi_confirmations(*, before_seq: int = 0, limit: int = PHI_LOG_PAGE) -> tuple[list[dict], bool]:
    """The PHI-confirmation entries of the audit log (phi/audit.py), newest first, before the
    entry ``before_seq`` (0: from the newest): who confirmed (a pseudonym), where, which op,
    the finding kinds and their count — never any text (the log holds none)."""
    rows = AuditEntry.objects.filter(action=PHI_CONFIRM)
    if before_seq:
        rows = rows.filter(seq__lt=before_seq)
    page = list(rows.order_by("-seq")[: limit + 1])
    return [{"id": e.seq, "at": e.timestamp.isoformat(), "actor": e.actor, "subject": e.subject,
             "op": str(e.details.get("op", "")),
             "kinds": [str(k) for k in e.details.get("kinds", [])],
             "count": int(e.details.get("count", 0))} for e in page[:limit]], len(page) > limit
