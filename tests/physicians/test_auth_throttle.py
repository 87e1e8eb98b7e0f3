"""Throttling of password guessing and of sign-ups (physicians/throttle.py).

Failed logins are counted per account (by the e-mail's blind index, so an address that has
no account is counted the same way) and per client address; past the limit every attempt is
refused with 429 ``rate_limited`` and ``details.retry_after_s`` — the right password too —
and each further failure doubles the wait. Sign-ups are counted per client address. The
counters live in the database, so every server process sees the same ones.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from physicians import throttle
from physicians.models import AuthThrottle

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
TICKET = "/api/v1/auth/ws-ticket"
REGISTER = "/api/v1/auth/register"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.CURBSIDE_AUTH_LIMITS = {
        **settings.CURBSIDE_AUTH_LIMITS,
        "login_failures_per_account": 3, "login_failures_per_ip": 6, "login_window_s": 900,
        "lockout_s": 60, "lockout_max_s": 600, "signups_per_ip": 2, "signup_window_s": 3600,
    }
    return settings.CURBSIDE_AUTH_LIMITS


@pytest.fixture
def clock(monkeypatch):
    """The limiter's clock, moved by hand."""
    class Clock:
        at = timezone.now()

        def __call__(self):
            return self.at

        def advance(self, seconds: float) -> None:
            self.at += timedelta(seconds=seconds)

    fake = Clock()
    monkeypatch.setattr(throttle, "now", fake)
    return fake


def post(path: str, body: dict, ip: str = "192.0.2.10"):
    return Client().post(path, body, content_type="application/json", REMOTE_ADDR=ip)


def login(email: str, password: str, ip: str = "192.0.2.10"):
    return post(LOGIN, {"email": email, "password": password}, ip)


def assert_limited(response) -> float:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    wait = error["details"]["retry_after_s"]
    assert wait > 0
    assert int(response["Retry-After"]) >= 1
    return wait


def test_failed_logins_lock_the_account_even_for_the_right_password(make_physician, clock):
    _, email, password = make_physician()
    for _ in range(3):
        assert login(email, "wrong-password!").status_code == 401
    # Locked: the right password is refused too, and the client is told how long to wait.
    assert assert_limited(login(email, password)) == 60
    # The lock is the account's, not the address's: another client is refused as well.
    assert_limited(login(email, password, ip="198.51.100.7"))
    clock.advance(61)
    assert login(email, password).status_code == 200


def test_an_unknown_address_is_locked_the_same_way(make_physician, clock):
    _, email, _ = make_physician()
    unknown = "nobody.here@example.test"
    answers = {}
    for who in (email, unknown):
        statuses = [login(who, "wrong-password!", ip=f"192.0.2.{len(answers) + 20}")
                    for _ in range(4)]
        answers[who] = [(r.status_code, r.json()["error"]["code"],
                         r.json()["error"].get("details")) for r in statuses]
    # Same statuses, codes and waits: the answers do not tell which address has an account.
    assert answers[email] == answers[unknown]
    assert [a[0] for a in answers[email]] == [401, 401, 401, 429]


def test_each_failure_after_a_lock_doubles_the_wait(make_physician, clock):
    _, email, password = make_physician()
    for _ in range(3):
        login(email, "wrong-password!")
    assert assert_limited(login(email, password)) == 60
    clock.advance(61)
    assert login(email, "wrong-password!").status_code == 401  # one more try, then locked
    assert assert_limited(login(email, password)) == 120
    clock.advance(121)
    login(email, "wrong-password!")
    assert assert_limited(login(email, password)) == 240
    clock.advance(241)
    for _ in range(3):  # capped at lockout_max_s
        login(email, "wrong-password!")
        clock.advance(700)
    login(email, "wrong-password!")
    assert assert_limited(login(email, password)) == 600


def test_a_success_forgets_the_failures_of_the_account(make_physician, clock):
    _, email, password = make_physician()
    for _ in range(2):
        login(email, "wrong-password!")
    assert login(email, password).status_code == 200
    for _ in range(2):
        assert login(email, "wrong-password!").status_code == 401
    assert login(email, password).status_code == 200


def test_failures_older_than_the_window_are_forgotten(make_physician, clock):
    _, email, password = make_physician()
    for _ in range(2):
        login(email, "wrong-password!")
    clock.advance(901)
    for _ in range(2):
        assert login(email, "wrong-password!").status_code == 401
    assert login(email, password).status_code == 200


def test_one_client_guessing_across_accounts_is_limited_by_address(make_physician, clock):
    accounts = [make_physician() for _ in range(4)]
    for _, email, _ in accounts[:3]:  # two failures each: no account reaches its limit
        for _ in range(2):
            assert login(email, "wrong-password!").status_code == 401
    _, email, password = accounts[3]
    assert_limited(login(email, password))  # six failures from this address: locked
    assert login(email, password, ip="198.51.100.7").status_code == 200  # others are not
    # A success from the address does not lift the address's lock (an attacker's own account
    # would otherwise reset it between guesses).
    assert_limited(login(email, password))


def test_ipv6_clients_are_counted_per_64_prefix(make_physician, clock):
    accounts = [make_physician() for _ in range(4)]
    for i, (_, email, _) in enumerate(accounts[:3]):
        for j in range(2):
            login(email, "wrong-password!", ip=f"2001:db8:1:2::{i * 16 + j + 1:x}")
    _, email, password = accounts[3]
    assert_limited(login(email, password, ip="2001:db8:1:2:ffff::1"))
    assert login(email, password, ip="2001:db8:1:3::1").status_code == 200


def test_a_ticket_by_password_counts_and_obeys_the_same_limit(make_physician, clock):
    _, email, password = make_physician()
    for _ in range(3):
        assert post(TICKET, {"email": email, "password": "wrong-password!"}).status_code == 401
    assert_limited(post(TICKET, {"email": email, "password": password}))
    assert_limited(login(email, password))


def test_counters_hold_no_address_or_e_mail_in_clear(make_physician, clock):
    _, email, _ = make_physician()
    login(email, "wrong-password!", ip="192.0.2.99")
    keys = list(AuthThrottle.objects.values_list("key", flat=True))
    assert len(keys) == 2
    assert not any(email in k or email.split("@")[0] in k or "192.0.2.99" in k for k in keys)


def registration(n: int, **overrides) -> dict:
    body = {"email": f"new.doctor{n}@example.test", "password": "correct-horse-battery",
            "first_name": "Ana", "last_name": "Ruiz", "country": "GB",
            "licence_number": f"{7100000 + n}", "specialty": "cardiology"}
    body.update(overrides)
    return body


def test_sign_ups_are_limited_per_address(specialties, clock):
    for n in range(2):
        assert post(REGISTER, registration(n)).status_code in (201, 202)
    assert_limited(post(REGISTER, registration(2)))
    assert post(REGISTER, registration(3), ip="198.51.100.7").status_code in (201, 202)
    clock.advance(3601)
    assert post(REGISTER, registration(4)).status_code in (201, 202)


def test_a_malformed_sign_up_is_not_counted(specialties, clock):
    for _ in range(3):
        assert post(REGISTER, registration(9, licence_number="1")).status_code == 400
    assert post(REGISTER, registration(9)).status_code in (201, 202)
