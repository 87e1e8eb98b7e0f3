"""A staff session that did not pass a one-time code opens no socket and gets no ticket, on a
real daphne: the cookie handshake and the ticket fast path (gateway/ticket_endpoint.py) read
the session through physicians.selectors.session_user, which checks the code."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from tests.support.clients import Http, recv_json

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def _refused(url: str, **kw) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kw):
            pass
    return info.value.response.status_code


def _session_ticket(server, session_key: str) -> tuple[int, dict]:
    """POST auth/ws-ticket with a session cookie and an empty body (the fast path's case)."""
    page = urllib.request.urlopen(server.http + "/", timeout=15)
    token = next(v.split("=", 1)[1].split(";", 1)[0] for k, v in page.headers.items()
                 if k.lower() == "set-cookie" and v.startswith("csrftoken="))
    req = urllib.request.Request(
        server.http + "/api/v1/auth/ws-ticket", data=b"", method="POST",
        headers={"Cookie": f"sessionid={session_key}; csrftoken={token}", "X-CSRFToken": token,
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_a_staff_session_without_a_code_opens_no_socket(daphne_server, make_physician):
    physician, email, password = await sync_to_async(make_physician)(role="moderator")

    def sessions() -> tuple[str, str]:
        from django.test import Client

        from physicians.models import User

        bare = Client()  # signed in with the password alone (no code): no session for staff
        bare.force_login(User.objects.get(pk=physician.user_id))
        passed = Http(daphne_server.http)
        passed.login(email, password)  # with a code (tests/support/clients.py)
        return bare.cookies["sessionid"].value, passed.cookie("sessionid")

    bare, passed = await sync_to_async(sessions)()
    assert await _refused(daphne_server.ws, origin=daphne_server.http,
                          additional_headers={"Cookie": f"sessionid={bare}"}) == 403
    status, body = await sync_to_async(_session_ticket)(daphne_server, bare)
    assert status == 401 and body["error"]["code"] == "unauthorized", body

    async with websockets.connect(daphne_server.ws, origin=daphne_server.http,
                                  additional_headers={"Cookie": f"sessionid={passed}"}) as ws:
        assert (await recv_json(ws))["type"] == "session.welcome"
    status, body = await sync_to_async(_session_ticket)(daphne_server, passed)
    assert status == 200 and body["ticket"], body
