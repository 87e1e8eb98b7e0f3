"""The socket endpoint over a real daphne and a real `websockets` client (Foundation)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import protocol
from physicians import tickets
from physicians.states import LicenceStatus
from tests.support.clients import Http, checked_connect, connect, recv_json, request
from tests.support.sockets import closed_with

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def verified(make_physician):
    physician, email, password = make_physician()
    return physician, email, password


def _login(server, email, password) -> Http:
    client = Http(server.http)
    client.login(email, password)
    return client


async def _welcomed(server, client: Http):
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    welcome = await recv_json(ws)
    protocol.validate_event(json.dumps(welcome))
    assert welcome["type"] == "session.welcome"
    return ws, welcome


async def test_login_ticket_welcome_ping(daphne_server, verified):
    physician, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    ws, welcome = await _welcomed(daphne_server, client)
    me = welcome["data"]["me"]
    assert me["id"] == str(physician.user_id) and me["verified"] is True
    assert me["display_name"] == "Dr. Test1 Doctor"
    assert welcome["data"]["limits"]["frame_bytes"] == 64 * 1024
    reply = await request(ws, "ping", ref="p1")
    assert reply["ok"] is True and reply["ref"] == "p1"
    assert reply["data"]["server_time"] > welcome["data"]["server_time"] - 1
    await ws.close()


async def _refused(url: str, **kw) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with checked_connect(url, **kw):
            pass
    return info.value.response.status_code


async def test_anonymous_is_refused(daphne_server):
    assert await _refused(daphne_server.ws) == 403
    assert await _refused(daphne_server.ws + "?ticket=not-a-ticket") == 403


@pytest.mark.parametrize("status", [LicenceStatus.PENDING, LicenceStatus.SUSPENDED])
async def test_unverified_and_suspended_are_refused(daphne_server, make_physician, status):
    _, email, password = await sync_to_async(make_physician)(status=status)
    client = Http(daphne_server.http)
    await sync_to_async(client.login)(email, password)
    ticket = await sync_to_async(client.ticket)()
    assert await _refused(f"{daphne_server.ws}?ticket={ticket}") == 403


async def test_session_cookie_needs_an_allowed_origin(daphne_server, verified):
    _, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    cookie = f"sessionid={client.cookie('sessionid')}"
    # Same origin: accepted with the cookie alone.
    async with checked_connect(daphne_server.ws, origin=daphne_server.http,
                                  additional_headers={"Cookie": cookie}) as ws:
        assert (await recv_json(ws))["type"] == "session.welcome"
    # A page on another origin carrying the victim's cookie: refused.
    assert await _refused(daphne_server.ws, origin="http://evil.example",
                          additional_headers={"Cookie": cookie}) == 403
    # No origin at all with a cookie (not a browser, no ticket): refused.
    assert await _refused(daphne_server.ws, additional_headers={"Cookie": cookie}) == 403


async def test_foreign_origin_is_refused_even_with_a_ticket(daphne_server, verified):
    _, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    ticket = await sync_to_async(client.ticket)()
    assert await _refused(f"{daphne_server.ws}?ticket={ticket}", origin="http://evil.example") == 403


async def test_ticket_is_single_use_and_expires(daphne_server, verified):
    physician, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    ticket = await sync_to_async(client.ticket)()
    ws = await connect(daphne_server.ws, ticket)
    assert (await recv_json(ws))["type"] == "session.welcome"
    await ws.close()
    assert await _refused(f"{daphne_server.ws}?ticket={ticket}") == 403  # reused

    # A ticket the server sealed, expired a second ago (the test shares the server's keyring).
    stale = tickets.ticket_seal(user_id=str(physician.user_id), expires_at=time.time() - 1)
    assert await _refused(f"{daphne_server.ws}?ticket={stale}") == 403  # expired


async def test_ticket_with_credentials_for_non_browser_clients(daphne_server, verified):
    _, email, password = verified
    anonymous = Http(daphne_server.http)
    status, body = await sync_to_async(anonymous.call)(
        "POST", "/api/v1/auth/ws-ticket", {"email": email, "password": "wrong-password!"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await sync_to_async(anonymous.call)(
        "POST", "/api/v1/auth/ws-ticket", {"email": email, "password": password})
    assert status == 200
    ws = await connect(daphne_server.ws, body["ticket"])
    assert (await recv_json(ws))["type"] == "session.welcome"
    await ws.close()


async def test_bad_frames_get_errors_and_the_socket_keeps_serving(daphne_server, verified):
    _, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    ws, _ = await _welcomed(daphne_server, client)

    await ws.send("{not json")
    assert (await recv_json(ws))["error"]["code"] == "bad_frame"
    await ws.send(b"\x00\x01binary")
    assert (await recv_json(ws))["error"]["code"] == "bad_frame"
    await ws.send("[1, 2]")
    assert (await recv_json(ws))["error"]["code"] == "bad_frame"
    await ws.send(json.dumps({"op": "teleport", "ref": "u1"}))
    reply = await recv_json(ws)
    assert reply["error"]["code"] == "unknown_op" and reply["ref"] == "u1"
    await ws.send(json.dumps({"ref": "m1"}))
    reply = await recv_json(ws)
    assert reply["error"]["code"] == "bad_request" and reply["error"]["details"]["field"] == "op"
    await ws.send(json.dumps({"op": "ping", "ref": {"nested": True}}))
    assert (await recv_json(ws))["error"]["code"] == "bad_request"
    # A field the op does not define is refused, named (docs/protocol.md).
    await ws.send(json.dumps({"op": "ping", "ref": "f1", "colour": "red"}))
    reply = await recv_json(ws)
    assert reply["error"]["code"] == "bad_request" and reply["ref"] == "f1"
    assert reply["error"]["details"] == {"field": "colour"}
    # A ref over 64 characters is refused even on an otherwise valid frame, never echoed.
    await ws.send(json.dumps({"op": "ping", "ref": "r" * 65}))
    reply = await recv_json(ws)
    assert reply["error"]["code"] == "bad_request" and reply["ref"] is None
    assert reply["error"]["details"] == {"field": "ref"}

    reply = await request(ws, "ping", ref="still-here")
    assert reply["ok"] is True
    await ws.close()


async def test_oversized_frame_closes_with_1009(daphne_server, verified):
    _, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    ws, welcome = await _welcomed(daphne_server, client)
    limit = welcome["data"]["limits"]["frame_bytes"]
    await ws.send(json.dumps({"op": "ping", "pad": "x" * limit}))
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd.code == 1009


async def test_flood_is_rate_limited_and_others_unaffected(daphne_server, make_physician):
    _, email_a, password = await sync_to_async(make_physician)()
    _, email_b, _ = await sync_to_async(make_physician)()
    a = await sync_to_async(_login)(daphne_server, email_a, password)
    b = await sync_to_async(_login)(daphne_server, email_b, password)
    ws_a, _ = await _welcomed(daphne_server, a)
    ws_b, _ = await _welcomed(daphne_server, b)
    for i in range(200):
        await ws_a.send(json.dumps({"op": "ping", "ref": i}))
    codes = [(await recv_json(ws_a)).get("error", {}).get("code") for _ in range(200)]
    assert "rate_limited" in codes
    assert codes.count(None) >= 30  # the burst was served
    assert (await request(ws_b, "ping", ref="b"))["ok"] is True
    await ws_a.close()
    await ws_b.close()


async def test_suspension_closes_live_sockets(daphne_server, make_physician):
    physician, email, password = await sync_to_async(make_physician)()
    _, v_email, v_password = await sync_to_async(make_physician)(role="verifier")
    client = await sync_to_async(_login)(daphne_server, email, password)
    verifier = await sync_to_async(_login)(daphne_server, v_email, v_password)
    ws, _ = await _welcomed(daphne_server, client)

    status, body = await sync_to_async(verifier.call)(
        "POST", f"/api/v1/verifications/{physician.user_id}/suspend", {"reason": "board action"})
    assert status == 200, body
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd.code == 4403


async def test_logout_closes_the_sessions_sockets(daphne_server, verified):
    _, email, password = verified
    client = await sync_to_async(_login)(daphne_server, email, password)
    cookie = f"sessionid={client.cookie('sessionid')}"
    ws = await checked_connect(daphne_server.ws, origin=daphne_server.http,
                                  additional_headers={"Cookie": cookie})
    assert (await recv_json(ws))["type"] == "session.welcome"
    status, _ = await sync_to_async(client.call)("POST", "/api/v1/auth/logout", {})
    assert status == 200
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd.code == 4401


async def test_a_new_password_closes_every_socket_of_the_user(daphne_server, verified):
    """A password change ends all of the user's sessions (Django's session auth hash), so
    the sockets of every session — and those opened by the old password — close (4401)."""
    physician, email, password = verified
    first = await sync_to_async(_login)(daphne_server, email, password)
    second = await sync_to_async(_login)(daphne_server, email, password)
    sockets = [(await _welcomed(daphne_server, client))[0] for client in (first, second)]

    def change_password() -> None:
        user = type(physician.user).objects.get(pk=physician.user_id)
        user.set_password(password + "-new")
        user.save()

    await sync_to_async(change_password)()
    for ws in sockets:
        assert await closed_with(ws) == protocol.CLOSE_UNAUTHENTICATED
    assert (await sync_to_async(second.call)("GET", "/api/v1/me"))[0] == 401
