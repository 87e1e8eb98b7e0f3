"""JSON plumbing for the HTTP API: parse bodies, map domain errors, require roles.

Errors are always ``{"error": {"code", "message", "fields"}}`` with the matching status, plus
``details`` when the domain error carries some (``phi_detected``: the findings' spans).
State-changing endpoints accept only ``application/json`` bodies: a cross-site form cannot
send that without a CORS preflight, which (with SameSite=Lax cookies) is the CSRF defence of
this JSON API, so the views are exempt from Django's form-token check.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core import text
from core.errors import DomainError, ValidationFailed

log = logging.getLogger(__name__)
# Request bodies larger than this are refused before parsing.
MAX_JSON_BYTES = 64 * 1024


def error(status: int, code: str, message: str, fields: dict | None = None,
          details: dict | None = None) -> JsonResponse:
    body = {"code": code, "message": message, "fields": fields or {}}
    if details:
        body["details"] = details
    return JsonResponse({"error": body}, status=status)


def api(methods: tuple[str, ...], *, auth: str | None = None) -> Callable:
    """Decorate a view: method check, JSON body in ``request.json``, auth, error mapping.

    ``auth`` is None (anyone), "user" (logged in) or a role test name on User
    ("is_verifier", "is_moderator").
    """

    def wrap(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def inner(request: HttpRequest, *args, **kwargs):
            if request.method not in methods:
                return error(405, "bad_request", f"Use {' or '.join(methods)}.")
            request.json = {}
            if request.method in ("POST", "PUT", "PATCH"):
                if len(request.body) > MAX_JSON_BYTES:
                    return error(413, "too_large", "The request body is too large.")
                if request.body:
                    if request.content_type != "application/json":
                        return error(415, "bad_request", "Send a JSON body (application/json).")
                    try:
                        request.json = json.loads(request.body)
                    except ValueError:
                        return error(400, "bad_frame", "The body is not valid JSON.")
                    if not isinstance(request.json, dict):
                        return error(400, "bad_frame", "The body must be a JSON object.")
            if auth is not None:
                if not request.user.is_authenticated:
                    return error(401, "unauthorized", "Log in first.")
                if auth != "user" and not getattr(request.user, auth, False):
                    return error(403, "forbidden", "Your role may not do this.")
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return error(exc.http_status, exc.code, exc.message, exc.fields, exc.details)

        return inner

    return wrap


# Fields whose strings are free text on several lines (TAB, LF and CR allowed).
MULTILINE_FIELDS = frozenset({"summary", "reason", "resolution"})
# Fields taken exactly as sent: a password is never shown, and any character may be in it.
RAW_FIELDS = frozenset({"password"})


def field(body: dict, name: str, kind: type = str, *, required: bool = True, default=None):
    """One typed field of a JSON body.

    Strings (and the strings of a list) follow core/text.py: no control characters (TAB and
    newlines only in ``MULTILINE_FIELDS``), no invisible or bidirectional formatting
    characters; ``RAW_FIELDS`` are exempt. Integers fit a signed 64-bit column.

    Raises:
        core.errors.ValidationFailed: missing (when required), of the wrong type, or holding
            characters or a number out of bounds.
    """
    if name not in body or body[name] is None:
        if required:
            raise ValidationFailed(f"'{name}' is required.", fields={name: "This field is required."})
        return default
    value = body[name]
    if kind is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok:
        expected = "a list of strings" if kind is list else kind.__name__
        raise ValidationFailed(f"'{name}' must be {expected}.", fields={name: f"Expected {expected}."})
    if isinstance(value, int) and not isinstance(value, bool) and not (
            text.INT64_MIN <= value <= text.INT64_MAX):
        raise ValidationFailed(f"'{name}' is out of range.",
                               fields={name: "Expected a 64-bit integer."})
    if name not in RAW_FIELDS:
        multiline = name in MULTILINE_FIELDS
        for s in value if kind is list else [value] if isinstance(value, str) else []:
            if not text.text_ok(s, multiline=multiline):
                rule = text.TEXT_RULE if multiline else text.LINE_RULE
                raise ValidationFailed(f"'{name}' {rule}.", fields={name: f"It {rule}."})
    return value


def int_param(request: HttpRequest, name: str, default: int = 0) -> int:
    """A non-negative integer query parameter that fits a bigint column.

    Raises:
        core.errors.ValidationFailed: not such an integer.
    """
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > text.INT64_MAX:
        raise ValidationFailed(f"'{name}' must be an integer from 0 to {text.INT64_MAX}.",
                               fields={name: "Expected a non-negative 64-bit integer."})
    return int(raw)
