"""Reads for moderators: the report queue, each report with the message in its context.

Messages are opened with the moderator view (hidden bodies shown) and carry the author
cards members see — pseudonyms, never who is behind them.
"""

from __future__ import annotations

from rooms import selectors
from rooms.models import Report

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


def report_payload(report: Report) -> dict:
    message, before, after = report_context(room_id=report.room_id, seq=report.seq)
    room = report.room
    return {
        "id": report.pk,
        "status": report.status,
        "room": {"id": room.id, "kind": room.kind, "title": room.title},
        "seq": report.seq,
        "reporter": report.reporter,
        "reason": report.reason,
        "created_at": report.created_at.isoformat(),
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
        "resolution": report.resolution,
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
