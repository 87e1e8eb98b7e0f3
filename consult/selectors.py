"""Reads of physicians, with the personal fields opened for the caller who may see them."""

from __future__ import annotations

import json
from dataclasses import dataclass

from consult.models import Physician, User
from consult.states import LicenceStatus
from crypto import personal


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
        .prefetch_related("specialties")
        .order_by("status_changed_at")
    )


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


@dataclass(frozen=True)
class SocketIdentity:
    """Who is behind a socket, as the consumer needs it for the socket's whole life."""

    user_id: str
    role: str
    profile: Profile
    session_key: str | None  # set when the socket was opened with a browser session


def socket_identity(
    *, ticket: str | None, session_key: str | None, origin: str | None,
    allowed_origins: list[str],
) -> SocketIdentity | tuple[int, str]:
    """Authenticate a WebSocket handshake: a single-use ticket, or the session cookie from an
    allowed ``Origin``. Returns the identity, or (close code, reason) to refuse with.

    A foreign ``Origin`` is refused whatever the credentials (cross-site WebSocket
    hijacking); a missing one is accepted only with a ticket, which a page on another
    origin cannot obtain without the user's credentials.
    """
    from django.contrib.auth import get_user
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    from consult.services import ws_ticket_redeem

    if origin is not None and origin not in allowed_origins:
        return 4403, "origin not allowed"
    user = None
    used_session = None
    if ticket:
        user = ws_ticket_redeem(ticket=ticket)
    elif session_key and origin is not None:
        from django.conf import settings

        store_cls: type[SessionBase] = import_string(settings.SESSION_ENGINE + ".SessionStore")

        class _Request:  # get_user() reads only request.session
            session = store_cls(session_key)

        candidate = get_user(_Request)
        if candidate.is_authenticated:
            user, used_session = candidate, session_key
    physician = None
    if user is not None and user.is_authenticated:
        physician = (Physician.objects.select_related("user", "primary_specialty")
                     .prefetch_related("specialties").filter(user_id=user.pk).first())
    refusal = socket_refusal(user, physician)
    if refusal is not None:
        return refusal
    return SocketIdentity(user_id=str(user.pk), role=user.role,
                          profile=physician_profile(physician=physician),
                          session_key=used_session)


def schedules_of(user_ids: list[str]) -> dict[str, tuple[list, str]]:
    """user id → (on-call schedule, time zone), for those of ``user_ids`` who keep one."""
    rows = (Physician.objects.filter(user_id__in=user_ids).exclude(on_call_schedule=[])
            .values_list("user_id", "on_call_schedule", "time_zone"))
    return {str(uid): (schedule, tz) for uid, schedule, tz in rows}
