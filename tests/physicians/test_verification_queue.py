"""What the verifier console reads: the pending queue with the licence number and the
registry's answer, and the recently decided physicians with their audit trail."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from physicians.models import Physician
from physicians.states import LicenceStatus
from tests.support.otp import otp_fields

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def _logged_in(email: str, password: str) -> Client:
    client = Client()
    response = _post(client, "/api/v1/auth/login",
                     {"email": email, "password": password, **otp_fields(email)})
    assert response.status_code == 200, response.content
    return client


def test_queue_has_licence_number_registry_answer_and_audit_trail(make_physician):
    _, email, password = make_physician(role="verifier")
    verifier = _logged_in(email, password)
    body = {"email": "ana.ruiz@example.test", "password": PASSWORD, "first_name": "Ana",
            "last_name": "Ruiz", "country": "ES", "licence_number": "28 0298765",
            "specialty": "cardiology", "languages": ["es"]}
    assert _post(Client(), "/api/v1/auth/register", body).status_code == 202
    ana = Physician.objects.get(licence_status=LicenceStatus.PENDING, country="ES")

    listed = {p["id"]: p for p in verifier.get("/api/v1/verifications").json()["pending"]}
    entry = listed[str(ana.user_id)]
    assert entry["licence_number"] == "280298765"  # as stored: normalized
    assert (entry["country"], entry["last_name"], entry["specialty"]) == ("ES", "Ruiz", "cardiology")
    assert entry["registry"] == {"decision": "review", "reason": "licence number not found in the registry"}
    assert entry["decisions"] == []

    answer = _post(verifier, f"/api/v1/verifications/{ana.user_id}/reject",
                   {"reason": "Colegio de Médicos has no such number"})
    assert answer.status_code == 200, answer.content
    decided = {p["id"]: p for p in verifier.get("/api/v1/verifications/decided").json()["decided"]}
    trail = decided[str(ana.user_id)]["decisions"]
    assert [(d["from"], d["to"], d["by_verifier"], d["reason"]) for d in trail] == [
        ("pending", "rejected", True, "Colegio de Médicos has no such number")]
    assert str(ana.user_id) not in {p["id"] for p in verifier.get("/api/v1/verifications").json()["pending"]}
    # Only verifiers read either list.
    doctor = _logged_in(*make_physician()[1:])
    assert doctor.get("/api/v1/verifications/decided").status_code == 403
