"""Domain exceptions. Services raise them; the HTTP views and the socket consumer translate
each to the protocol's stable error code (PROTOCOL.md) — the code lives on the class."""

from __future__ import annotations


class DomainError(Exception):
    code = "bad_request"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None,
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.details = details or {}


class ValidationFailed(DomainError):
    code = "bad_request"
    http_status = 400


class Unauthorized(DomainError):
    code = "unauthorized"
    http_status = 401


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429


class TooLarge(DomainError):
    code = "too_large"
    http_status = 413


class IllegalTransition(Conflict):
    """A lifecycle move its state machine does not allow (a licence, a case): ``conflict``."""

    def __init__(self, current: str, target: str, *, what: str = "state") -> None:
        super().__init__(f"cannot move a {what} from {current} to {target}")
        self.current = current
        self.target = target


class OTPRequired(Unauthorized):
    """The password was right, but this account signs in with a one-time code too."""

    code = "otp_required"


class OTPInvalid(Unauthorized):
    """The one-time code is wrong, malformed or already used."""

    code = "otp_invalid"


class OTPEnrolmentRequired(Forbidden):
    """A staff account (moderator, verifier, admin) without a TOTP device: it may not sign in
    until an administrator enrols one (``manage.py otp_enrol``)."""

    code = "otp_enrolment_required"
