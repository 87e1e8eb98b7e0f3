"""HTTP JSON API under /api/v1/: thin views that parse, check access, call one service."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, JsonResponse

from consult import selectors, services
from consult.errors import Unauthorized
from consult.http import api, error, field
from consult.models import Specialty
from consult.states import LicenceStatus


def _profile(physician) -> dict:
    return selectors.physician_profile(physician=physician).as_dict()


@api(("POST",))
def register(request: HttpRequest) -> JsonResponse:
    body = request.json
    data = services.Registration(
        email=field(body, "email"),
        password=field(body, "password"),
        first_name=field(body, "first_name"),
        last_name=field(body, "last_name"),
        country=field(body, "country"),
        licence_number=field(body, "licence_number"),
        specialty=field(body, "specialty"),
        jurisdiction=field(body, "jurisdiction", required=False, default=""),
        display_name=field(body, "display_name", required=False, default=""),
        specialties=tuple(field(body, "specialties", list, required=False, default=[])),
        languages=tuple(field(body, "languages", list, required=False, default=["en"])),
    )
    physician = services.physician_register(data=data, backend=services.default_backend())
    return JsonResponse({"physician": _profile(physician)}, status=201)


@api(("POST",))
def login_view(request: HttpRequest) -> JsonResponse:
    user = authenticate(request, email=field(request.json, "email"),
                        password=field(request.json, "password"))
    if user is None:
        raise Unauthorized("E-mail or password is wrong.")
    login(request, user)
    physician = services.physician_get(user_id=str(user.pk))
    return JsonResponse({"physician": _profile(physician)})


@api(("POST",), auth="user")
def logout_view(request: HttpRequest) -> JsonResponse:
    services.session_end(session_key=request.session.session_key)
    logout(request)
    return JsonResponse({}, status=200)


@api(("GET",), auth="user")
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"physician": _profile(services.physician_get(user_id=str(request.user.pk)))})


@api(("POST",))
def ws_ticket(request: HttpRequest) -> JsonResponse:
    """A single-use socket ticket, for the logged-in session or for credentials in the body.
    The session case is usually answered before Django (consult/ticket_endpoint.py)."""
    user = request.user if request.user.is_authenticated else None
    if user is None:
        email = field(request.json, "email", required=False)
        password = field(request.json, "password", required=False)
        user = authenticate(request, email=email, password=password) if email and password else None
    if user is None:
        raise Unauthorized("Log in, or send e-mail and password.")
    ticket, expires = services.ws_ticket_issue(user_id=str(user.pk))
    return JsonResponse({"ticket": ticket, "expires_at": expires.isoformat(), "url": "/ws/v1/"})


@api(("GET",))
def specialties(request: HttpRequest) -> JsonResponse:
    lang = request.GET.get("lang", "en")
    rows = Specialty.objects.select_related("parent").order_by("slug")
    return JsonResponse({"specialties": [
        {"slug": s.slug, "name": s.name(lang), "parent": s.parent.slug if s.parent else None}
        for s in rows
    ]})


@api(("GET",), auth="is_verifier")
def verification_queue(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"pending": [_profile(p) for p in selectors.physicians_pending()]})


# action → (the state it starts from, the state it ends in). Two actions end in verified,
# so the start state is pinned: reinstating a pending licence must not verify it.
_ACTIONS = {
    "verify": (LicenceStatus.PENDING, LicenceStatus.VERIFIED),
    "reject": (LicenceStatus.PENDING, LicenceStatus.REJECTED),
    "suspend": (LicenceStatus.VERIFIED, LicenceStatus.SUSPENDED),
    "reinstate": (LicenceStatus.SUSPENDED, LicenceStatus.VERIFIED),
}


@api(("POST",), auth="is_verifier")
def verification_decide(request: HttpRequest, user_id: str, action: str) -> JsonResponse:
    if action not in _ACTIONS:
        return error(404, "not_found", f"Unknown action '{action}'.")
    physician = services.physician_get(user_id=user_id)
    from_status, to_status = _ACTIONS[action]
    decision = services.licence_decide(
        physician=physician, to_status=to_status, from_status=from_status, by=request.user,
        backend="manual",
        reason=field(request.json, "reason", required=False, default=""),
    )
    return JsonResponse({"physician": _profile(physician), "decision": {
        "from": decision.from_status, "to": decision.to_status,
        "at": decision.decided_at.isoformat(), "reason": decision.reason,
    }})


@api(("POST",), auth="user")
def case_create(request: HttpRequest) -> JsonResponse:
    """Post a case; an urgent one is routed to online specialists at once."""
    from asgiref.sync import async_to_sync

    from consult import cases
    from presence import dispatch
    from presence import services as routing
    from presence.routing import UrgentCase

    body = request.json
    case = cases.case_post(
        poster=request.user, specialty=field(body, "specialty"), summary=field(body, "summary"),
        urgency=field(body, "urgency", required=False, default="routine"),
        language=field(body, "language", required=False, default="en"),
        subspecialty=field(body, "subspecialty", required=False, default=None),
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False),
    )
    out = {"case": _case_json(case, routing)}
    if case.urgency == "urgent":
        state = async_to_sync(dispatch.case_route_start)(UrgentCase(
            case_id=str(case.pk), specialty=case.specialty.slug, poster_id=str(request.user.pk),
            language=case.language,
            subspecialty=case.subspecialty.slug if case.subspecialty_id else None))
        out["routing"] = {"status": str(state.status), "tier": state.tier,
                          "offered": len(state.outstanding)}
    return JsonResponse(out, status=201)


def _case_json(case, routing) -> dict:
    from consult import cases

    card = routing.case_card(case)
    return {**{f: getattr(card, f) for f in card.__struct_fields__}, "status": case.status,
            "metrics": cases.case_metrics(case)}


@api(("GET",), auth="user")
def case_detail(request: HttpRequest, case_id: str) -> JsonResponse:
    from consult import cases
    from presence import services as routing

    return JsonResponse({"case": _case_json(cases.case_get(case_id=case_id, user=request.user),
                                            routing)})


@api(("POST",), auth="user")
def case_withdraw(request: HttpRequest, case_id: str) -> JsonResponse:
    import time

    from presence import services as routing

    routing.case_withdraw(case_id=case_id, user=request.user, now=time.time())
    return JsonResponse({"case": case_id, "status": "withdrawn"})


@api(("PUT",), auth="user")
def on_call_schedule(request: HttpRequest) -> JsonResponse:
    """Weekly on-call windows in the physician's time zone; the routing driver switches the
    live on-call flag from them (docs/presence.md)."""
    schedule = request.json.get("schedule")
    time_zone = field(request.json, "time_zone")
    services.physician_schedule_set(user_id=str(request.user.pk), schedule=schedule,
                                    time_zone=time_zone)
    return JsonResponse({"schedule": services.physician_get(
        user_id=str(request.user.pk)).on_call_schedule, "time_zone": time_zone})
