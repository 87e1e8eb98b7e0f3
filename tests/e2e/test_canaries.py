"""The canary scan: unique strings planted through the real API and socket of a live daphne —
an e-mail, a password, first, last and display names, a licence number, a message body and its
edit, a case summary, a diagnosis poll's option, an opinion poll's question and option,
report, hide, ban, verification and resolution reasons, an attachment's file name, a socket
ticket, a searched word and the search queries (socket and HTTP) — are found in clear in none
of: a ``pg_dump`` of the database,
every Redis key and value (SCAN, each type read, and DUMP), the server's log.

The server logs at INFO, the production default. Its mails go to Django's in-memory outbox
(``locmem``, as for every test server: tests/support/servers.py): the development console
backend prints mails, addresses and all, into the log — a mail is a delivery to its owner, not
a log line. tests/test_breach.py does the same for the services, and checks that no row links
a pseudonym to its physician; at the end of the suite every test server's log is scanned for
the fixture password and e-mails (tests/conftest.py, ``pytest_sessionfinish``).
"""

from __future__ import annotations

import io
import json
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from PIL import Image

from tests.support import canaries
from tests.support.canaries import Canaries
from tests.support.clients import Http, request
from tests.support.servers import start_daphne
from tests.support.sockets import open_socket, welcomed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"]
                       or not settings.REDIS_URL,
                       reason="the scan dumps PostgreSQL and Redis (CI always runs it)"),
]

LOUNGE = "lounge-cardiology"
CANARY_ENV = {"CURBSIDE_LOG_LEVEL": "INFO"}


@pytest.fixture
def canary_server(live_database_url, tmp_path_factory):
    server = start_daphne(live_database_url, tmp_path_factory, **CANARY_ENV)
    yield server
    server.stop()


def _upload(http: Http, room: str, name: str) -> tuple[int, dict]:
    """A multipart upload whose file name is ``name``."""
    image = io.BytesIO()
    Image.new("RGB", (16, 16), "navy").save(image, "PNG")
    boundary = secrets.token_hex(8)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\""
            f"\r\nContent-Type: image/png\r\n\r\n").encode() + image.getvalue() + \
        f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"{http.base}/api/v1/rooms/{room}/attachments", data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "X-CSRFToken": http.cookie("csrftoken") or ""})
    try:
        with http.opener.open(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def test_no_planted_canary_is_in_the_database_redis_or_the_log(canary_server,
                                                                      make_physician):
    c = Canaries()
    call = sync_to_async

    # Sign up over HTTP: e-mail, password, names, licence.
    doctor = {
        "email": c.new("email") + "@hospital.example", "password": c.new("password"),
        "first_name": c.new("first", prefix="Zeb"), "last_name": c.new("last", prefix="Quix"),
        "display_name": c.new("display", prefix="Dr"), "licence_number": c.add("licence", canaries.npi()),
        "country": "US", "jurisdiction": "CA", "specialty": "cardiology", "languages": ["en"],
    }
    anonymous = Http(canary_server.http)
    status, body = await call(anonymous.call)("POST", "/api/v1/auth/register", doctor)
    assert status == 202, body

    # A verifier (an administrator, signed in with a code) verifies it, with a reason.
    admin = await open_socket(canary_server, make_physician, role="admin")
    status, body = await call(admin.http.call)("GET", "/api/v1/verifications")
    assert status == 200, body
    user_id = next(p["id"] for p in body["pending"] if p["email"] == doctor["email"])
    status, body = await call(admin.http.call)(
        "POST", f"/api/v1/verifications/{user_id}/verify",
        {"reason": f"licence checked {c.new('verify_reason')}"})
    assert status == 200, body

    # The new physician logs in and talks on the socket.
    http = Http(canary_server.http)
    await call(http.login)(doctor["email"], doctor["password"])
    ticket = c.add("ticket", await call(http.ticket)())
    ws = await welcomed(canary_server.ws, ticket)
    for sock in (ws, admin):
        assert (await request(sock, "room.join", room=LOUNGE))["ok"] is True
    sent = await request(ws, "message.send", room=LOUNGE, client_id="canary-1",
                         body=f"{c.new('body')} the troponin was 4.2")
    assert sent["ok"] is True, sent
    seq = sent["data"]["seq"]
    edited = await request(ws, "message.edit", room=LOUNGE, seq=seq,
                           body=f"{c.new('edit')} repeat troponin pending")
    assert edited["ok"] is True, edited
    pseudonym = (await request(ws, "room.join", room=LOUNGE))["data"]["me"]["pseudonym"]

    # A case, an attachment with a canary file name.
    status, body = await call(http.call)("POST", "/api/v1/cases", {
        "specialty": "cardiology", "summary": f"{c.new('summary')} 58F with syncope"})
    assert status == 201, body
    # Polls: a diagnosis poll's option, an opinion poll's question and option.
    status, body = await call(http.call)("POST", f"/api/v1/cases/{body['case']['id']}/polls", {
        "options": [f"{c.new('poll_option')} long QT", "vasovagal"]})
    assert status == 201, body
    status, body = await call(admin.http.call)("POST", "/api/v1/opinion-polls", {
        "room": LOUNGE, "question": f"{c.new('poll_question')} colchicine for all?",
        "options": [f"{c.new('opinion_option')} yes", "no"],
        "closes_at": (datetime.now(UTC) + timedelta(days=2)).isoformat()})
    assert status == 201, body
    status, body = await call(_upload)(http, LOUNGE, f"{c.new('filename')}.png")
    assert status == 201, body

    # Search (docs/search.md): a message that stays shown, its words indexed as keyed
    # tokens; searching finds it and the case by their canary words (so the index is there),
    # over the socket and over HTTP, and a query's own words are stored and logged nowhere.
    term = c.new("search_term")
    kept = await request(ws, "message.send", room=LOUNGE, client_id="canary-2",
                         body=f"Pericarditis recurrente {term} con colchicina")
    assert kept["ok"] is True, kept
    found = await request(ws, "search", q=f"{term} {c.new('search_query')}")
    assert [h["seq"] for h in found["data"]["hits"]] == [kept["data"]["seq"]], found
    found = await request(ws, "search", q=c.planted["summary"], kind="cases")
    assert len(found["data"]["hits"]) == 1, found
    status, body = await call(http.call)("POST", "/api/v1/search",
                                         {"q": f"{term} {c.new('search_http_query')}"})
    assert status == 200 and len(body["hits"]) == 1, body

    # Moderation: a report, its resolution, a hide, a ban — each with a reason.
    reported = await request(admin, "report", room=LOUNGE, seq=seq,
                             reason=f"{c.new('report_reason')} off topic")
    assert reported["ok"] is True, reported
    status, body = await call(admin.http.call)(
        "POST", f"/api/v1/moderation/reports/{reported['data']['report']}/resolve",
        {"resolution": f"{c.new('resolution')} handled"})
    assert status == 200, body
    hidden = await request(admin, "mod.hide", room=LOUNGE, seq=seq,
                           reason=f"{c.new('hide_reason')} duplicate")
    assert hidden["ok"] is True, hidden
    banned = await request(admin, "mod.ban", room=LOUNGE, pseudonym=pseudonym,
                           reason=f"{c.new('ban_reason')} repeated")
    assert banned["ok"] is True, banned
    for sock in (ws, admin):
        await sock.close()

    db_dump = await call(canaries.pg_dump)()
    redis_dump = await call(canaries.redis_dump)()
    log = canaries.log_text(canary_server.log_path)
    # The dumps and the log really hold what was done (a scan of nothing proves nothing).
    assert b"COPY public.rooms_message" in db_dump and b"COPY public.consult_case" in db_dump
    assert b"COPY public.rooms_messageterm" in db_dump and b"COPY public.consult_caseterm" in db_dump
    assert redis_dump and b"POST /api/v1/cases" in log
    # … and the scan sees what is stored in clear: the author's pseudonym in the room is.
    assert pseudonym.encode() in db_dump
    leaks = {where: c.found_in(blob) for where, blob in (
        ("pg_dump", db_dump), ("redis", redis_dump), ("server log", log))}
    assert leaks == {"pg_dump": [], "redis": [], "server log": []}, leaks


def test_the_suite_log_scan_sees_a_planted_value(tmp_path):
    """The end-of-suite scan (tests/conftest.py) would report a log holding a fixture value."""
    clean, leaky = tmp_path / "clean.log", tmp_path / "leaky.log"
    clean.write_bytes(b'127.0.0.1 - - "POST /api/v1/auth/login" 200 374\n')
    leaky.write_bytes(b"login failed for DR7.123@Example.Test with Correct-Horse-Battery\n")
    assert canaries.suite_log_leaks([clean, leaky]) == {
        str(leaky): ["fixture password", "fixture e-mail"]}


def test_the_scan_sees_a_canary_in_a_bytea_column():
    """pg_dump writes a ``bytea`` value as hex: a canary stored in clear in a binary column
    (a search term saved unkeyed, say) is found in that form too, in any letter case."""
    c = Canaries()
    word = c.new("search_term")
    dump = (b"COPY public.rooms_messageterm (id, message_id, room_id, at, term) FROM stdin;\n"
            b"1\tm\tlounge-cardiology\t2026-12-02\t\\\\x" + word.lower().encode().hex().encode()
            + b"\n")
    assert c.found_in(dump) == ["search_term"]
    assert c.found_in(dump.replace(word.lower().encode().hex().encode(), b"00ff")) == []
