"""The moderation queue over HTTP (moderators only): list reports, resolve one."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from core.errors import NotFound, ValidationFailed
from core.http import api, field, int_param
from core.text import INT64_MAX
from rooms import mod_selectors, moderation
from rooms.models import Report


@api(("GET",), auth="is_moderator")
def reports(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/moderation/reports?status=open&after=<id>`` → {reports, more}."""
    status = request.GET.get("status", Report.Status.OPEN)
    if status not in Report.Status.values:
        raise ValidationFailed("Unknown status.", fields={"status": "open, resolved or dismissed"})
    rows, more = mod_selectors.reports_list(status=status, after_id=int_param(request, "after"))
    return JsonResponse({"reports": rows, "more": more})


@api(("POST",), auth="is_moderator")
def report_resolve(request: HttpRequest, report_id: int) -> JsonResponse:
    """``POST /api/v1/moderation/reports/<id>/resolve {resolution, action?, confirm_phi?}``."""
    if report_id > INT64_MAX:  # the path converter takes any digits; no report has that id
        raise NotFound(f"No report {report_id}.", details={"report": str(report_id)})
    report = moderation.report_resolve(
        report_id=report_id, moderator=request.user,
        resolution=field(request.json, "resolution"),
        action=field(request.json, "action", required=False, default="resolved"),
        confirm_phi=field(request.json, "confirm_phi", bool, required=False, default=False))
    return JsonResponse({"report": mod_selectors.report_payload(report)})


@api(("GET",), auth="is_moderator")
def message_revisions(request: HttpRequest, room_id: str, seq: int) -> JsonResponse:
    """``GET /api/v1/moderation/rooms/<room>/messages/<seq>/revisions`` → {room, seq,
    revisions: [{revision, body, replaced_at}]}, oldest first; every read is audited."""
    if seq > INT64_MAX:
        raise NotFound(f"No message {seq}.", details={"seq": seq})
    rows = moderation.message_revisions(room_id=room_id, seq=seq, moderator=request.user)
    return JsonResponse({"room": room_id, "seq": seq, "revisions": rows})


@api(("GET",), auth="is_moderator")
def phi_confirmations(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/moderation/phi-confirmations?before=<id>`` → {entries, more}: kinds and
    counts only, newest first."""
    rows, more = mod_selectors.phi_confirmations(before_seq=int_param(request, "before"))
    return JsonResponse({"entries": rows, "more": more})
