"""What the fuzzers found, kept as explicit tests over a real daphne.

Each test replays one input that a property-based run (tests/e2e/test_fuzz_socket.py,
test_fuzz_http.py) or a black-box probe turned up: it failed before its fix. docs/security.md
("Fuzzing") lists them.
"""

from __future__ import annotations

import io
import json
import socket
import urllib.error
import urllib.request
from email.message import Message

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from PIL import Image

from tests.support.clients import Http, request
from tests.support.sockets import open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the e2e suite runs on Redis"),
]

LOUNGE = "lounge-cardiology"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, "PNG")
    return out.getvalue()


def _send(http: Http, method: str, path: str, body: bytes | None,
          content_type: str) -> tuple[int, Message, bytes]:
    """One request with a raw body; the status, headers (looked up without regard to case:
    uvicorn sends names in lower case) and body of the answer."""
    req = urllib.request.Request(f"{http.base}{path}", data=body, method=method,
                                 headers={"Content-Type": content_type,
                                          "X-CSRFToken": http.cookie("csrftoken") or ""})
    try:
        with http.opener.open(req, timeout=15) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _raw_http(port: int, head: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """A request written byte for byte on a TCP socket (no client library normalises it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + b"Content-Length: " + str(len(body)).encode()
                     + b"\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head_part, _, payload = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, payload


async def test_a_dollar_op_answers_unknown_op_and_the_socket_keeps_serving(daphne_server,
                                                                         make_physician):
    """``$reserved`` is the decoder's internal placeholder tag: it parsed as an op without a
    handler and the consumer died (1011). Every ``$``-prefixed op is unknown_op."""
    ws = await open_socket(daphne_server, make_physician)
    for op in ("$reserved", "$", "$room.join", "$ping"):
        reply = await request(ws, op)
        assert reply["ok"] is False and reply["error"]["code"] == "unknown_op", (op, reply)
    assert (await request(ws, "ping"))["ok"] is True
    await ws.close()


async def test_attachment_upload_answers_are_never_cached(daphne_server, make_physician):
    """An upload's answer names an attachment of a private room: no cache may keep it, nor
    the refusals (which were sent without any Cache-Control)."""
    ws = await open_socket(daphne_server, make_physician)
    assert (await request(ws, "room.join", room=LOUNGE))["ok"] is True
    path = f"/api/v1/rooms/{LOUNGE}/attachments"
    for body, content_type, status in ((_png(), "image/png", 201),
                                       (b"{}", "application/json", 415),
                                       (_png(), "image/png", None)):
        where = path if status is not None else "/api/v1/rooms/lounge-no-such/attachments"
        got, headers, payload = await sync_to_async(_send)(ws.http, "POST", where, body,
                                                           content_type)
        assert status is None or got == status, payload
        assert "no-store" in headers.get("Cache-Control", ""), (got, headers)
        assert json.loads(payload)  # JSON either way
    await ws.close()


@pytest.mark.parametrize("content_type, body", [
    (b"multipart/form-data", b"garbage"),
    (b"multipart/form-data; boundary=", b"x"),
    (b'multipart/form-data; boundary="\x01"', b"--\x01\r\n"),
    (b"application/x-www-form-urlencoded", b"a=%zz&&=b&" + b"x" * 100),
])
def test_a_form_body_to_a_json_endpoint_gets_a_json_refusal(daphne_server, content_type, body):
    """Twisted parsed form bodies itself before daphne saw the request, and answered a
    malformed multipart body with a bare ``400 Bad Request`` (no JSON, no headers) and a
    dropped connection. The application decides; a JSON endpoint refuses forms in JSON."""
    status, headers, payload = _raw_http(
        daphne_server.port,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type
        + b"\r\n", body)
    assert status in (400, 415), (status, payload)
    if (any(byte < 0x20 for byte in content_type)
            and not headers.get("content-type", "").startswith("application/json")):
        # Not HTTP at all (RFC 9110 §5.5: no control characters in a field value): uvicorn's
        # parser refuses the request with a 400 of its own before any application sees it
        # (daphne hands it on, and the application refuses it in JSON); the server goes on
        # serving.
        assert status == 400, (status, payload)
        assert _raw_http(daphne_server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                         b"")[0] == 200
        return
    assert headers.get("content-type", "").startswith("application/json"), (headers, payload)
    assert json.loads(payload)["error"]["code"] == "bad_request"


async def test_a_malformed_form_with_a_session_gets_a_json_refusal(daphne_server,
                                                                   make_physician):
    """With the session cookie, the CSRF check reads a form body for its token: a malformed
    multipart body raised out of it and Django answered its HTML 400 page. Every JSON
    endpoint, and the upload, answers the JSON error shape instead."""
    ws = await open_socket(daphne_server, make_physician)
    for path in ("/api/v1/cases", f"/api/v1/rooms/{LOUNGE}/attachments",
                 "/api/v1/auth/ws-ticket", "/api/v1/auth/logout"):
        for content_type, body in (("multipart/form-data", b"garbage"),
                                   ("multipart/form-data; boundary=", b"x")):
            status, headers, payload = await sync_to_async(_send)(ws.http, "POST", path, body,
                                                                  content_type)
            assert status == 400, (path, content_type, status, payload)
            assert headers.get("Content-Type", "").startswith("application/json"), payload
            assert json.loads(payload)["error"]["code"] == "bad_request"
    await ws.close()


async def test_nul_in_a_body_a_query_or_a_path_is_refused_never_a_crash(daphne_server,
                                                                        make_physician):
    """PostgreSQL stores no NUL in text: each must be refused before a query (400 naming the
    field, or 404 for a path id), never reach the database as a 500."""
    ws = await open_socket(daphne_server, make_physician)
    http = ws.http
    status, body = await sync_to_async(http.call)(
        "POST", "/api/v1/cases", {"specialty": "cardiology", "summary": "chest\x00pain"})
    assert status == 400 and "summary" in body["error"]["fields"], body
    status, body = await sync_to_async(http.call)(
        "PUT", "/api/v1/me/on-call-schedule", {"time_zone": "Europe/\x00Paris", "schedule": []})
    assert status == 400 and "time_zone" in body["error"]["fields"], body
    for path in ("/api/v1/cases/ab%00cd", "/api/v1/attachments/ab%00cd"):
        status, body = await sync_to_async(http.call)("GET", path)
        assert status == 404 and body["error"]["code"] == "not_found", (path, body)
    status, body = await sync_to_async(http.call)("POST", "/api/v1/cases/ab%00cd/withdraw", {})
    assert status == 404, body
    status, body = await sync_to_async(http.call)("GET", "/api/v1/specialties?lang=e%00n")
    assert status in (200, 400), body
    await ws.close()
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    status, body = await sync_to_async(mod.http.call)(
        "GET", "/api/v1/moderation/reports?status=o%00pen")
    assert status == 400 and "status" in body["error"]["fields"], body
    await mod.close()


def test_the_ticket_fast_path_is_never_cached(daphne_server, make_physician):
    """The session's ticket is answered before Django (gateway/ticket_endpoint.py): its
    answer is a bearer credential and must say ``no-store`` as the view's does."""
    _, email, password = make_physician()
    http = Http(daphne_server.http)
    http.login(email, password)
    for body in (b"", b"{}"):
        status, headers, payload = _send(http, "POST", "/api/v1/auth/ws-ticket", body or None,
                                         "application/json")
        assert status == 200 and json.loads(payload)["ticket"], payload
        assert "no-store" in headers.get("Cache-Control", ""), headers
