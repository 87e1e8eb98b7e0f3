"""HTTP JSON API under /api/v1/: thin views that parse, check access, call one service."""

from __future__ import annotations

from django.contrib.auth import login, logout, update_session_auth_hash
from django.http import HttpRequest, JsonResponse
from django_otp import login as otp_login

from core.errors import Unauthorized
from core.http import api, error, field
from physicians import selectors, services, twofactor
from physicians.models import Specialty
from physicians.states import LicenceStatus


def _client_ip(request: HttpRequest) -> str | None:
    # daphne runs with --proxy-headers behind the proxy: REMOTE_ADDR is the client's address.
    return request.META.get("REMOTE_ADDR")


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
    message = services.physician_sign_up(data=data, client_ip=_client_ip(request),
                                         backend=services.default_backend())
    # The same answer for a new account and for a taken e-mail or licence (docs/security.md).
    return JsonResponse({"message": message}, status=202)


@api(("POST",))
def login_view(request: HttpRequest) -> JsonResponse:
    user, device = services.login_check(email=field(request.json, "email"),
                                        password=field(request.json, "password"),
                                        otp=field(request.json, "otp", required=False),
                                        client_ip=_client_ip(request))
    # Django replaces the session on login (a new key, the old one deleted), so the sockets
    # opened under the old session could never be reached by a logout: close them now (a
    # shared workstation where another doctor logs in, or the same one again).
    previous = request.session.session_key
    login(request, user)
    if previous and previous != request.session.session_key:
        services.session_end(session_key=previous)
    if device is not None:
        otp_login(request, device)  # the session passed the code (django-otp reads it back)
    physician = services.physician_get(user_id=str(user.pk))
    return JsonResponse({"physician": _profile(physician)})


@api(("POST",), auth="user")
def logout_view(request: HttpRequest) -> JsonResponse:
    services.session_end(session_key=request.session.session_key)
    logout(request)
    return JsonResponse({}, status=200)


@api(("GET", "PATCH"), auth="user")
def me(request: HttpRequest) -> JsonResponse:
    """``GET``: the profile. ``PATCH {languages?, specialties?}``: change them (each list
    replaces the old one; the primary specialty stays)."""
    user_id = str(request.user.pk)
    if request.method == "PATCH":
        services.physician_profile_update(
            user_id=user_id,
            languages=field(request.json, "languages", list, required=False),
            specialties=field(request.json, "specialties", list, required=False))
    return JsonResponse({"physician": _profile(services.physician_get(user_id=user_id))})


@api(("POST",), auth="user")
def password_change(request: HttpRequest) -> JsonResponse:
    """``{current_password, new_password}``: every socket of the user closes (4401) and
    every other session ends; this one stays signed in."""
    services.password_change(user=request.user,
                             current=field(request.json, "current_password"),
                             new=field(request.json, "new_password"),
                             client_ip=_client_ip(request))
    update_session_auth_hash(request, request.user)
    return JsonResponse({}, status=200)


@api(("POST",))
def ws_ticket(request: HttpRequest) -> JsonResponse:
    """A single-use socket ticket, for the logged-in session or for credentials in the body.
    The session case is usually answered before Django (gateway/ticket_endpoint.py)."""
    user = request.user if request.user.is_authenticated else None
    if user is None:
        email = field(request.json, "email", required=False)
        password = field(request.json, "password", required=False)
        if email and password:
            user, _ = services.login_check(email=email, password=password,
                                           otp=field(request.json, "otp", required=False),
                                           client_ip=_client_ip(request))
    if user is None:
        raise Unauthorized("Log in, or send e-mail and password.")
    # Asked for by the logged-in session: the ticket names it (its socket closes at logout).
    session_key = request.session.session_key if request.user.is_authenticated else None
    ticket, expires = services.ws_ticket_issue(user_id=str(user.pk), session_key=session_key)
    return JsonResponse({"ticket": ticket, "expires_at": expires.isoformat(), "url": "/ws/v1/"})


# --- two-factor sign-in (physicians/twofactor.py) ----------------------------------------------

@api(("GET",), auth="user")
def otp_status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(twofactor.status(request.user))


@api(("POST",), auth="user")
def otp_device(request: HttpRequest) -> JsonResponse:
    """Start (or restart) enrolment: the secret is shown here once."""
    email = _profile(services.physician_get(user_id=str(request.user.pk)))["email"]
    device, uri = twofactor.device_create(user=request.user, label=email or str(request.user.pk))
    return JsonResponse({"otpauth_uri": uri, "secret": twofactor.secret_of(device),
                         "digits": device.digits, "period": device.step}, status=201)


@api(("POST",), auth="user")
def otp_confirm(request: HttpRequest) -> JsonResponse:
    device = twofactor.device_confirm(user=request.user, code=field(request.json, "otp"))
    otp_login(request, device)  # this session passed a code of the new device
    return JsonResponse(twofactor.status(request.user))


@api(("POST",), auth="user")
def otp_disable(request: HttpRequest) -> JsonResponse:
    twofactor.disable(user=request.user, code=field(request.json, "otp"))
    return JsonResponse(twofactor.status(request.user))


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
    return JsonResponse({"pending": [selectors.verification_entry(physician=p)
                                     for p in selectors.physicians_pending()]})


@api(("GET",), auth="is_verifier")
def verification_decided(request: HttpRequest) -> JsonResponse:
    """The physicians decided most recently, each with its audit trail."""
    return JsonResponse({"decided": [selectors.verification_entry(physician=p)
                                     for p in selectors.physicians_recently_decided()]})


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
        confirm_phi=field(request.json, "confirm_phi", bool, required=False, default=False),
    )
    return JsonResponse({"physician": _profile(physician), "decision": {
        "from": decision.from_status, "to": decision.to_status,
        "at": decision.decided_at.isoformat(), "reason": decision.reason,
    }})


@api(("GET", "PUT"), auth="user")
def on_call_schedule(request: HttpRequest) -> JsonResponse:
    """Weekly on-call windows in the physician's time zone; the routing driver switches the
    live on-call flag from them (docs/presence.md). ``GET`` reads them back."""
    if request.method == "GET":
        physician = services.physician_get(user_id=str(request.user.pk))
        return JsonResponse({"schedule": physician.on_call_schedule,
                             "time_zone": physician.time_zone})
    services.physician_require_verified(user=request.user)
    schedule = request.json.get("schedule")
    time_zone = field(request.json, "time_zone")
    services.physician_schedule_set(user_id=str(request.user.pk), schedule=schedule,
                                    time_zone=time_zone)
    return JsonResponse({"schedule": services.physician_get(
        user_id=str(request.user.pk)).on_call_schedule, "time_zone": time_zone})
