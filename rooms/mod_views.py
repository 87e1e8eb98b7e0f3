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
