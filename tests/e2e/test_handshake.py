"""The handshake on two daphne processes: stateless tickets spent once across processes, and
the per-process socket-profile cache forgotten everywhere when a licence changes
(physicians/tickets.py, physicians/socket_cache.py)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import protocol
from tests.support.clients import Http, checked_connect, connect, recv_json, request
from tests.support.fleet import wait_until
from tests.support.sockets import open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Two processes share tickets' spent nonces and invalidations only through Redis.
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (two processes)"),
]


async def _login(server, email: str, password: str) -> Http:
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    return client


async def _welcomed(server, ticket: str):
    ws = await connect(server.ws, ticket)
    assert (await recv_json(ws))["type"] == "session.welcome"
    return ws


async def _refused(server, ticket: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with checked_connect(f"{server.ws}?ticket={ticket}"):
            pass
    return info.value.response.status_code


async def _closed_with(ws) -> int:
    with pytest.raises(ConnectionClosed) as info:
        while True:  # presence or other events may come first
            await asyncio.wait_for(ws.recv(), 10)
    return info.value.rcvd.code


async def test_a_ticket_is_spent_once_across_processes(daphne_pair, make_physician):
    a, b = daphne_pair
    _, email, password = await sync_to_async(make_physician)()
    client = await _login(a, email, password)
    ticket = await sync_to_async(client.ticket)()
    ws = await _welcomed(b, ticket)  # issued by one process, redeemed by the other
    assert await _refused(a, ticket) == 403
    assert await _refused(b, ticket) == 403
    await ws.close()


async def test_a_suspended_physician_is_refused_at_the_next_handshake_on_every_process(
        daphne_pair, make_physician):
    a, b = daphne_pair
    physician, email, password = await sync_to_async(make_physician)()
    _, v_email, v_password = await sync_to_async(make_physician)(role="verifier")
    doctor = await _login(a, email, password)
    verifier = await _login(b, v_email, v_password)
    # A socket on each process: both now hold the physician's profile in their cache.
    on_a = await _welcomed(a, await sync_to_async(doctor.ticket)())
    on_b = await _welcomed(b, await sync_to_async(doctor.ticket)())
    # Tickets issued while still verified, redeemed after the suspension.
    early = [await sync_to_async(doctor.ticket)() for _ in range(2)]

    status, body = await sync_to_async(verifier.call)(
        "POST", f"/api/v1/verifications/{physician.user_id}/suspend", {"reason": "board action"})
    assert status == 200, body
    # The invalidation and the close travel together; once both sockets are closed, both
    # processes have forgotten the profile.
    assert await _closed_with(on_a) == 4403
    assert await _closed_with(on_b) == 4403
    assert await _refused(a, early[0]) == 403
    assert await _refused(b, early[1]) == 403
    assert await _refused(a, await sync_to_async(doctor.ticket)()) == 403
    assert await _refused(b, await sync_to_async(doctor.ticket)()) == 403

    # Refusals are never cached: reinstated, the physician connects again everywhere.
    status, body = await sync_to_async(verifier.call)(
        "POST", f"/api/v1/verifications/{physician.user_id}/reinstate", {})
    assert status == 200, body
    for server in (a, b):
        ws = await _welcomed(server, await sync_to_async(doctor.ticket)())
        await ws.close()


async def test_a_network_ban_is_refused_on_the_process_that_cached_the_profile(
        daphne_pair, make_physician):
    """The ban is written with update() by a moderator's op on one process; its close
    reaches the other process's hub, which forgets the cached profile before closing."""

    a, b = daphne_pair
    lounge = "lounge-cardiology"
    member = await open_socket(a, make_physician)
    mod = await open_socket(a, make_physician, role="moderator")
    on_b = await _welcomed(b, await sync_to_async(member.http.ticket)())  # cached on b
    spare = await sync_to_async(member.http.ticket)()
    me = (await request(member, "room.join", room=lounge))["data"]["me"]
    assert (await request(mod, "room.join", room=lounge))["ok"]
    ban = await request(mod, "mod.ban", room=lounge, pseudonym=me["pseudonym"],
                        scope="network", reason="not a physician")
    assert ban["ok"], ban
    assert await _closed_with(on_b) == 4403
    assert await _closed_with(member) == 4403
    assert await _refused(b, spare) == 403
    await mod.close()


async def test_the_session_ticket_answers_like_the_view_and_logout_ends_it(daphne_pair,
                                                                          make_physician):
    """The session case of the ticket endpoint is answered before Django
    (gateway/ticket_endpoint.py): same body and security headers as the view, and a logout
    on one process stops tickets for that session on both — b included, which has served
    tickets but never a socket (its hub, which brings the logout's forget, starts only with
    a socket: b cached the session anyway and kept issuing tickets for it until the TTL)."""
    a, b = daphne_pair
    _, email, password = await sync_to_async(make_physician)()
    doctor = await _login(a, email, password)
    token = doctor.cookie("csrftoken")
    cookie = f"sessionid={doctor.cookie('sessionid')}; csrftoken={token}"

    def post(server, body: bytes, content_type: str = "application/json", csrf: str = token):
        req = urllib.request.Request(server.http + "/api/v1/auth/ws-ticket", data=body,
                                     method="POST", headers={"Cookie": cookie,
                                                             "Content-Type": content_type,
                                                             "X-CSRFToken": csrf})
        # The headers as the client's case-insensitive mapping (``.get("Vary")`` finds
        # ``vary``): uvicorn sends header names in lower case, daphne as the application
        # wrote them; both are HTTP.
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    # With the session cookie but without the CSRF token (a forged cross-site POST): refused
    # on the fast path and by the view alike.
    for body in (b"", json.dumps({"email": email, "password": password}).encode()):
        status, _, refused = await sync_to_async(post)(b, body, csrf="")
        assert status == 403 and json.loads(refused)["error"]["code"] == "forbidden"
    fast = await sync_to_async(post)(b, b"")
    viewed = await sync_to_async(post)(  # credentials in the body: Django's view answers
        b, json.dumps({"email": email, "password": password}).encode())
    assert fast[0] == viewed[0] == 200
    for header in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options",
                   "Referrer-Policy", "Cross-Origin-Opener-Policy"):
        assert fast[1].get(header) == viewed[1].get(header), header
    assert "Cookie" in fast[1].get("Vary", "")
    assert set(json.loads(fast[2])) == set(json.loads(viewed[2])) == {"ticket", "expires_at",
                                                                      "url"}
    ws = await _welcomed(a, json.loads(fast[2])["ticket"])
    await ws.close()
    assert (await sync_to_async(post)(b, b"{}", "text/plain"))[0] == 415  # as the view says

    status, _ = await sync_to_async(doctor.call)("POST", "/api/v1/auth/logout", {})
    assert status == 200
    # Both had the session cached; each forgets it when the logout's session.close reaches its
    # hub after commit (milliseconds; seconds on a starved machine): poll with a deadline.
    for server in (a, b):
        await sync_to_async(wait_until)(lambda s=server: post(s, b"")[0] == 401, timeout=10,
                                        what="a process refuses the logged-out session")


async def test_logout_closes_the_ticket_sockets_of_that_session_only(daphne_pair,
                                                                     make_physician):
    """Issue 11 (8): a socket opened with a ticket a browser session asked for outlived that
    session's logout — the ticket named the user, not the session. Two browser sessions of
    one user, each with a ticket socket (one per process) and a password-ticket socket: the
    logout of one closes its sockets (4401) on every process; the others keep serving."""
    a, b = daphne_pair
    _, email, password = await sync_to_async(make_physician)()
    leaving, staying = await _login(a, email, password), await _login(b, email, password)
    assert leaving.cookie("sessionid") != staying.cookie("sessionid")
    doomed = [await _welcomed(server, await sync_to_async(leaving.ticket)())
              for server in (a, b)]
    kept = [await _welcomed(server, await sync_to_async(staying.ticket)())
            for server in (a, b)]
    by_password = await _welcomed(b, (await sync_to_async(Http(a.http).call)(
        "POST", "/api/v1/auth/ws-ticket", {"email": email, "password": password}))[1]["ticket"])

    status, _ = await sync_to_async(leaving.call)("POST", "/api/v1/auth/logout", {})
    assert status == 200
    for ws in doomed:
        assert await _closed_with(ws) == protocol.CLOSE_UNAUTHENTICATED
    for ws in [*kept, by_password]:
        reply = await request(ws, "ping", ref="still-there")
        assert reply["ok"] is True
    assert (await sync_to_async(staying.call)("GET", "/api/v1/me"))[0] == 200
    for ws in [*kept, by_password]:
        await ws.close()


async def test_a_new_login_in_the_same_browser_closes_the_old_sessions_sockets(daphne_pair,
                                                                              make_physician):
    """A shared workstation: Dr A's tab holds a socket; Dr B logs in in the same browser (or
    A logs in again). Django replaces the session, so A's socket belongs to a session that no
    longer exists and no logout can ever reach it: the login closes it (4401) on every
    process. Another browser's session of A keeps serving."""
    a, b = daphne_pair
    _, email_a, password_a = await sync_to_async(make_physician)()
    _, email_b, password_b = await sync_to_async(make_physician)()
    browser = await _login(a, email_a, password_a)
    elsewhere = await _login(b, email_a, password_a)
    doomed = [await _welcomed(server, await sync_to_async(browser.ticket)())
              for server in (a, b)]
    kept = await _welcomed(b, await sync_to_async(elsewhere.ticket)())
    old_session = browser.cookie("sessionid")

    await sync_to_async(browser.login)(email_b, password_b)  # same cookie jar
    assert browser.cookie("sessionid") != old_session
    for ws in doomed:
        assert await _closed_with(ws) == protocol.CLOSE_UNAUTHENTICATED
    assert (await request(kept, "ping", ref="still-there"))["ok"] is True
    status, body = await sync_to_async(browser.call)("GET", "/api/v1/me")
    assert status == 200 and body["physician"]["email"] == email_b
    await kept.close()
