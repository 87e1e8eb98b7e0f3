"""Only active, verified physicians write; case posting is capped per hour (urgent strictly).

Found from outside: unverified and suspended accounts could post cases, upload images and
page on-call specialists, eight urgent cases in a row.
"""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image

from consult.models import Case
from physicians.states import LicenceStatus

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]


def _login(email: str, password: str) -> Client:
    c = Client()
    assert c.post("/api/v1/auth/login", {"email": email, "password": password},
                  content_type="application/json").status_code == 200
    return c


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _post(c: Client, urgency: str = "routine"):
    return c.post("/api/v1/cases", {"specialty": "cardiology", "urgency": urgency,
                                    "summary": "new LBBB with chest pain, troponin pending"},
                  content_type="application/json")


@pytest.mark.parametrize("status", [LicenceStatus.PENDING, LicenceStatus.SUSPENDED])
def test_an_unverified_or_suspended_physician_writes_nothing(make_physician, status):
    _, email, password = make_physician(status=status)
    c = _login(email, password)
    for urgency in ("routine", "urgent"):
        reply = _post(c, urgency)
        assert reply.status_code == 403, reply.json()
        assert reply.json()["error"]["code"] == "forbidden"
    upload = c.post("/api/v1/rooms/lounge-cardiology/attachments", _png(),
                    content_type="image/png")
    assert upload.status_code == 403 and upload.json()["error"]["code"] == "forbidden"
    schedule = c.put("/api/v1/me/on-call-schedule",
                     {"schedule": [["mon", "08:00", "18:00"]], "time_zone": "Europe/London"},
                     content_type="application/json")
    assert schedule.status_code == 403
    assert not Case.objects.exists()


def test_a_verified_physician_still_writes(make_physician):
    _, email, password = make_physician()
    c = _login(email, password)
    posted = _post(c)
    assert posted.status_code == 201
    room = posted.json()["case"]["room"]  # the poster is a member of the case room
    upload = c.post(f"/api/v1/rooms/{room}/attachments", _png(), content_type="image/png")
    assert upload.status_code == 201, upload.json()


def test_urgent_cases_are_capped_per_hour_and_routine_ones_still_pass(make_physician, settings):
    settings.CURBSIDE_CASE_LIMITS = {"per_hour": 5, "urgent_per_hour": 2}
    _, email, password = make_physician(specialty="emergency-medicine")
    c = _login(email, password)
    assert [_post(c, "urgent").status_code for _ in range(2)] == [201, 201]
    refused = _post(c, "urgent")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert 0 < error["details"]["retry_after_s"] <= 3600
    assert _post(c, "routine").status_code == 201  # the urgent cap does not stop the rest
    assert Case.objects.filter(urgency="urgent").count() == 2


def test_all_cases_are_capped_per_hour(make_physician, settings):
    settings.CURBSIDE_CASE_LIMITS = {"per_hour": 3, "urgent_per_hour": 3}
    _, email, password = make_physician(specialty="emergency-medicine")
    c = _login(email, password)
    assert [_post(c).status_code for _ in range(4)] == [201, 201, 201, 429]
    other_email = make_physician(specialty="emergency-medicine")[1]
    assert _post(_login(other_email, "correct-horse-battery")).status_code == 201  # per poster
