"""The login limits hold across server processes: two daphne processes, one counter."""

from __future__ import annotations

import pytest

from tests.support.clients import Http

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_failed_logins_on_two_processes_lock_the_account_on_both(daphne_pair, make_physician):
    _, email, password = make_physician()
    for i in range(5):  # CURBSIDE_LOGIN_FAILURES_PER_ACCOUNT, spread over both processes
        status, body = Http(daphne_pair[i % 2].http).call(
            "POST", "/api/v1/auth/login", {"email": email, "password": "wrong-password!"})
        assert status == 401, body
    for server in daphne_pair:
        status, body = Http(server.http).call(
            "POST", "/api/v1/auth/login", {"email": email, "password": password})
        assert status == 429, body
        assert body["error"]["code"] == "rate_limited"
        assert 0 < body["error"]["details"]["retry_after_s"] <= 300
        status, body = Http(server.http).call(
            "POST", "/api/v1/auth/ws-ticket", {"email": email, "password": password})
        assert status == 429, body
