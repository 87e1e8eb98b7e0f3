"""A case post is idempotent on its ``client_id`` (issue 12 follow-up): a client that retries
``POST /api/v1/cases`` after ``unavailable`` or a timeout gets the first case back — same id,
``200`` instead of ``201`` — and never a second one; the key is the poster's own and is stored
only as a keyed MAC."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections
from django.test import Client

from consult.models import Case, Routing

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]

PASSWORD = "correct-horse-battery"


def _login(email: str) -> Client:
    c = Client()
    assert c.post("/api/v1/auth/login", {"email": email, "password": PASSWORD},
                  content_type="application/json").status_code == 200
    return c


def _post(c: Client, client_id=None, **extra):
    body = {"specialty": "cardiology", "question": "Broad-complex tachycardia: VT or SVT?",
            "urgency": "routine", **extra}
    if client_id is not None:
        body["client_id"] = client_id
    return c.post("/api/v1/cases", body, content_type="application/json")


def test_a_retry_with_the_same_client_id_returns_the_first_case(make_physician):
    c = _login(make_physician(specialty="emergency-medicine")[1])
    key = uuid.uuid4().hex
    first = _post(c, key)
    assert first.status_code == 201, first.json()
    again = _post(c, key)
    assert again.status_code == 200, again.json()
    assert again.json()["case"]["id"] == first.json()["case"]["id"]
    assert again.json()["case"]["room"] == first.json()["case"]["room"]
    assert Case.objects.count() == 1
    # Another key is another case; no key at all is the old behaviour (a new case each time).
    assert _post(c, uuid.uuid4().hex).status_code == 201
    assert _post(c).status_code == 201 and _post(c).status_code == 201
    assert Case.objects.count() == 4


def test_an_urgent_retry_is_not_routed_twice(make_physician):
    c = _login(make_physician(specialty="emergency-medicine")[1])
    key = uuid.uuid4().hex
    first = _post(c, key, urgency="urgent")
    assert first.status_code == 201, first.json()
    again = _post(c, key, urgency="urgent")
    assert again.status_code == 200, again.json()
    assert again.json()["case"]["id"] == first.json()["case"]["id"]
    assert again.json()["routing"]["status"] == first.json()["routing"]["status"]
    assert Case.objects.count() == 1 and Routing.objects.count() == 1


def test_the_key_is_scoped_per_poster(make_physician):
    key = uuid.uuid4().hex
    ana = _login(make_physician(specialty="emergency-medicine")[1])
    ben = _login(make_physician(specialty="neurology")[1])
    a, b = _post(ana, key), _post(ben, key)
    assert a.status_code == 201 and b.status_code == 201
    assert a.json()["case"]["id"] != b.json()["case"]["id"]
    assert Case.objects.count() == 2


def test_a_retry_past_the_hourly_cap_still_gets_its_case(make_physician, settings):
    """The cap counts cases posted, and the retry posts none."""
    settings.CURBSIDE_CASE_LIMITS = {"per_hour": 1, "urgent_per_hour": 1}
    c = _login(make_physician(specialty="emergency-medicine")[1])
    key = uuid.uuid4().hex
    assert _post(c, key).status_code == 201
    assert _post(c, key).status_code == 200
    assert _post(c, uuid.uuid4().hex).status_code == 429


@pytest.mark.parametrize("bad", ["", "x" * 65, "a\x00b", "line\nbreak", "tab\there",
                                 "rtl\u202eoverride", "zero\u200bwidth", 42, True])
def test_a_malformed_client_id_is_refused_and_nothing_is_stored(make_physician, bad):
    c = _login(make_physician(specialty="emergency-medicine")[1])
    r = _post(c, bad)
    assert r.status_code == 400, r.json()
    assert r.json()["error"]["code"] == "bad_request"
    assert "client_id" in r.json()["error"]["fields"]
    assert Case.objects.count() == 0


def test_the_key_is_stored_only_as_a_mac(make_physician):
    c = _login(make_physician(specialty="emergency-medicine")[1])
    key = "retry-key-" + uuid.uuid4().hex
    assert _post(c, key).status_code == 201
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {Case._meta.db_table}")
        row = cur.fetchone()
    assert row is not None
    assert not any(key in (bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview))
                           else str(v)) for v in row)


def test_two_identical_posts_at_once_store_one_case(make_physician):
    """Two requests with the same key racing on two database connections: one case, and
    both answers name it (on PostgreSQL the second waits on the poster's row lock)."""
    c1 = _login(make_physician(specialty="emergency-medicine")[1])
    c2 = Client()
    c2.cookies = c1.cookies  # the same session, as a client retrying on a second connection
    key = uuid.uuid4().hex
    barrier = threading.Barrier(2)
    answers: list = []

    def post(c):
        try:
            barrier.wait(timeout=10)
            answers.append(_post(c, key, urgency="urgent"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(c,)) for c in (c1, c2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 2
    assert sorted(a.status_code for a in answers) == [200, 201], [a.json() for a in answers]
    assert answers[0].json()["case"]["id"] == answers[1].json()["case"]["id"]
    assert Case.objects.count() == 1 and Routing.objects.count() == 1
