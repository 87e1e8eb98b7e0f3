"""Cross-site request forgery: a logged-in doctor's browser, steered by another site.

Found from outside: unsafe POSTs with an empty body skipped the content-type check and
nothing checked the Origin, so withdraw, verify, reinstate and logout succeeded from a
foreign origin with the victim's cookie (a sibling origin got a pending licence verified
through a logged-in verifier, in real Chromium).
"""

from __future__ import annotations

import pytest
from django.test import Client

from physicians.models import Physician
from physicians.states import LicenceStatus
from tests.support.otp import otp_fields

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]

EVIL = "https://evil.example"


def _browser(email: str, password: str) -> Client:
    """A browser: Django's test client with the CSRF checks on, logged in from the page."""
    c = Client(enforce_csrf_checks=True)
    assert "csrftoken" in c.get("/").cookies  # the page hands out the token
    reply = c.post("/api/v1/auth/login", {"email": email, "password": password,
                                          **otp_fields(email)},
                   content_type="application/json")
    assert reply.status_code == 200, reply.json()
    return c


def _token(c: Client) -> str:
    return c.cookies["csrftoken"].value


def test_a_forged_withdraw_is_refused_and_the_real_one_works(make_physician):
    _, email, password = make_physician(specialty="emergency-medicine")
    c = _browser(email, password)
    posted = c.post("/api/v1/cases", {"specialty": "cardiology", "summary": "syncope, QT 520 ms"},
                    content_type="application/json", HTTP_X_CSRFTOKEN=_token(c))
    assert posted.status_code == 201, posted.json()
    case = posted.json()["case"]["id"]
    for extra in ({}, {"HTTP_ORIGIN": EVIL}, {"content_type": "text/plain"}):
        forged = c.post(f"/api/v1/cases/{case}/withdraw", **extra)  # no body, no token
        assert forged.status_code == 403, forged.content
        assert forged.json()["error"] == {"code": "forbidden", "fields": {},
                                          "message": "Missing or wrong CSRF token: reload the page.",
                                          "details": {"reason": "csrf"}}
    assert c.get(f"/api/v1/cases/{case}").json()["case"]["status"] == "open"
    real = c.post(f"/api/v1/cases/{case}/withdraw", {}, content_type="application/json",
                  HTTP_X_CSRFTOKEN=_token(c))
    assert real.status_code == 200 and real.json()["status"] == "withdrawn"


def test_a_forged_logout_leaves_the_session_alone(make_physician):
    _, email, password = make_physician()
    c = _browser(email, password)
    assert c.post("/api/v1/auth/logout", HTTP_ORIGIN=EVIL).status_code == 403
    assert c.get("/api/v1/me").status_code == 200
    assert c.post("/api/v1/auth/logout", content_type="application/json",
                  HTTP_X_CSRFTOKEN=_token(c)).status_code == 200
    assert c.get("/api/v1/me").status_code == 401


def test_a_forged_verification_does_not_verify(make_physician):
    pending, *_ = make_physician(status=LicenceStatus.PENDING)
    _, email, password = make_physician(role="verifier")
    c = _browser(email, password)
    url = f"/api/v1/verifications/{pending.user_id}/verify"
    assert c.post(url, HTTP_ORIGIN=EVIL).status_code == 403
    assert c.post(url, {"reason": "x"}, content_type="application/json").status_code == 403
    assert Physician.objects.get(pk=pending.pk).licence_status == LicenceStatus.PENDING
    assert c.post(url, {}, content_type="application/json",
                  HTTP_X_CSRFTOKEN=_token(c)).status_code == 200


def test_login_from_a_foreign_origin_is_refused_scripts_without_origin_are_not(make_physician):
    _, email, password = make_physician()
    body = {"email": email, "password": password}
    forged = Client(enforce_csrf_checks=True).post("/api/v1/auth/login", body,
                                                   content_type="application/json",
                                                   HTTP_ORIGIN=EVIL)
    assert forged.status_code == 403 and forged.json()["error"]["details"] == {"reason": "origin"}
    script = Client(enforce_csrf_checks=True)  # curl: no Origin, no cookie, credentials
    assert script.post("/api/v1/auth/ws-ticket", body,
                       content_type="application/json").status_code == 200
    same = Client(enforce_csrf_checks=True).post("/api/v1/auth/login", body,
                                                 content_type="application/json",
                                                 HTTP_ORIGIN="http://testserver")
    assert same.status_code == 200
