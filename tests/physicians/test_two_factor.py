"""TOTP two-factor sign-in (django-otp's TOTP plugin; physicians/twofactor.py).

Offered to everyone: enrol a device (the secret is handed out once), confirm it with a code,
and from then on a login needs a code. Required for moderators, verifiers and admins: their
login and their ticket by password need a valid code, and a session of theirs that did not
pass one is no session at all (HTTP, ticket fast path and socket handshake alike). Codes are
computed from the device's key as an authenticator app would; a used code is refused
(replay), and wrong codes are throttled (django-otp's back-off) and counted against the
account's login limit.
"""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from physicians import socket_cache
from physicians.models import User
from physicians.selectors import session_user
from tests.support.otp import code_for_secret, device_code, fresh_code

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
TICKET = "/api/v1/auth/ws-ticket"
OTP = "/api/v1/auth/otp"
QUEUE = "/api/v1/verifications"


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body or {}, content_type="application/json")


def code_of(response) -> str:
    return response.json()["error"]["code"]


def unthrottle(device) -> None:
    """As if django-otp's back-off after the last wrong code had run out."""
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(hours=1))


def logged_in(email: str, password: str, **extra) -> Client:
    client = Client()
    response = post(client, LOGIN, {"email": email, "password": password, **extra})
    assert response.status_code == 200, response.content
    return client


@pytest.fixture
def staff(make_physician):
    """A verifier with a confirmed device (tests/conftest.py enrols staff accounts)."""
    physician, email, password = make_physician(role="verifier")
    device = TOTPDevice.objects.get(user_id=physician.user_id, confirmed=True)
    return physician, email, password, device


# --- enrolment, offered to everyone --------------------------------------------------------

def test_a_physician_enrols_confirms_and_then_needs_a_code(make_physician):
    _, email, password = make_physician()
    client = logged_in(email, password)
    assert client.get(OTP).json() == {"enabled": False, "required": False}

    created = post(client, f"{OTP}/device")
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/Curbside%3A")
    assert f"secret={secret}" in body["otpauth_uri"] and "issuer=Curbside" in body["otpauth_uri"]
    assert (body["digits"], body["period"]) == (6, 30)
    device = TOTPDevice.objects.get(confirmed=False)
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    # Not confirmed yet: nothing changes for the login, and the secret is not shown again.
    assert client.get(OTP).json() == {"enabled": False, "required": False}
    assert secret not in client.get(OTP).content.decode()
    assert logged_in(email, password)

    wrong = post(client, f"{OTP}/confirm", {"otp": "000000" if code_for_secret(secret) != "000000"
                                            else "111111"})
    assert wrong.status_code == 400 and code_of(wrong) == "otp_invalid"
    unthrottle(device)
    code = code_for_secret(secret)
    confirmed = post(client, f"{OTP}/confirm", {"otp": code})
    assert confirmed.status_code == 200, confirmed.content
    assert client.get(OTP).json() == {"enabled": True, "required": False}

    # From now on the login needs a code.
    needs = post(Client(), LOGIN, {"email": email, "password": password})
    assert needs.status_code == 401 and code_of(needs) == "otp_required"
    replayed = post(Client(), LOGIN, {"email": email, "password": password, "otp": code})
    assert replayed.status_code == 401 and code_of(replayed) == "otp_invalid"
    unthrottle(device)
    assert logged_in(email, password, otp=code_for_secret(secret, steps_ahead=1))


def test_confirming_without_a_pending_device_is_a_conflict(make_physician):
    _, email, password = make_physician()
    client = logged_in(email, password)
    response = post(client, f"{OTP}/confirm", {"otp": "123456"})
    assert response.status_code == 409 and code_of(response) == "conflict"


def test_a_physician_turns_it_off_with_a_code_staff_cannot(make_physician, staff):
    _, email, password = make_physician()
    client = logged_in(email, password)
    secret = post(client, f"{OTP}/device").json()["secret"]
    assert post(client, f"{OTP}/confirm", {"otp": code_for_secret(secret)}).status_code == 200
    refused = post(client, f"{OTP}/disable", {"otp": "12345"})
    assert refused.status_code == 400 and code_of(refused) == "otp_invalid"
    device = TOTPDevice.objects.get(user__role="physician", confirmed=True)
    unthrottle(device)
    off = post(client, f"{OTP}/disable", {"otp": code_for_secret(secret, steps_ahead=1)})
    assert off.status_code == 200 and off.json() == {"enabled": False, "required": False}
    assert logged_in(email, password)  # no code needed any more

    _, s_email, s_password, s_device = staff
    s_client = logged_in(s_email, s_password, otp=fresh_code(s_device))
    forbidden = post(s_client, f"{OTP}/disable", {"otp": fresh_code(s_device)})
    assert forbidden.status_code == 403 and code_of(forbidden) == "forbidden"
    assert TOTPDevice.objects.filter(pk=s_device.pk, confirmed=True).exists()


# --- required for staff ----------------------------------------------------------------------

def test_staff_login_needs_a_valid_code(staff):
    _, email, password, device = staff
    client = Client()
    needs = post(client, LOGIN, {"email": email, "password": password})
    assert needs.status_code == 401 and code_of(needs) == "otp_required"
    assert client.get("/api/v1/me").status_code == 401  # no session came of it
    wrong = post(client, LOGIN, {"email": email, "password": password, "otp": "not-a-code"})
    assert wrong.status_code == 401 and code_of(wrong) == "otp_invalid"
    unthrottle(device)
    ok = post(client, LOGIN, {"email": email, "password": password, "otp": device_code(device)})
    assert ok.status_code == 200, ok.content
    assert client.get(QUEUE).status_code == 200
    assert client.get(OTP).json() == {"enabled": True, "required": True}


def test_a_wrong_password_says_nothing_about_codes(staff):
    _, email, _, device = staff
    response = post(Client(), LOGIN, {"email": email, "password": "wrong-password!"})
    assert response.status_code == 401 and code_of(response) == "unauthorized"
    response = post(Client(), LOGIN, {"email": email, "password": "wrong-password!",
                                      "otp": device_code(device)})
    assert response.status_code == 401 and code_of(response) == "unauthorized"
    assert TOTPDevice.objects.get(pk=device.pk).last_t == -1  # the code was not even tried


def test_a_used_code_is_refused(staff):
    _, email, password, device = staff
    code = device_code(device)
    logged_in(email, password, otp=code)
    again = post(Client(), LOGIN, {"email": email, "password": password, "otp": code})
    assert again.status_code == 401 and code_of(again) == "otp_invalid"


def test_wrong_codes_back_off(staff):
    _, email, password, device = staff
    for failures in (1, 2):
        # django-otp reads its back-off against timezone.now(): hold that clock still for the
        # pair of logins, so a slow password hash on a loaded machine cannot outlast the 1 s.
        with mock.patch.object(timezone, "now", return_value=timezone.now()):
            wrong = post(Client(), LOGIN, {"email": email, "password": password, "otp": "000000"
                                           if device_code(device) != "000000" else "999999"})
            assert wrong.status_code == 401 and code_of(wrong) == "otp_invalid"
            # Now even the right code is refused until django-otp's back-off (1 s, 2 s, …) ends.
            right = post(Client(), LOGIN, {"email": email, "password": password,
                                           "otp": device_code(device)})
        assert right.status_code == 429 and code_of(right) == "rate_limited", right.content
        assert 1 <= right.json()["error"]["details"]["retry_after_s"] <= 2 ** (failures - 1)
        assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == failures
        unthrottle(device)
    assert logged_in(email, password, otp=device_code(device))


def test_wrong_codes_count_toward_the_account_limit(staff, settings):
    settings.CURBSIDE_AUTH_LIMITS = {**settings.CURBSIDE_AUTH_LIMITS,
                                     "login_failures_per_account": 2}
    _, email, password, device = staff
    for _ in range(2):
        wrong = post(Client(), LOGIN, {"email": email, "password": password, "otp": "0"})
        assert code_of(wrong) == "otp_invalid"
        unthrottle(device)
    locked = post(Client(), LOGIN, {"email": email, "password": password,
                                    "otp": device_code(device)})
    assert locked.status_code == 429 and locked.json()["error"]["details"]["retry_after_s"] > 60


def test_a_ticket_by_password_for_staff_needs_the_code_too(staff):
    _, email, password, device = staff
    needs = post(Client(), TICKET, {"email": email, "password": password})
    assert needs.status_code == 401 and code_of(needs) == "otp_required"
    ok = post(Client(), TICKET, {"email": email, "password": password, "otp": device_code(device)})
    assert ok.status_code == 200 and ok.json()["ticket"]


def test_a_staff_session_that_did_not_pass_a_code_is_no_session(staff):
    physician, email, password, device = staff
    client = Client()
    client.force_login(User.objects.get(pk=physician.user_id))  # password only, no code
    assert client.get("/api/v1/me").status_code == 401
    assert client.get(QUEUE).status_code == 401
    assert post(client, TICKET).status_code == 401
    # The socket handshake reads the session through the same check.
    key = client.session.session_key
    assert session_user(session_key=key) is None

    verified = logged_in(email, password, otp=device_code(device))
    assert verified.get(QUEUE).status_code == 200
    assert post(verified, TICKET).status_code == 200
    found = session_user(session_key=verified.session.session_key)
    assert found is not None and found[0] == str(physician.user_id)


@pytest.mark.django_db(transaction=True)
def test_the_cached_session_lookup_refuses_it_too(staff):
    """What the ticket fast path and the cookie handshake call (physicians/socket_cache.py)."""
    physician, email, password, device = staff
    client = Client()
    client.force_login(User.objects.get(pk=physician.user_id))
    socket_cache.reset()
    assert async_to_sync(socket_cache.session_user_id)(client.session.session_key) is None
    verified = logged_in(email, password, otp=device_code(device))
    assert async_to_sync(socket_cache.session_user_id)(verified.session.session_key) \
        == str(physician.user_id)


def test_staff_without_a_device_enrol_through_the_command(make_physician):
    physician, email, password = make_physician(role="moderator")
    TOTPDevice.objects.filter(user_id=physician.user_id).delete()
    refused = post(Client(), LOGIN, {"email": email, "password": password})
    assert refused.status_code == 403 and code_of(refused) == "otp_enrolment_required"

    out = io.StringIO()
    call_command("otp_enrol", email, stdout=out)
    printed = out.getvalue()
    assert "otpauth://totp/" in printed
    secret = printed.split("secret=")[1].split("&")[0]
    assert email not in TOTPDevice.objects.get(user_id=physician.user_id).name
    # The first login with a code from it confirms the device.
    needs = post(Client(), LOGIN, {"email": email, "password": password})
    assert code_of(needs) == "otp_required"
    assert logged_in(email, password, otp=code_for_secret(secret))
    assert TOTPDevice.objects.get(user_id=physician.user_id).confirmed

    # Enrolled: the command will not replace the device unless told to.
    with pytest.raises(Exception, match="already"):
        call_command("otp_enrol", email, stdout=io.StringIO())
    call_command("otp_enrol", email, "--replace", stdout=io.StringIO())
    assert not TOTPDevice.objects.filter(user_id=physician.user_id, confirmed=True).exists()
