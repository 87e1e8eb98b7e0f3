"""TOTP two-factor sign-in, on django-otp and its TOTP plugin (RFC 6238; no crypto here).

- Offered to every account: ``device_create`` makes an unconfirmed TOTP device and hands out
  its secret once (an ``otpauth://`` URI for an authenticator app); ``device_confirm`` with a
  valid code confirms it, and from then on every login of the account needs a code.
- Required for staff (moderators, verifiers, admins): their login, and their ticket by
  password, need a valid code; a staff session that did not pass one counts as no session
  (``physicians.middleware.StaffOTPMiddleware`` for HTTP, ``session_verified`` for the ticket
  fast path and the socket handshake). A staff account without any device cannot sign in
  (``OTPEnrolmentRequired``): an administrator runs ``manage.py otp_enrol EMAIL``, which
  prints the secret for the staff member, and their first login with a code from it
  confirms the device.

A code is accepted once (django-otp keeps the last used time step: a replay fails) and
wrong codes are throttled by django-otp (1, 2, 4, … seconds, per device) — and counted
against the account's login limit too (physicians/throttle.py, via ``services.login_check``).
One device per account: confirming a new one removes the others.
"""

from __future__ import annotations

import base64
import math
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY, verify_token
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from bus import outbox
from core.errors import Conflict, Forbidden, OTPEnrolmentRequired, OTPInvalid, RateLimited
from physicians.models import Role, User

# Roles that must sign in with a one-time code.
STAFF_ROLES = frozenset({Role.MODERATOR, Role.VERIFIER, Role.ADMIN})
DEVICE_NAME = "authenticator"
# Close code for sockets whose staff session lost its device (as services.CLOSE_UNAUTHENTICATED).
CLOSE_UNAUTHENTICATED = 4401


def otp_required(user) -> bool:
    """Whether ``user``'s role must pass a one-time code (staff)."""
    return getattr(user, "role", None) in STAFF_ROLES


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def pending_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


def login_device(user: User) -> TOTPDevice | None:
    """The device a login of ``user`` must present a code of, or None when no code is needed.

    Raises:
        OTPEnrolmentRequired: a staff account without any device.
    """
    device = confirmed_device(user)
    if device is None and otp_required(user):
        # A device enrolled by an administrator (manage.py otp_enrol) is confirmed by the
        # staff member's first login with a code from it.
        device = pending_device(user)
        if device is None:
            raise OTPEnrolmentRequired(
                "Your role signs in with a one-time code, and no authenticator is enrolled "
                "for this account: ask an administrator to enrol one.")
    return device


def code_verify(*, user: User, device: TOTPDevice, code: str) -> TOTPDevice:
    """Check ``code`` against ``device`` (once: a used code fails) and confirm the device if
    it was pending.

    Raises:
        RateLimited: django-otp's back-off after wrong codes has not run out
            (``retry_after_s``).
        OTPInvalid: the code is wrong, malformed or already used.
    """
    allowed, info = device.verify_is_allowed()
    if not allowed:
        locked_until = (info or {}).get("locked_until")
        wait = (max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
                if locked_until is not None else 1)
        raise RateLimited("Too many wrong codes. Wait, then try again.",
                          details={"retry_after_s": wait})
    code = (code or "").replace(" ", "")
    verified = None
    if code.isdigit() and len(code) == device.digits:
        verified = verify_token(user, device.persistent_id, code)
    else:
        device.throttle_increment()  # a malformed code is a wrong code
    if verified is None:
        raise OTPInvalid("The one-time code is wrong or was already used.",
                         fields={"otp": "Wrong or already used."})
    if not verified.confirmed:
        _confirm(verified)
    return verified


def _confirm(device: TOTPDevice) -> None:
    with outbox.atomic():
        _forget_devices(user_id=str(device.user_id), keep=device.pk)
        device.confirmed = True
        device.save(update_fields=["confirmed"])


def _forget_devices(*, user_id: str, keep: int | None = None) -> None:
    """Delete the user's devices (but ``keep``). A staff session verified with a deleted
    device is no session any more: every process forgets its cached sessions, and the
    sockets a staff member opened with them close (4401), after commit."""
    gone = TOTPDevice.objects.filter(user_id=user_id).exclude(pk=keep)
    had_confirmed = gone.filter(confirmed=True).exists()
    gone.delete()
    if had_confirmed:
        outbox.profile_changed(user_id=user_id)
        if otp_required(User.objects.filter(pk=user_id).only("role").first()):
            outbox.close_user_sockets(user_id=user_id, code=CLOSE_UNAUTHENTICATED)


def enrol_by_administrator(*, user: User, label: str, replace: bool) -> str:
    """``manage.py otp_enrol``: a new pending device for ``user`` and its ``otpauth://``
    URI, for an administrator to hand to a staff member; their first login with a code from
    it confirms it. ``replace`` removes a confirmed device first (a lost phone).

    Raises:
        Conflict: the account has a confirmed device and ``replace`` is false.
    """
    with outbox.atomic():
        if confirmed_device(user) is not None:
            if not replace:
                raise Conflict("This account already has a confirmed authenticator; "
                               "use --replace to enrol a new one.")
            _forget_devices(user_id=str(user.pk))
        _, uri = device_create(user=user, label=label)
    return uri


def device_create(*, user: User, label: str) -> tuple[TOTPDevice, str]:
    """A new unconfirmed TOTP device for ``user`` (replacing other unconfirmed ones) and its
    ``otpauth://`` URI — the only time the secret leaves the server. ``label`` names the
    account in the authenticator app (the e-mail)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device, otpauth_uri(device, label=label)


def device_confirm(*, user: User, code: str) -> TOTPDevice:
    """Confirm the pending device with a code from it; the account's other devices go.

    Raises:
        Conflict: no enrolment was started.
        RateLimited, OTPInvalid: as ``code_verify``.
    """
    device = pending_device(user)
    if device is None:
        raise Conflict("Start the enrolment first (POST auth/otp/device).")
    return _invalid_as_field(code_verify, user=user, device=device, code=code)


def disable(*, user: User, code: str) -> None:
    """Turn two-factor sign-in off for a non-staff account, with a current code.

    Raises:
        Forbidden: staff must keep it.
        Conflict: it is not on.
        RateLimited, OTPInvalid: as ``code_verify``.
    """
    if otp_required(user):
        raise Forbidden("Your role must sign in with a one-time code.",
                        details={"reason": "otp_required_for_role"})
    device = confirmed_device(user)
    if device is None:
        raise Conflict("Two-factor sign-in is not on.")
    _invalid_as_field(code_verify, user=user, device=device, code=code)
    with outbox.atomic():
        _forget_devices(user_id=str(user.pk))


def _invalid_as_field(check, **kw):
    # For a signed-in user a wrong code is a bad field (400), not a failed login (401).
    try:
        return check(**kw)
    except OTPInvalid as exc:
        bad = OTPInvalid(exc.message, fields=exc.fields)
        bad.http_status = 400
        raise bad from None


def status(user: User) -> dict:
    return {"enabled": confirmed_device(user) is not None, "required": otp_required(user)}


def otpauth_uri(device: TOTPDevice, *, label: str) -> str:
    """The key URI authenticator apps read (the format django-otp's ``config_url`` writes,
    labelled with the e-mail instead of the username, which here is a blind index)."""
    issuer = settings.OTP_TOTP_ISSUER.replace(":", "")
    params = urlencode({"secret": secret_of(device), "algorithm": "SHA1", "digits": device.digits,
                        "period": device.step})
    return (f"otpauth://totp/{quote(f'{issuer}:{label}')}?{params}"
            f"&issuer={quote(issuer)}")


def secret_of(device: TOTPDevice) -> str:
    """The device's key in base32, unpadded: what an authenticator app takes by hand."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def session_verified(session, user) -> bool:
    """Whether ``session`` passed a one-time code of ``user``'s (what django-otp's
    ``OTPMiddleware`` reads: a confirmed device of this user, stored at login)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and bool(device.confirmed)
