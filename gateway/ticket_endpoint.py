"""``POST /api/v1/auth/ws-ticket`` for a logged-in session, answered on the event loop.

Every socket a non-browser client opens starts with this request, so its cost bounds how
fast sockets open. Through Django's ASGI handler each request gets a thread of its own
(``ThreadSensitiveContext``: a new single-thread executor per request), runs six
middlewares, and reads the session and the user — a ticket cost more server time than the
handshake it buys (docs/benchmarks.md). Here the common case — a session cookie, an empty
or ``{}`` body — is answered without a thread: the session's user comes from the
per-process session cache (``physicians.socket_cache.Sessions``, read on the shared sync
thread only on a miss) and the ticket is sealed in memory (physicians/tickets.py).

Everything else falls through to the Django view untouched, body included: credentials in
the body, no or an unknown session, a non-JSON body, a host Django would refuse, a request
that ``SecurityMiddleware`` would redirect to HTTPS. The response passes through the same
``SecurityMiddleware`` and ``XFrameOptionsMiddleware`` response hooks as the view's would.
"""

from __future__ import annotations

import io
import logging
from http.cookies import CookieError, SimpleCookie

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from core.errors import unavailable_cause
from core.http import MAX_JSON_BYTES, csrf_refusal, unavailable
from physicians import services, socket_cache

log = logging.getLogger(__name__)

TICKET_PATH = "/api/v1/auth/ws-ticket"

def _never(request):  # the middlewares below only run their response hooks
    raise AssertionError("not called")


class TicketEndpoint:
    """ASGI wrapper: answers the session case of the ticket endpoint, passes the rest on."""

    def __init__(self, app) -> None:
        self.app = app
        self._security = SecurityMiddleware(_never)
        self._frames = XFrameOptionsMiddleware(_never)

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or scope["path"] != TICKET_PATH
                or scope["method"] != "POST"):
            return await self.app(scope, receive, send)
        messages, body = [], b""
        while True:  # read the body; it is replayed to Django if this is not our case
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_JSON_BYTES:
                break
        last = messages[-1]
        complete = last["type"] == "http.request" and not last.get("more_body")
        try:
            response = await self._answer(scope, body) if complete else None
        except Exception as exc:
            if not unavailable_cause(exc):
                raise
            # The session (PostgreSQL) or the ticket store's epoch (Redis) is out of reach.
            log.warning("ws-ticket: a dependency is unavailable (%s)", type(exc).__name__)
            response = unavailable()
            add_never_cache_headers(response)
        if response is None:
            return await self.app(scope, _replay(messages, receive), send)
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                for k, v in response.items()]})
        await send({"type": "http.response.body", "body": response.content})

    async def _answer(self, scope, body: bytes) -> JsonResponse | None:
        headers = dict(scope.get("headers", ()))
        if body.strip() not in (b"", b"{}"):
            return None  # credentials (or anything else) in the body: the view decides
        if body and headers.get(b"content-type", b"").split(b";")[0].strip() \
                != b"application/json":
            return None  # the view answers 415
        try:
            cookies = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        except CookieError:
            return None
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        if morsel is None or not morsel.value:
            return None
        request = ASGIRequest(scope, io.BytesIO(body))
        try:
            request.get_host()  # ALLOWED_HOSTS, as Django would check it
        except DisallowedHost:
            return None
        if self._security.process_request(request) is not None:
            return None  # an HTTPS redirect: let Django send it
        if csrf_refusal(request) is not None:
            return None  # no valid CSRF token: the view answers the 403
        user_id = await socket_cache.session_user_id(morsel.value)
        if user_id is None:
            return None  # the view answers 401 (or uses credentials)
        ticket, expires = await services.ws_ticket_issue_async(user_id=user_id,
                                                               session_key=morsel.value)
        response = JsonResponse({"ticket": ticket, "expires_at": expires.isoformat(),
                                 "url": "/ws/v1/"})
        patch_vary_headers(response, ("Cookie",))  # as SessionMiddleware would
        add_never_cache_headers(response)  # a bearer credential: as core.http.api answers
        response = self._security.process_response(request, response)
        return self._frames.process_response(request, response)


def _replay(messages: list[dict], receive):
    pending = list(messages)

    async def replay() -> dict:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
