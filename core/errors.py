"""Domain exceptions. Services raise them; the HTTP views and the socket consumer translate
each to the protocol's stable error code (PROTOCOL.md) — the code lives on the class."""

from __future__ import annotations

import redis
from django.db import InterfaceError, OperationalError


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


class Unavailable(DomainError):
    """A dependency (PostgreSQL, Redis) cannot be reached for now; the request did nothing
    that a retry could duplicate (a message send is retried with the same client_id)."""

    code = "unavailable"
    http_status = 503


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached — the connection failed, broke,
    or the pool found none in time — rather than that it refused a statement (a constraint,
    a deadlock: those carry an SQLSTATE from the server)."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    cause = exc.__cause__
    return cause is None or getattr(cause, "sqlstate", None) is None


def unavailable_cause(exc: BaseException) -> bool:
    """Whether ``exc`` means a dependency is down or unreachable for now (answer
    ``unavailable``, safe to retry) rather than a bug (``internal``)."""
    return (isinstance(exc, (Unavailable, redis.exceptions.ConnectionError,
                             redis.exceptions.TimeoutError, ConnectionError, TimeoutError))
            or database_unreachable(exc))


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
