"""A verifier's reason for a licence decision is free text: it goes through the PHI guard, is
stored only sealed under the physician's personal key (so erasure shreds it), and never
enters the audit log. The verifier still reads it in the decision they get back.
"""

from __future__ import annotations

import secrets

import pytest
from django.test import Client

from crypto.models import AuditEntry
from physicians import services
from physicians.models import LicenceDecision, Physician
from physicians.states import LicenceStatus
from rooms import erasure
from tests.support.privacy import (
    assert_not_audited,
    assert_not_stored_in_clear,
    canary,
    staff_client,
)

pytestmark = pytest.mark.django_db

QUEUE = "/api/v1/verifications"


@pytest.fixture
def verifier(make_physician):
    physician, _, _ = make_physician(role="verifier")
    return physician, staff_client(physician.user)


def decide(client: Client, physician: Physician, action: str, body: dict):
    return client.post(f"{QUEUE}/{physician.user_id}/{action}", body,
                       content_type="application/json")


@pytest.mark.parametrize(("action", "status", "template", "kind"), [
    ("reject", LicenceStatus.PENDING, "spoke to Mr {c} at the board", "name"),
    ("suspend", LicenceStatus.VERIFIED, "complaint about {c}, call (555) 123-4567", "phone"),
    ("verify", LicenceStatus.PENDING, "checked with {c}, hospital number 48213377",
     "record_number"),
])
def test_a_reason_with_patient_identifiers_is_refused_then_sealed_when_confirmed(
        verifier, make_physician, action, status, template, kind):
    verifier_physician, client = verifier
    target, _, _ = make_physician(status=status)
    before = LicenceDecision.objects.filter(physician=target).count()
    c = canary()
    reason = template.format(c=c)

    refused = decide(client, target, action, {"reason": reason})
    assert refused.status_code == 422, refused.content
    error = refused.json()["error"]
    assert error["code"] == "phi_detected" and error["details"]["field"] == "reason"
    assert kind in {f["kind"] for f in error["details"]["findings"]}
    assert c not in refused.content.decode()
    assert Physician.objects.get(pk=target.pk).licence_status == status
    assert LicenceDecision.objects.filter(physician=target).count() == before

    done = decide(client, target, action, {"reason": reason, "confirm_phi": True})
    assert done.status_code == 200, done.content
    assert done.json()["decision"]["reason"] == reason  # the verifier still reads it
    row = LicenceDecision.objects.filter(physician=target).last()
    assert row.decided_by_id == verifier_physician.user_id
    assert LicenceDecision.objects.get(pk=row.pk).reason == reason  # opened from the seal
    assert_not_stored_in_clear(c)
    assert_not_audited(c)
    [confirmed] = AuditEntry.objects.filter(action="phi.confirm")
    assert confirmed.subject == f"licence-decision:{row.pk}"
    assert confirmed.details == {"op": "licence.decide", "kinds": [kind], "count": 1}
    assert str(verifier_physician.user_id) not in confirmed.actor
    assert verifier_physician.user_id.hex not in confirmed.actor


def test_a_clean_reason_is_sealed_without_a_confirmation(verifier, make_physician):
    _, client = verifier
    target, _, _ = make_physician(status=LicenceStatus.PENDING)
    reason = "GMC register checked canaryclean" + secrets.token_hex(5)
    done = decide(client, target, "verify", {"reason": reason})
    assert done.status_code == 200, done.content
    assert done.json()["decision"]["reason"] == reason
    assert LicenceDecision.objects.get(physician=target, to_status="verified").reason == reason
    assert not AuditEntry.objects.filter(action="phi.confirm").exists()
    assert_not_stored_in_clear(reason)
    assert_not_audited(reason)


def test_a_backend_reason_is_sealed_and_erasure_shreds_the_reasons(make_physician):
    target, _, _ = make_physician(status=LicenceStatus.PENDING)
    c = canary()
    services.licence_decide(physician=target, to_status=LicenceStatus.VERIFIED, by=None,
                            backend="test", reason=f"registry says {c}")
    assert LicenceDecision.objects.get(physician=target).reason == f"registry says {c}"
    assert_not_stored_in_clear(c)

    erasure.physician_erase(user_id=str(target.user_id))
    row = LicenceDecision.objects.get(physician=target)  # the decision itself stays
    assert row.to_status == LicenceStatus.VERIFIED and row.reason == ""
