"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Schemas come from msgspec (``msgspec.json.schema_components``): the wire structs of
``bus/protocol.py`` and ``physicians.selectors.Profile`` where a view sends them, and the
structs of gateway/http_bodies.py for the bodies no other module types — each written as the
view builds it (a case as ``consult/views.py`` sends it is a ``CaseCard`` plus ``status`` and
``metrics``).
tests/e2e/test_fuzz_http.py runs schemathesis against this document on a live server and
fails on any response that does not match it, so the two cannot drift apart silently.

Every error is ``{"error": {"code", "message", "fields", "details"?}}`` (core/http.py) with a
``code`` from ``ERROR_CODES``; docs/protocol.md ("HTTP API") is the prose of the same.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from bus import protocol
from consult import codec
from core.errors import DomainError
from core.http import api
from gateway.http_bodies import (
    AdverseAlertRead,
    AdverseAlerts,
    AdversePairs,
    AdverseReportBody,
    AdverseReportRequest,
    AdverseReports,
    AdverseSeries,
    AdverseSignals,
    AdverseVocabulary,
    AttachmentStored,
    CaseCreated,
    CaseDetail,
    CaseInviteRequest,
    CaseRequest,
    CaseResolveRequest,
    CaseWithdrawn,
    Credentials,
    Decided,
    DecisionRequest,
    Empty,
    Error,
    OfferAlertAccepted,
    OfferAlertBody,
    OpinionPollRequest,
    OtpCode,
    OtpEnrolment,
    OtpStatus,
    PasswordChange,
    Pending,
    PhiConfirmations,
    PhysicianBody,
    PollRequest,
    ProfileRequest,
    RecentlyDecided,
    Registration,
    ReportBody,
    Reports,
    ResolveRequest,
    Revisions,
    Schedule,
    ScheduleRequest,
    SearchRequest,
    SecondSpecialtyRequest,
    SignUpAnswer,
    Specialties,
    Ticket,
    TicketRequest,
    VoteRequest,
)

API = "/api/v1"
SCHEMAS = "#/components/schemas/{name}"


# --- The operations --------------------------------------------------------------------------

def _all_error_codes() -> list[str]:
    codes, todo = set(protocol.ERROR_CODES), [DomainError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo += cls.__subclasses__()
    return sorted(codes)


# Statuses every operation may answer with the error shape: a malformed body or field (400),
# a body too large (413), a dependency down (503); the rest are added per operation below.
COMMON_ERRORS = (400, 413, 503)
STATUS_TEXT = {400: "Malformed request", 401: "Not logged in, or wrong credentials",
               403: "Not allowed (role, licence, CSRF token or origin)", 404: "No such resource",
               405: "Method not allowed", 409: "Conflicting state", 413: "Too large",
               415: "Not JSON", 422: "Patient data detected (phi_detected)",
               429: "Rate limited (Retry-After)", 503: "A dependency is unavailable (Retry-After)"}


def _op(summary: str, ok: tuple[int, type], *, auth: str | None = "session",
        body: type | None = None, errors: tuple[int, ...] = (), tags: tuple[str, ...] = (),
        params: tuple[dict, ...] = ()) -> dict:
    status, schema = ok
    statuses = sorted(set(COMMON_ERRORS) | set(errors) | ({401} if auth else set())
                      | ({403, 415} if body is not None else set()))
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": list(tags),
        "responses": {str(status): {"description": "OK", "content": {
            "application/json": {"schema": _ref(schema)}}},
            **{str(s): _error_response(s) for s in statuses}},
    }
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": _ref(body)}}}
    operation["security"] = ([{"session": [], "csrfToken": []}] if auth == "session"
                             else [{"session": [], "csrfToken": []}, {}])
    if auth == "staff":
        operation["security"] = [{"session": [], "csrfToken": []}]
        operation["description"] = ("Staff only (the role named in the summary), signed in "
                                    "with a one-time code (TOTP).")
    return operation


def _error_response(status: int) -> dict:
    return {"description": STATUS_TEXT[status],
            "content": {"application/json": {"schema": _ref(Error)}}}


def _path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query_param(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _ref(struct: type) -> dict:
    return {"$ref": SCHEMAS.format(name=struct.__name__)}


STRUCTS = (CaseCreated, CaseDetail, CaseWithdrawn, PhysicianBody, SignUpAnswer, Empty, Ticket,
           OtpStatus, OtpEnrolment, Schedule, Specialties, Pending, RecentlyDecided, Decided,
           Reports, ReportBody, Revisions, PhiConfirmations,
           AttachmentStored, Error, Registration, Credentials, TicketRequest, OtpCode,
           ScheduleRequest, ProfileRequest, PasswordChange, CaseRequest, DecisionRequest,
           ResolveRequest,
           CaseResolveRequest, CaseInviteRequest, SecondSpecialtyRequest, codec.FeedPage,
           codec.RoundReply, codec.ImageReply, codec.Dashboard,
           AdverseReportBody, AdverseReports, AdverseVocabulary, AdversePairs, AdverseSignals,
           AdverseSeries, AdverseAlerts, AdverseAlertRead, AdverseReportRequest,
           OfferAlertBody, OfferAlertAccepted, PollRequest, VoteRequest, codec.PollReply,
           codec.PollList, OpinionPollRequest, SearchRequest, codec.SearchPage)


def _case_post_op() -> dict:
    """201 with the new case; 200 with the first one for a retry that repeats its
    ``client_id``."""
    op = _op("Post a case (verified physicians); an urgent one is routed at once. A repeat "
             "with the same client_id stores nothing and answers 200 with the first case",
             (201, CaseCreated), body=CaseRequest, errors=(403, 404, 422, 429))
    op["responses"]["200"] = {"description": "A retry: the case first posted with this "
                              "client_id", "content": {"application/json": {
                                  "schema": _ref(CaseCreated)}}}
    return op


def _paths() -> dict[str, dict]:
    return _core_paths() | _adverse_paths()


def _core_paths() -> dict[str, dict]:
    staff = ("staff",)
    case_id = _path_param("case_id")
    return {
        f"{API}/auth/register": {"post": _op(
            "Sign up (202, the same answer whether or not the e-mail or licence is taken)",
            (202, SignUpAnswer), auth=None, body=Registration, errors=(422, 429))},
        f"{API}/auth/login": {"post": _op(
            "Log in: sets the session cookie; staff send a one-time code (otp)",
            (200, PhysicianBody), auth=None, body=Credentials, errors=(401, 429))},
        f"{API}/auth/logout": {"post": _op("Log out: ends the session and its sockets",
                                           (200, Empty), body=Empty)},
        f"{API}/auth/ws-ticket": {"post": _op(
            "A single-use socket ticket, for the session or for credentials in the body",
            (200, Ticket), auth="optional", body=TicketRequest, errors=(429,))},
        f"{API}/auth/otp": {"get": _op("Two-factor status", (200, OtpStatus))},
        f"{API}/auth/otp/device": {"post": _op("Start TOTP enrolment (the secret, shown once)",
                                               (201, OtpEnrolment), body=Empty)},
        f"{API}/auth/otp/confirm": {"post": _op("Confirm TOTP enrolment with a code",
                                                (200, OtpStatus), body=OtpCode, errors=(409, 429))},
        f"{API}/auth/otp/disable": {"post": _op("Turn TOTP off with a code", (200, OtpStatus),
                                                body=OtpCode, errors=(403, 409, 429))},
        f"{API}/auth/password": {"post": _op(
            "Change one's password (the current one required): every socket of the account "
            "closes with 4401 and every other session ends; this session stays signed in. "
            "400 with details.reasons: password_wrong, password_same, password_weak",
            (200, Empty), body=PasswordChange, errors=(429,))},
        f"{API}/me": {
            "get": _op("The logged-in physician's own profile", (200, PhysicianBody)),
            "patch": _op("Change one's languages and extra specialties (400 with "
                         "details.reasons: languages_empty, language_unsupported, "
                         "specialty_unknown, specialties_too_many)", (200, PhysicianBody),
                         body=ProfileRequest, errors=(404,))},
        f"{API}/me/on-call-schedule": {
            "get": _op("The weekly on-call windows and their time zone", (200, Schedule),
                       errors=(404,)),
            "put": _op("Set the weekly on-call windows (verified physicians; 400 with "
                       "details.reasons: schedule_invalid, time_zone_unknown)", (200, Schedule),
                       body=ScheduleRequest, errors=(403,))},
        f"{API}/specialties": {"get": _op(
            "The specialty taxonomy", (200, Specialties), auth=None,
            params=(_query_param("lang", {"type": "string"}),))},
        f"{API}/verifications": {"get": _op("Verifiers: licences pending review",
                                            (200, Pending), auth="staff", errors=(403,),
                                            tags=staff)},
        f"{API}/verifications/decided": {"get": _op(
            "Verifiers: the licences decided most recently, with their audit trail",
            (200, RecentlyDecided), auth="staff", errors=(403,), tags=staff)},
        f"{API}/verifications/{{user_id}}/{{action}}": {"post": _op(
            "Verifiers: verify, reject, suspend or reinstate a licence", (200, Decided),
            auth="staff", body=DecisionRequest, errors=(403, 404, 409, 422), tags=staff,
            params=(_path_param("user_id"), _path_param("action", {
                "type": "string", "enum": ["verify", "reject", "suspend", "reinstate"]})))},
        f"{API}/cases": {
            "post": _case_post_op(),
            "get": _op("The feed: cases the caller may open, newest first, by cursor",
                       (200, codec.FeedPage), errors=(403,), params=(
                           *(_query_param(name, {"type": "string"}) for name in (
                               "specialty", "status", "urgency", "language", "cursor")),
                           _query_param("mine", {"type": "string", "enum": ["0", "1"]}),
                           _query_param("answered_by_me", {"type": "string",
                                                           "enum": ["0", "1"]}),
                           _query_param("limit", {"type": "integer", "minimum": 1})))},
        f"{API}/cases/{{case_id}}": {"get": _op(
            "A case, for whoever may open it (opening a routine case joins its room)",
            (200, CaseDetail), errors=(403, 404), params=(case_id,))},
        **_case_paths(case_id),
        f"{API}/rooms/{{room_id}}/attachments": {"post": _upload_op()},
        f"{API}/attachments/{{attachment_id}}": {"get": _download_op()},
        f"{API}/moderation/reports": {"get": _op(
            "Moderators: the report queue, oldest first", (200, Reports), auth="staff",
            errors=(403,), tags=staff, params=(
                _query_param("status", {"type": "string",
                                        "enum": ["open", "resolved", "dismissed"]}),
                _query_param("after", {"type": "integer", "minimum": 0})))},
        f"{API}/moderation/reports/{{report_id}}/resolve": {"post": _op(
            "Moderators: resolve or dismiss a report", (200, ReportBody), auth="staff",
            body=ResolveRequest, errors=(403, 404, 409, 422), tags=staff,
            params=(_path_param("report_id", {"type": "integer", "minimum": 0}),))},
        f"{API}/moderation/rooms/{{room_id}}/messages/{{seq}}/revisions": {"get": _op(
            "Moderators: the earlier bodies of an edited or deleted message, oldest first "
            "(each read appends a mod.revisions.read audit entry)", (200, Revisions),
            auth="staff", errors=(403, 404), tags=staff,
            params=(_path_param("room_id"), _path_param("seq", {"type": "integer",
                                                                "minimum": 0})))},
        f"{API}/moderation/phi-confirmations": {"get": _op(
            "Moderators: the PHI-confirmation log, newest first (finding kinds and counts, "
            "never text)", (200, PhiConfirmations), auth="staff", errors=(403,), tags=staff,
            params=(_query_param("before", {"type": "integer", "minimum": 0}),))},
        f"{API}/openapi.json": {"get": {
            "summary": "This document", "security": [{}],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {
                "application/json": {"schema": {"type": "object"}}}}}}},
    }


def _case_paths(case_id: dict) -> dict[str, dict]:
    """The case lifecycle (docs/cases.md): each step answers the case's new status."""
    steps = {
        "withdraw": ("The poster withdraws an open case", Empty),
        "resolve": ("The poster resolves the case with an outcome, crediting helpful answers",
                    CaseResolveRequest),
        "close": ("The poster (or a moderator) closes the case without an outcome", Empty),
        "reopen": ("The poster reopens a resolved or closed case", Empty),
        "handoff": ("The accepting specialist hands the consult off (routed anew)", Empty),
        "invite": ("Bring a colleague into a private case by their pseudonym in a shared room",
                   CaseInviteRequest),
        "publish": ("The poster publishes a resolved urgent case as a teaching case", Empty),
    }
    paths = {f"{API}/cases/{{case_id}}/{name}": {"post": _op(
        summary, (200, CaseWithdrawn), body=body, errors=(403, 404, 409, 422, 429),
        params=(case_id,))} for name, (summary, body) in steps.items()}
    paths[f"{API}/cases/{{case_id}}/second-specialty"] = {"post": _op(
        "Ask for a second specialty on the case: a new routing round", (201, codec.RoundReply),
        body=SecondSpecialtyRequest, errors=(403, 404, 409, 429), params=(case_id,))}
    images = _op("The poster adds an image to the case (through the attachment path)",
                 (201, codec.ImageReply), body=Empty, errors=(403, 404, 409, 422, 429),
                 params=(case_id, _query_param("confirm_phi", {"type": "string",
                                                               "enum": ["0", "1"]})))
    images["requestBody"] = _upload_op()["requestBody"]
    paths[f"{API}/cases/{{case_id}}/images"] = {"post": images}
    paths[f"{API}/dashboard"] = {"get": _op(
        "Network figures per specialty and week beside SERMO's published ones",
        (200, codec.Dashboard), params=(_query_param("weeks", {
            "type": "integer", "minimum": 1, "maximum": 104}),))}
    paths[f"{API}/search"] = {"post": _op(
        "Search the cases and messages the caller may read (docs/search.md)",
        (200, codec.SearchPage), body=SearchRequest, errors=(403,))}
    token = _path_param("token")
    paths[f"{API}/alerts/{{token}}"] = {"get": _op(
        "What a mailed urgent-offer link offers (its addressee only)", (200, OfferAlertBody),
        errors=(403, 404), params=(token,))}
    paths[f"{API}/alerts/{{token}}/accept"] = {"post": _op(
        "Take the case through a mailed link: once, by its addressee, while it is open "
        "(409 conflict with details.reason used | expired | closed)", (200, OfferAlertAccepted),
        body=Empty, errors=(403, 404, 409), params=(token,))}
    poll_id = _path_param("poll_id")
    paths[f"{API}/cases/{{case_id}}/polls"] = {
        "get": _op("A case's diagnosis polls (results hidden until you vote or it closes)",
                   (200, codec.PollList), errors=(403, 404), params=(case_id,)),
        "post": _op("A diagnosis poll, by the poster or the accepting specialist",
                    (201, codec.PollReply), body=PollRequest, errors=(403, 404, 409, 422),
                    params=(case_id,))}
    paths[f"{API}/polls/{{poll_id}}"] = {"get": _op(
        "One poll", (200, codec.PollReply), errors=(403, 404), params=(poll_id,))}
    paths[f"{API}/polls/{{poll_id}}/vote"] = {"post": _op(
        "Vote once (a second vote is 409 conflict)", (200, codec.PollReply), body=VoteRequest,
        errors=(403, 404, 409), params=(poll_id,))}
    paths[f"{API}/polls/{{poll_id}}/close"] = {"post": _op(
        "Close a poll (its maker; an opinion poll: a moderator)", (200, codec.PollReply),
        body=Empty, errors=(403, 404, 409), params=(poll_id,))}
    paths[f"{API}/polls/{{poll_id}}/results.csv"] = {"get": _non_json(_op(
        "A poll's results as CSV: moderators at any time, others once it closed (before: 409 "
        "conflict, details.reason open); specialties under 5 votes not shown apart",
        (200, Empty), errors=(403, 404, 409), params=(poll_id,)),
        "text/csv", "CSV: section, option, text, specialty, votes (docs/polls.md)")}
    paths[f"{API}/polls/{{poll_id}}/chart.svg"] = {"get": _non_json(_op(
        "A poll's results as an SVG bar chart, for whoever sees them (voted, closed, or a "
        "moderator; before: 409 conflict, details.reason hidden)",
        (200, Empty), errors=(403, 404, 409),
        params=(poll_id, _query_param("lang", {"type": "string", "enum": ["en", "es"]}))),
        "image/svg+xml", "The chart (Content-Security-Policy: default-src 'none')")}
    paths[f"{API}/opinion-polls"] = {
        "get": _op("The newest opinion polls, of one lounge (?room=) or all (verified "
                   "physicians and moderators)", (200, codec.PollList), errors=(403, 404),
                   params=(_query_param("room", {"type": "string"}),)),
        "post": _op("Moderators: an opinion poll in a lounge or network-wide, with an open "
                    "and a close time", (201, codec.PollReply), body=OpinionPollRequest,
                    errors=(403, 422))}
    return paths


OFFICER = ("Pharmacovigilance officers only (the role `manage.py adverse_officer` grants); "
           "any other physician gets 403 forbidden.")


def _officer(op: dict) -> dict:
    op["description"] = OFFICER
    return op


def _pair_params() -> tuple[dict, ...]:
    return tuple({**_query_param(name, {"type": "string", "minLength": 1}), "required": True,
                  "description": what} for name, what in (
        ("drug", "The normalised ingredient (as in /pairs)"),
        ("reaction", "The normalised reaction code (as in /pairs)")))


def _non_json(op: dict, media_type: str, description: str) -> dict:
    op["responses"]["200"] = {"description": description, "content": {
        media_type: {"schema": {"type": "string"}}}}
    return op


def _adverse_paths() -> dict[str, dict]:
    """The adverse-event API (adverse/urls.py, docs/adverse.md): any physician files and reads
    their own reports; the rest is the pharmacovigilance officer's."""
    base, tags = f"{API}/adverse", ("adverse",)
    csv_ops = {
        f"{base}/export/reports.csv": "Every report, decrypted, long format (docs/adverse.md)",
        f"{base}/export/pairs.csv": "Every drug-reaction pair with its statistics",
    }
    return {
        f"{base}/reports": {
            "post": _op("File an adverse-event report (verified physicians): checked, "
                        "PHI-guarded, normalised, sealed; rate-limited per hour",
                        (201, AdverseReportBody), body=AdverseReportRequest,
                        errors=(403, 422, 429), tags=tags),
            "get": _op("My own reports, newest first", (200, AdverseReports), tags=tags,
                       params=(_query_param("limit", {"type": "integer", "minimum": 0,
                                                      "maximum": 2**63 - 1}),))},
        f"{base}/reports/{{report_id}}": {"get": _op(
            "One report: my own, or any for an officer", (200, AdverseReportBody),
            errors=(404,), tags=tags, params=(_path_param("report_id"),))},
        f"{base}/vocabulary": {"get": _op(
            "The choices the report form offers, the normalisation tables' versions, and "
            "whether I am an officer", (200, AdverseVocabulary), tags=tags)},
        f"{base}/pairs": {"get": _officer(_op(
            "Officers: every drug-reaction pair with PRR, chi2, ROR, IC, strongest first",
            (200, AdversePairs), errors=(403,), tags=tags))},
        f"{base}/pairs/series": {"get": _officer(_op(
            "Officers: a pair's reports per week, from its first week to its last",
            (200, AdverseSeries), errors=(403, 404), tags=tags, params=_pair_params()))},
        f"{base}/pairs/chart.svg": {"get": _officer(_non_json(_op(
            "Officers: SVG chart of a pair's weeks (serious reports darker)", (200, Empty),
            errors=(403, 404), tags=tags, params=_pair_params()),
            "image/svg+xml", "The chart (Content-Security-Policy: default-src 'none')"))},
        f"{base}/signals": {"get": _officer(_op(
            "Officers: the signals first detected in one ISO week (default: this week)",
            (200, AdverseSignals), errors=(403,), tags=tags,
            params=({**_query_param("week", {"type": "string", "format": "date"}),
                     "description": "Any day of the week (YYYY-MM-DD)"},)))},
        f"{base}/alerts": {"get": _officer(_op(
            "Officers: my signal alerts, newest first", (200, AdverseAlerts), errors=(403,),
            tags=tags))},
        f"{base}/alerts/{{alert_id}}/read": {"post": _officer(_op(
            "Officers: mark one of my alerts read", (200, AdverseAlertRead), body=Empty,
            errors=(403, 404), tags=tags, params=(_path_param("alert_id", {
                "type": "integer", "minimum": 0}),)))},
        **{path: {"get": _officer(_non_json(_op(
            f"Officers: {summary} (CSV attachment)", (200, Empty), errors=(403,), tags=tags),
            "text/csv", "CSV; X-Curbside-Normalisation names the tables' versions"))}
           for path, summary in csv_ops.items()},
    }


def _upload_op() -> dict:
    op = _op("Upload an image to a room one is a member of (cleaned, re-encoded, sealed)",
             (201, AttachmentStored), body=Empty, errors=(403, 404, 422, 429),
             params=(_path_param("room_id"),
                     # OCR found patient data (422 phi_detected, kinds only): the author
                     # confirms with confirm_phi=1, audited (docs/phi.md).
                     _query_param("confirm_phi", {"type": "string", "enum": ["0", "1"]})))
    op["requestBody"] = {"required": True, "content": {
        "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "contentMediaType": "image/*"}}}}}}
    return op


def _download_op() -> dict:
    op = _op("An attachment's cleaned bytes (members of its room)", (200, Empty),
             errors=(403, 404), params=(_path_param("attachment_id", {
                 "type": "string", "format": "uuid"}),))
    op["responses"]["200"] = {"description": "The image", "content": {
        "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}}}}
    return op


@functools.cache
def document() -> dict:
    """The OpenAPI 3.1 document (built once per process)."""
    _, components = msgspec.json.schema_components(STRUCTS, ref_template=SCHEMAS)
    # Profile is a dataclass (no forbid_unknown_fields of its own): it is sent exactly.
    components["Profile"]["additionalProperties"] = False
    components["ErrorBody"]["properties"]["code"]["enum"] = _all_error_codes()
    return {
        "openapi": "3.1.0",
        "info": {"title": "Curbside HTTP API", "version": str(protocol.PROTOCOL_VERSION),
                 "description": "JSON over HTTPS next to the /ws/v1/ socket (docs/protocol.md). "
                                "Unsafe requests with the session cookie carry the CSRF "
                                "token (X-CSRFToken = the csrftoken cookie)."},
        "paths": _paths(),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie",
                            "name": settings.SESSION_COOKIE_NAME},
                "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
    }


@api(("GET",))
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(document())
