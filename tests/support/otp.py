"""One-time codes for tests, computed from a TOTP device's key as an authenticator app would
(django_otp.oath: the library's own RFC 6238 implementation)."""

from __future__ import annotations

import base64
import time

from django_otp.oath import TOTP


def code_at(key: bytes, *, steps_ahead: int = 0, step: int = 30, digits: int = 6) -> str:
    """The code for ``key`` ``steps_ahead`` time steps from now."""
    totp = TOTP(key, step=step, digits=digits)
    totp.time = time.time() + steps_ahead * step
    return f"{totp.token():0{digits}d}"


def code_for_secret(secret: str, *, steps_ahead: int = 0) -> str:
    """The code for a base32 secret, as the enrolment endpoint hands it out."""
    return code_at(base64.b32decode(secret + "=" * (-len(secret) % 8)), steps_ahead=steps_ahead)


def device_code(device, *, steps_ahead: int = 0) -> str:
    return code_at(device.bin_key, steps_ahead=steps_ahead, step=device.step,
                   digits=device.digits)


def fresh_code(device) -> str:
    """A code ``device`` has not accepted yet: the current one, or the next step's when the
    current one was used (a test that signs one staff account in twice within 30 s). Tests
    of replay use ``device_code`` instead."""
    device.refresh_from_db()
    now_t = TOTP(device.bin_key, step=device.step, t0=device.t0).t()
    return device_code(device, steps_ahead=max(0, min(device.last_t + 1 - now_t,
                                                      device.tolerance)))


def otp_fields(email: str) -> dict:
    """``{"otp": code}`` for a login body when the account has a TOTP device, else ``{}``."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from crypto.personal import email_index

    device = (TOTPDevice.objects.filter(user__email_index=email_index(email))
              .order_by("-confirmed", "-id").first())
    return {"otp": fresh_code(device)} if device is not None else {}
