"""The embedded default, as README's first command (``make run``) runs it, in a temp dir.

No DATABASE_URL, no REDIS_URL, no secret key and no keyring in the environment: the
processes must fall back to SQLite, the in-memory channel layer and a freshly generated
secret key and keyring under CURBSIDE_VAR_DIR. None of this touches the suite's
PostgreSQL or Redis, so the test runs the same whatever the suite is pointed at.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import protocol
from physicians.management.commands.seed_demo import DEMO_PASSWORD
from tests.support.cases import assert_crowd_metrics, crowd_consult
from tests.support.clients import Http, checked_connect, connect, recv_json, request
from tests.support.otp import code_for_secret
from tests.support.servers import ROOT, Daphne, free_port
from tests.support.sockets import welcomed

pytestmark = pytest.mark.e2e

# Everything that would point the processes away from their generated, embedded defaults.
NOT_INHERITED = (
    "DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "CURBSIDE_KEYRING",
    "CURBSIDE_KEYRING_FILE", "CURBSIDE_ENV", "CURBSIDE_CHANNEL_LAYER_KEY",
    "CURBSIDE_REDIS_PREFIX", "CURBSIDE_WS_ORIGINS", "DJANGO_ALLOWED_HOSTS",
)
# A cold `migrate` on SQLite imports Django and runs every migration: generous, not a sleep.
COMMAND_TIMEOUT_S = 180
DOCTOR = "james.chen@demo.curbside.test"
OTHER_DOCTOR = "priya.patel@demo.curbside.test"
VERIFIER = "verifier.smith@demo.curbside.test"


def embedded_env(var_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({"CURBSIDE_VAR_DIR": str(var_dir), "CURBSIDE_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1"})
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A fresh var dir, migrated and seeded, with `manage.py serve` running on it."""
    root = tmp_path_factory.mktemp("embedded")
    var_dir = root / "var"
    env = embedded_env(var_dir)
    manage(env, "migrate", "--noinput")
    seeded = manage(env, "seed_demo")
    server = Daphne(port=free_port(), env=env, log_path=root / "daphne.log").start()
    yield server, var_dir, seeded
    server.stop()


def test_the_embedded_default_made_its_own_files(embedded):
    _, var_dir, seeded = embedded
    # seed_demo printed the logins a new user needs.
    assert DEMO_PASSWORD in seeded and DOCTOR in seeded and VERIFIER in seeded
    # SQLite, the secret key and the keyring were generated in the var dir, not found elsewhere.
    assert (var_dir / "curbside.sqlite3").stat().st_size > 0
    assert (var_dir / "secret_key").read_text().strip()
    keyring = json.loads((var_dir / "keyring.json").read_text())
    assert keyring
    assert oct((var_dir / "secret_key").stat().st_mode & 0o777) == "0o600"


async def test_demo_doctor_logs_in_connects_and_pings(embedded):
    server, _, _ = embedded
    client = Http(server.http)
    body = await sync_to_async(client.login)(DOCTOR, DEMO_PASSWORD)
    assert body["physician"]["email"] == DOCTOR and body["physician"]["verified"] is True
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    welcome = await recv_json(ws)
    protocol.validate_event(json.dumps(welcome))
    assert welcome["type"] == "session.welcome"
    assert welcome["data"]["me"]["id"] == body["physician"]["id"]
    assert welcome["data"]["me"]["verified"] is True
    reply = await request(ws, "ping", ref="embedded-1")
    assert reply["ok"] is True and reply["ref"] == "embedded-1"
    await ws.close()


async def test_readme_curl_flow_ticket_for_credentials(embedded):
    server, _, _ = embedded
    anonymous = Http(server.http)
    status, body = await sync_to_async(anonymous.call)(
        "POST", "/api/v1/auth/ws-ticket", {"email": DOCTOR, "password": "not-the-password"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await sync_to_async(anonymous.call)(
        "POST", "/api/v1/auth/ws-ticket", {"email": DOCTOR, "password": DEMO_PASSWORD})
    assert status == 200 and body["url"] == "/ws/v1/"
    ws = await connect(server.ws, body["ticket"])
    assert (await recv_json(ws))["type"] == "session.welcome"
    assert (await request(ws, "ping", ref="curl"))["ok"] is True
    await ws.close()


async def test_suspension_closes_the_socket_on_the_in_memory_layer(embedded):
    # One process, in-memory channel layer: the verifier's HTTP request and the doctor's
    # socket meet in the same process, and the close must still arrive.
    server, _, seeded = embedded
    doctor = Http(server.http)
    profile = (await sync_to_async(doctor.login)(OTHER_DOCTOR, DEMO_PASSWORD))["physician"]
    ws = await connect(server.ws, await sync_to_async(doctor.ticket)())
    assert (await recv_json(ws))["type"] == "session.welcome"

    verifier = Http(server.http)
    # Staff sign in with a one-time code: from the authenticator seed_demo printed.
    uri = next(line for line in seeded.splitlines()
               if "authenticator:" in line and quote(VERIFIER) in line)
    code = code_for_secret(uri.split("secret=", 1)[1].split("&", 1)[0])
    await sync_to_async(verifier.login)(VERIFIER, DEMO_PASSWORD, otp=code)
    status, body = await sync_to_async(verifier.call)(
        "POST", f"/api/v1/verifications/{profile['id']}/suspend", {"reason": "board action"})
    assert status == 200, body
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd.code == 4403


async def test_origins_follow_the_address_the_server_was_started_on(embedded):
    """Issue 13 (9): `make run PORT=…` must give a working chat without setting
    CURBSIDE_WS_ORIGINS. The embedded server here is `manage.py serve` on a free port with
    no origin setting: a browser at http://127.0.0.1:<port> or http://localhost:<port> opens
    an authenticated socket (ticket, and session cookie); a foreign origin is still refused,
    and the refusal is logged once per origin with the variable to set."""
    server, _, _ = embedded
    doctor = Http(server.http)
    await sync_to_async(doctor.login)(DOCTOR, DEMO_PASSWORD)
    cookie = {"Cookie": f"sessionid={doctor.cookie('sessionid')}"}
    for origin in (f"http://127.0.0.1:{server.port}", f"http://localhost:{server.port}"):
        ws = await connect(server.ws, await sync_to_async(doctor.ticket)(), origin=origin)
        assert (await recv_json(ws))["type"] == "session.welcome", origin
        assert (await request(ws, "ping"))["ok"] is True
        await ws.close()
        async with checked_connect(server.ws, origin=origin, additional_headers=cookie) as ws:
            assert (await recv_json(ws))["type"] == "session.welcome", origin

    foreign = "http://curbside.evil.example"
    for origin in (foreign, foreign, f"http://127.0.0.1:{server.port + 1}"):
        with pytest.raises(InvalidStatus) as info:
            await connect(server.ws, await sync_to_async(doctor.ticket)(), origin=origin)
        assert info.value.response.status_code == 403
    # Logged once per origin, naming the variable that would admit it. The log is written
    # before the refusal is answered, so it is there now.
    log = server.log_path.read_text(errors="replace")
    lines = [line for line in log.splitlines() if "WebSocket refused from origin" in line]
    assert sum(foreign in line for line in lines) == 1, lines
    assert len(lines) == 2 and all("CURBSIDE_WS_ORIGINS" in line for line in lines), lines


async def test_a_crowd_consult_on_the_embedded_default(embedded):
    """Issue 12's acceptance on SQLite and the in-memory layer: a poster and three
    colleagues of other specialties, never invited (tests/support/cases.py)."""
    server, _, _ = embedded
    members = []
    # Not OTHER_DOCTOR: an earlier test in this module suspends her.
    for email in ("grace.wilson@demo.curbside.test", "tom.oconnor@demo.curbside.test",
                  "sipho.dlamini@demo.curbside.test", "lucia.hernandez@demo.curbside.test"):
        client = Http(server.http)
        profile = (await sync_to_async(client.login)(email, DEMO_PASSWORD))["physician"]
        ws = await welcomed(server.ws, await sync_to_async(client.ticket)())
        ws.http, ws.me_id = client, profile["id"]
        members.append(ws)
    case = await crowd_consult(members[0], members[1:])
    assert_crowd_metrics(case)
    for ws in members:
        await ws.close()


async def test_a_withdraw_of_a_malformed_or_someone_elses_case_is_a_json_404(embedded):
    """Issue 11 (8): on the embedded default a malformed case id on withdraw answered 500
    with Django's debug page, and someone else's case 403 (so the case existed). Both are
    the same JSON 404 as a well-formed id of no case, and the case stays open."""
    server, _, _ = embedded
    poster, other = Http(server.http), Http(server.http)
    await sync_to_async(poster.login)(DOCTOR, DEMO_PASSWORD)
    await sync_to_async(other.login)(OTHER_DOCTOR, DEMO_PASSWORD)
    status, body = await sync_to_async(poster.call)("POST", "/api/v1/cases", {
        "specialty": "neurology", "urgency": "routine",
        "summary": "three weeks of morning headaches, normal neurological exam"})
    assert status == 201, body
    case = body["case"]["id"]
    answers = []
    for who, path in ((poster, "/api/v1/cases/not-a-uuid/withdraw"),
                      (poster, f"/api/v1/cases/{case}x/withdraw"),
                      (poster, "/api/v1/cases/00000000-0000-4000-8000-000000000000/withdraw"),
                      (other, f"/api/v1/cases/{case}/withdraw")):
        status, body = await sync_to_async(who.call)("POST", path, {})
        answers.append((status, body.get("error", {}).get("code")))
    assert answers == [(404, "not_found")] * 4, answers
    status, body = await sync_to_async(poster.call)("GET", f"/api/v1/cases/{case}")
    assert status == 200 and body["case"]["status"] == "open", body
