"""JSON plumbing for the HTTP API: parse bodies, map domain errors, require roles, CSRF.

Errors are always ``{"error": {"code", "message", "fields"}}`` with the matching status, plus
``details`` when the domain error carries some (``phi_detected``: the findings' spans).

CSRF (``csrf_refusal``): an unsafe request that carries the session cookie — a browser's —
must carry Django's CSRF token too (the ``X-CSRFToken`` header, equal to the ``csrftoken``
cookie the page sets) and come from a trusted origin: Django's own ``CsrfViewMiddleware``
decides. A request without the session cookie authenticates with what it sends (credentials
in the body) and needs no token, but one from a browser on a foreign origin is refused all
the same (no login CSRF). A body-less POST is no exception: the content-type check alone let
withdraw, verify and logout through from another site.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from core import text
from core.errors import DomainError, ValidationFailed, unavailable_cause

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
        # Exempt from the middleware only because csrf_refusal runs the same check itself,
        # after the method check, and answers in this API's JSON shape.
        @csrf_exempt
        @functools.wraps(view)
        def inner(request: HttpRequest, *args, **kwargs):
            try:
                response = _answer(view, methods, auth, request, *args, **kwargs)
            except Exception as exc:
                if not unavailable_cause(exc):
                    raise
                log.warning("%s %s: a dependency is unavailable (%s)", request.method,
                            request.path, type(exc).__name__)
                response = unavailable()
            # Every API answer is about someone's account or cases: no cache keeps it.
            if not response.has_header("Cache-Control"):
                add_never_cache_headers(response)
            return response

        return inner

    return wrap


# Methods that change nothing (RFC 9110 §9.2.1): no CSRF check.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _not_called(request: HttpRequest) -> HttpResponse:  # CsrfViewMiddleware's get_response
    raise AssertionError("not called")


def _origin_trusted(request: HttpRequest, origin: str) -> bool:
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        return origin == f"{request.scheme}://{request.get_host()}"
    except Exception:  # DisallowedHost: not ours
        return False


def csrf_refusal(request: HttpRequest) -> JsonResponse | None:
    """Why an unsafe request must be refused as a cross-site forgery, as a 403 (a 400 for a
    malformed form body, which the check reads for its token), or None."""
    if request.method in SAFE_METHODS:
        return None
    if settings.SESSION_COOKIE_NAME in request.COOKIES:
        try:
            refused = CsrfViewMiddleware(_not_called).process_view(request, None, (), {})
        except MultiPartParserError:  # it reads a form body for the token: not a form
            return error(400, "bad_request", "The body is not a well-formed form.")
        if refused is not None:
            return error(403, "forbidden", "Missing or wrong CSRF token: reload the page.",
                         details={"reason": "csrf"})
        return None
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None and not _origin_trusted(request, origin):
        return error(403, "forbidden", "Requests from this origin are not accepted.",
                     details={"reason": "origin"})
    return None


def _answer(view: Callable, methods: tuple[str, ...], auth: str | None, request: HttpRequest,
            *args, **kwargs) -> HttpResponse:
    """What ``api`` answers: the checks, then the view, with domain errors mapped."""
    if request.method not in methods:
        return error(405, "bad_request", f"Use {' or '.join(methods)}.")
    try:
        request.body  # noqa: B018  read (and keep) the body first: the CSRF check may parse a form
    except RequestDataTooBig:
        return error(413, "too_large", "The request body is too large.")
    refusal = csrf_refusal(request)
    if refusal is not None:
        return refusal
    request.json = {}
    if request.method in ("POST", "PUT", "PATCH"):
        if len(request.body) > MAX_JSON_BYTES:
            return error(413, "too_large", "The request body is too large.")
        if request.body:
            if request.content_type != "application/json":
                return error(415, "bad_request", "Send a JSON body (application/json).")
            try:
                request.json = json.loads(request.body)
            except (ValueError, RecursionError):  # RecursionError: nested too deep
                return error(400, "bad_frame", "The body is not valid JSON.")
            if not isinstance(request.json, dict):
                return error(400, "bad_frame", "The body must be a JSON object.")
    if auth is not None:
        if not request.user.is_authenticated:
            return error(401, "unauthorized", "Log in first.")
        if auth != "user" and not getattr(request.user, auth, False):
            return error(403, "forbidden", "Your role may not do this.")
    try:
        response = view(request, *args, **kwargs)
    except DomainError as exc:
        response = error(exc.http_status, exc.code, exc.message, exc.fields, exc.details)
        wait = exc.details.get("retry_after_s")
        if exc.http_status == 429 and isinstance(wait, int | float):
            response["Retry-After"] = str(max(1, math.ceil(wait)))
    except Exception as exc:  # a bug: the JSON error shape, never a traceback page
        if unavailable_cause(exc):
            raise  # the database or Redis is down: 503 unavailable (``api``)
        log.exception("%s %s failed", request.method, request.path)
        response = error(500, "internal", "The server failed to handle this request.")
    return response
# Fields whose strings are free text on several lines (TAB, LF and CR allowed).
MULTILINE_FIELDS = frozenset({"summary", "reason", "resolution"})
# Fields taken exactly as sent: a password is never shown, and any character may be in it.
RAW_FIELDS = frozenset({"password", "current_password", "new_password"})


def unavailable() -> JsonResponse:
    """503 ``unavailable``: a dependency is down; the request may be retried."""
    response = error(503, "unavailable", "A service this request needs is unavailable; "
                     "try again shortly.")
    response["Retry-After"] = "2"
    return response


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


def not_found(request: HttpRequest, unknown: str = "") -> JsonResponse:
    """Any unknown path under /api/v1/: the JSON error shape, never Django's HTML page."""
    response = error(404, "not_found", "No such API endpoint.")
    add_never_cache_headers(response)
    return response
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
