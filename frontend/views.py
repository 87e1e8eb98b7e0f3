"""The web client: one page (template + static ES modules) and its static files.

The page holds no data and no inline script: it logs in over /api/v1/ and talks to /ws/v1/
with the session cookie. The Content-Security-Policy is set here, on the only HTML response
the client has, so it holds in embedded mode too (no proxy in front to add it).
"""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET
from django.views.static import serve

STATIC_DIR = Path(__file__).resolve().parent / "static" / "frontend"

# No inline scripts or styles, no plugins, no framing, no foreign hosts. connect-src names
# ws:/wss: because 'self' matched only http(s) before CSP Level 3 (Safari < 15.4).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self' ws: wss:",
    "img-src 'self' data: blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


@require_GET
@ensure_csrf_cookie  # the client sends it back as X-CSRFToken on every unsafe request
def index(request: HttpRequest) -> HttpResponse:
    response = render(request, "frontend/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    # The page itself is tiny and personal state lives in the socket: never cache it.
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def static_file(request: HttpRequest, path: str) -> FileResponse:
    """The client's own files, for daphne without a proxy (embedded mode and tests); in the
    scaled deployment nginx answers /static/ from collectstatic's output before Django.

    Raises:
        django.http.Http404: no such file (``serve`` refuses paths outside STATIC_DIR).
    """
    response = serve(request, path, document_root=str(STATIC_DIR))
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
@ensure_csrf_cookie
def adverse_page(request: HttpRequest) -> HttpResponse:
    """The adverse drug event report page (adverse.html + adverse.js; docs/adverse.md)."""
    response = render(request, "frontend/adverse.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response


@ensure_csrf_cookie  # the page's accept button sends it back as X-CSRFToken
def alert_page(request: HttpRequest, token: str) -> HttpResponse:
    """The page a mailed urgent-offer link opens (consult/alerts.py): static, like the client;
    its script asks /api/v1/alerts/<token> (with the reader's session) what the link offers."""
    response = render(request, "frontend/alert.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    # The token is in the path: never send it on as a Referer, never cache the page.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@ensure_csrf_cookie
def poll_page(request: HttpRequest, poll_id: str) -> HttpResponse:
    """A poll's results page (poll.html + poll.js; docs/polls.md): static, like the client;
    its script asks /api/v1/polls/<id> with the reader's session."""
    response = render(request, "frontend/poll.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response
