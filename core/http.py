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

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

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


def _answer(view: Callable, methods: tuple[str, ...], auth: str | None, request: HttpRequest,
            *args, **kwargs) -> HttpResponse:
    """What ``api`` answers: the checks, then the view, with domain errors mapped."""
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
    except Exception as exc:  # a bug: the JSON error shape, never a traceback page
        if unavailable_cause(exc):
            raise  # the database or Redis is down: 503 unavailable (``api``)
        log.exception("%s %s failed", request.method, request.path)
        response = error(500, "internal", "The server failed to handle this request.")
    return response


def unavailable() -> JsonResponse:
    """503 ``unavailable``: a dependency is down; the request may be retried."""
    response = error(503, "unavailable", "A service this request needs is unavailable; "
                     "try again shortly.")
    response["Retry-After"] = "2"
    return response


def field(body: dict, name: str, kind: type = str, *, required: bool = True, default=None):
    """One typed field of a JSON body.

    Raises:
        core.errors.ValidationFailed: missing (when required) or of the wrong type.
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
    return value


def not_found(request: HttpRequest, unknown: str = "") -> JsonResponse:
    """Any unknown path under /api/v1/: the JSON error shape, never Django's HTML page."""
    response = error(404, "not_found", "No such API endpoint.")
    add_never_cache_headers(response)
    return response
