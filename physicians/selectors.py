"""Reads of physicians, with the personal fields opened for the caller who may see them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from crypto import personal
from physicians.models import LicenceDecision, Physician, User
from physicians.states import LicenceStatus
from physicians.twofactor import otp_required, session_verified
from physicians.verification import LicenceClaim, RegistryFileBackend


@dataclass(frozen=True)
class Profile:
    """What the physician themself (and verifiers) see; never sent to other members."""

    id: str
    email: str
    display_name: str
    first_name: str
    last_name: str
    role: str
    country: str
    jurisdiction: str
    specialty: str
    specialties: list[str]
    languages: list[str]
    licence_status: str
    verified: bool
    on_call: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def physician_profile(*, physician: Physician) -> Profile:
    user = physician.user
    uid = str(user.pk)
    if user.personal_key is None or physician.display_name_sealed is None:
        email = display = first = last = ""  # erased: the key is gone, so are the fields
    else:
        key = personal.unwrap_personal_key(uid, bytes(user.personal_key))
        email = personal.open_field(key, uid, "email", bytes(user.email_sealed))
        display = personal.open_field(key, uid, "display_name", bytes(physician.display_name_sealed))
        names = json.loads(personal.open_field(key, uid, "real_name",
                                               bytes(physician.real_name_sealed)))
        first, last = names["first"], names["last"]
    return Profile(
        id=uid,
        email=email,
        display_name=display,
        first_name=first,
        last_name=last,
        role=user.role,
        country=physician.country,
        jurisdiction=physician.jurisdiction,
        specialty=physician.primary_specialty.slug,
        specialties=[s.slug for s in physician.specialties.all()],
        languages=list(physician.languages),
        licence_status=physician.licence_status,
        verified=physician.licence_status == LicenceStatus.VERIFIED,
        on_call=physician.on_call,
    )


def physicians_pending() -> list[Physician]:
    return list(
        Physician.objects.filter(licence_status=LicenceStatus.PENDING)
        .select_related("user", "primary_specialty")
        .prefetch_related("specialties", "decisions")
        .order_by("status_changed_at")
    )


def verification_entry(*, physician: Physician) -> dict:
    """What a verifier needs to check one licence: the profile, the licence number (opened),
    what the imported registry says about the claim now, and every decision so far (the
    audit trail: from, to, backend, reason, when, and whether a verifier or a backend
    decided)."""
    profile = physician_profile(physician=physician)
    number = ""
    if physician.user.personal_key is not None and physician.licence_number_sealed is not None:
        uid = str(physician.user_id)
        key = personal.unwrap_personal_key(uid, bytes(physician.user.personal_key))
        number = personal.open_field(key, uid, "licence", bytes(physician.licence_number_sealed))
    registry = None
    if number:
        outcome = RegistryFileBackend().check(LicenceClaim(
            country=physician.country, licence_number=number, first_name=profile.first_name,
            last_name=profile.last_name, jurisdiction=physician.jurisdiction))
        registry = {"decision": outcome.decision, "reason": outcome.reason}
    return {**profile.as_dict(), "licence_number": number, "registry": registry,
            "decisions": [{"from": d.from_status, "to": d.to_status, "backend": d.backend,
                           "by_verifier": d.decided_by_id is not None, "reason": d.reason,
                           "at": d.decided_at.isoformat()} for d in physician.decisions.all()]}


def physicians_recently_decided(*, limit: int = 50) -> list[Physician]:
    """Physicians whose licence status changed most recently (the verifier's audit view)."""
    ids = list(LicenceDecision.objects.order_by("-decided_at", "-id")
               .values_list("physician_id", flat=True)[: limit * 4])
    ids = list(dict.fromkeys(ids))[:limit]
    rows = {p.pk: p for p in Physician.objects.filter(pk__in=ids).select_related(
        "user", "primary_specialty").prefetch_related("specialties", "decisions")}
    return [rows[i] for i in ids if i in rows]


_NOT_READ = object()


def socket_refusal(user: User | None, physician: Physician | None | object = _NOT_READ,
                   ) -> tuple[int, str] | None:
    """Why ``user`` may not open a socket — (close code, reason) — or None when they may.
    Pass ``physician`` when it has been read already (the handshake reads it once).

    Only verified physicians connect; suspended, rejected and pending ones are refused with
    4403, anonymous clients with 4401 (PROTOCOL.md, Connection)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return 4401, "unauthenticated"
    if physician is _NOT_READ:
        physician = Physician.objects.filter(user_id=user.pk).only("licence_status").first()
    if physician is None or physician.licence_status != LicenceStatus.VERIFIED:
        return 4403, "licence not verified"
    return None


def socket_refusals(*, user_ids: list[str]) -> dict[str, tuple[int, str]]:
    """``socket_refusal`` for many users in one query: user id → (close code, reason) for
    those who may no longer hold a socket (the others are absent)."""
    rows = {str(pk): (active, status) for pk, active, status in User.objects.filter(
        pk__in=user_ids).values_list("pk", "is_active", "physician__licence_status")}
    refused = {}
    for user_id in user_ids:
        active, status = rows.get(str(user_id), (False, None))
        if not active:
            refused[user_id] = (4401, "unauthenticated")
        elif status != LicenceStatus.VERIFIED:
            refused[user_id] = (4403, "licence not verified")
    return refused


@dataclass(frozen=True, slots=True)
class SocketIdentity:
    """Who is behind a socket, as the consumer needs it for the socket's whole life. One
    object is shared by every socket of a user opened with a ticket (physicians.socket_cache)."""

    user_id: str
    role: str
    profile: Profile
    session_key: str | None = None  # set when the socket was opened with a browser session


ORIGIN_REFUSED = "origin not allowed"


def origin_refusal(*, origin: str | None, allowed_origins: list[str],
                   has_ticket: bool) -> tuple[int, str] | None:
    """Why a handshake is refused before its credentials are looked at, or None.

    A foreign ``Origin`` is refused whatever the credentials (cross-site WebSocket
    hijacking); a missing one is accepted only with a ticket, which a page on another
    origin cannot obtain without the user's credentials.
    """
    if origin is not None and origin not in allowed_origins:
        return 4403, ORIGIN_REFUSED
    if not has_ticket and origin is None:
        return 4401, "unauthenticated"
    return None


def session_user(*, session_key: str) -> tuple[str, float] | None:
    """(user id, session expiry as a timestamp) for a browser session logged in as an
    active user — Django's own checks: the session exists, has not expired, and its auth
    hash still matches the password; for staff, the session passed a one-time code — or
    None."""
    from django.conf import settings
    from django.contrib.auth import get_user
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    store_cls: type[SessionBase] = import_string(settings.SESSION_ENGINE + ".SessionStore")

    class _Request:  # get_user() reads only request.session
        session = store_cls(session_key)

    user = get_user(_Request)
    if not (user.is_authenticated and user.is_active):
        return None
    if otp_required(user) and not session_verified(_Request.session, user):
        return None  # a staff session that did not pass a one-time code (twofactor.py)
    return str(user.pk), _Request.session.get_expiry_date().timestamp()


def socket_profile(*, user_id: str) -> SocketIdentity | tuple[int, str]:
    """What a handshake needs about ``user_id`` (one query for user, physician and primary
    specialty, one for the specialties, then the personal-field decryption), or (close
    code, reason) when they may not open a socket (see ``socket_refusal``)."""
    physician = (Physician.objects.select_related("user", "primary_specialty")
                 .prefetch_related("specialties").filter(user_id=user_id).first())
    user = (physician.user if physician is not None
            else User.objects.filter(pk=user_id).first())
    refusal = socket_refusal(user, physician)
    if refusal is not None:
        return refusal
    return SocketIdentity(user_id=str(user.pk), role=user.role,
                          profile=physician_profile(physician=physician))


def on_call_of(*, user_id: str) -> bool:
    """The on-call flag last set (``physician_on_call_set``): what a socket registering its
    presence again restores, rather than the flag of the profile it opened with."""
    return bool(Physician.objects.filter(user_id=user_id).values_list("on_call", flat=True)
                .first())


def schedules_of(user_ids: list[str]) -> dict[str, tuple[list, str]]:
    """user id → (on-call schedule, time zone), for those of ``user_ids`` who keep one."""
    rows = (Physician.objects.filter(user_id__in=user_ids).exclude(on_call_schedule=[])
            .values_list("user_id", "on_call_schedule", "time_zone"))
    return {str(uid): (schedule, tz) for uid, schedule, tz in rows}
