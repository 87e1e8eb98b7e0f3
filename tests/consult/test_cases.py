"""Posting, reading and withdrawing cases over HTTP (the on-call schedule endpoint is
physicians', in tests/physicians/test_api.py)."""

from __future__ import annotations

import uuid

import pytest

from consult.models import Case, Routing

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]


def _client(client, email, password):
    assert client.post("/api/v1/auth/login", {"email": email, "password": password},
                       content_type="application/json").status_code == 200
    return client


def test_post_read_and_withdraw_a_case(client, make_physician, django_user_model):
    _, email, password = make_physician(specialty="emergency-medicine")
    c = _client(client, email, password)
    bad = c.post("/api/v1/cases", {"specialty": "astrology", "summary": ""},
                 content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"specialty", "summary"}
    r = c.post("/api/v1/cases", {"specialty": "cardiology", "summary": "new LBBB, chest pain",
                                 "urgency": "urgent", "language": "es"},
               content_type="application/json")
    assert r.status_code == 201, r.json()
    body = r.json()
    case_id = body["case"]["id"]
    assert body["case"]["summary"] == "new LBBB, chest pain" and body["case"]["language"] == "es"
    assert body["routing"]["status"] == "lounge-called"  # nobody online: the lounge is called
    assert Routing.objects.filter(pk=case_id, active=True).exists()
    assert b"new LBBB" not in bytes(Case.objects.get(pk=case_id).summary_sealed)
    assert c.get(f"/api/v1/cases/{case_id}").json()["case"]["status"] == "open"
    withdrawn = c.post(f"/api/v1/cases/{case_id}/withdraw", content_type="application/json")
    assert withdrawn.json()["status"] == "withdrawn"
    assert not Routing.objects.get(pk=case_id).active
    again = c.post(f"/api/v1/cases/{case_id}/withdraw", content_type="application/json")
    assert again.status_code == 409


def test_only_members_see_an_urgent_case_and_only_the_poster_withdraws(client,
                                                                      make_physician):
    """An urgent case is a private consult (a routine one is open to colleagues:
    tests/consult/test_access.py)."""
    from django.test import Client

    _, email, password = make_physician(specialty="emergency-medicine")
    poster = _client(client, email, password)
    case_id = poster.post("/api/v1/cases", {"specialty": "neurology", "summary": "aphasia",
                                            "urgency": "urgent"},
                          content_type="application/json").json()["case"]["id"]
    _, other_email, other_password = make_physician()
    other = _client(Client(), other_email, other_password)
    assert other.get(f"/api/v1/cases/{case_id}").status_code == 404
    # Not the poster: the same 404 as a case that does not exist (nothing revealed).
    refused = other.post(f"/api/v1/cases/{case_id}/withdraw", content_type="application/json")
    missing = other.post(f"/api/v1/cases/{uuid.uuid4()}/withdraw",
                         content_type="application/json")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    # A malformed id is no case either (it used to reach PostgreSQL's UUID cast: 500).
    bad = other.post("/api/v1/cases/not-a-uuid/withdraw", content_type="application/json")
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "not_found"
    assert Client().get(f"/api/v1/cases/{case_id}").status_code == 401


def test_template_fields_beside_the_one_field_summary_are_refused_not_dropped(client,
                                                                             make_physician):
    """The one-field form (``summary``, no ``question``) took ``history``, ``findings``,
    ``age_band`` … and stored none of them, answering 201: a client that mixed the two forms
    lost what the physician wrote without a word. Now a ``bad_request`` naming each."""
    _, email, password = make_physician(specialty="emergency-medicine")
    c = _client(client, email, password)
    r = c.post("/api/v1/cases", {"specialty": "cardiology", "summary": "syncope in a swimmer",
                                 "history": "two episodes while swimming",
                                 "age_band": "18-29"}, content_type="application/json")
    assert r.status_code == 400, r.json()
    assert r.json()["error"]["code"] == "bad_request"
    assert set(r.json()["error"]["fields"]) == {"history", "age_band"}
