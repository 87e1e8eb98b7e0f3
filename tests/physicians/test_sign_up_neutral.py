"""Sign-up does not tell who is registered: POST auth/register answers 202 with the same body
for a new account, an e-mail that is already registered and a licence that is already
registered. What happened goes by e-mail to the owner of the address (and of the licence);
the log says what happened without the address. A new account can sign in at once."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.test import Client

from physicians.models import Physician, User

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
PASSWORD = "correct-horse-battery"


def registration(**overrides) -> dict:
    body = {"email": "ana.ruiz@example.test", "password": PASSWORD, "first_name": "Ana",
            "last_name": "Ruiz", "country": "GB", "licence_number": "7012345",
            "specialty": "cardiology"}
    body.update(overrides)
    return body


def sign_up(body: dict):
    return Client().post(REGISTER, body, content_type="application/json")


def answer(response) -> tuple:
    return response.status_code, response.content, response.get("Content-Type")


def test_new_taken_e_mail_and_taken_licence_get_the_same_answer(specialties):
    new = sign_up(registration())
    assert new.status_code == 202, new.content
    assert new.json()["message"]
    taken_email = sign_up(registration(email=" ANA.Ruiz@example.test", licence_number="7054321",
                                       password="another-long-password"))
    taken_licence = sign_up(registration(email="someone.else@example.test",
                                         licence_number="701 2345"))
    assert answer(taken_email) == answer(new)
    assert answer(taken_licence) == answer(new)
    for response in (new, taken_email, taken_licence):
        assert b"already" not in response.content.lower()
        assert b"physician" not in response.content  # no profile, no id
    assert User.objects.count() == 1 and Physician.objects.count() == 1


def test_a_new_account_can_sign_in_at_once(specialties):
    assert sign_up(registration()).status_code == 202
    client = Client()
    response = client.post(LOGIN, {"email": "ana.ruiz@example.test", "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200, response.content
    profile = client.get("/api/v1/me").json()["physician"]
    assert profile["email"] == "ana.ruiz@example.test"
    assert profile["licence_status"] == "pending" and profile["display_name"] == "Dr. Ana Ruiz"


def test_the_outcome_goes_to_the_owner_of_the_address(specialties):
    sign_up(registration())
    assert [m.to for m in mail.outbox] == [["ana.ruiz@example.test"]]
    assert "account" in mail.outbox[0].body.lower()
    mail.outbox.clear()

    sign_up(registration(email="Ana.Ruiz@example.test", licence_number="7054321"))
    assert [m.to for m in mail.outbox] == [["ana.ruiz@example.test"]]
    assert "already" in mail.outbox[0].body.lower()
    mail.outbox.clear()

    # A taken licence: the one who tried is told, and so is the licence's owner.
    sign_up(registration(email="someone.else@example.test"))
    assert sorted(m.to[0] for m in mail.outbox) == ["ana.ruiz@example.test",
                                                    "someone.else@example.test"]
    for message in mail.outbox:
        assert "licence" in message.body.lower()
        assert PASSWORD not in message.body


def test_the_log_says_what_happened_without_the_address(specialties, caplog):
    caplog.set_level(logging.INFO)
    sign_up(registration())
    sign_up(registration(licence_number="7054321"))
    sign_up(registration(email="someone.else@example.test"))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("physicians")]
    assert any("created" in line for line in lines), lines
    assert any("e-mail taken" in line for line in lines), lines
    assert any("licence taken" in line for line in lines), lines
    assert not any("example.test" in line or "7012345" in line for line in lines), lines


def test_a_malformed_sign_up_still_names_its_fields(specialties):
    response = sign_up(registration(email="not-an-address", licence_number="12"))
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "licence_number"}
    assert not mail.outbox
