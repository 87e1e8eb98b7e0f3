"""Registration and licence decisions through a registry (physicians.services); tickets are in
test_tickets.py.

The "no plaintext" check reads the database the way someone holding a dump would: every row
of every table, as raw values, with the e-mail, names and licence number searched for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.db import connection

from core.errors import Conflict
from crypto import personal
from physicians import selectors, services
from physicians.models import LicenceDecision, User
from physicians.states import LicenceStatus
from physicians.verification import ManualReviewBackend, RegistryFileBackend, registry_import

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).parent / "data" / "nppes_sample.csv"
PASSWORD = "correct-horse-battery"


def registration(**overrides) -> services.Registration:
    fields = {
        "email": "Zelda.Quintero-Ortiz@Example.TEST",
        "password": PASSWORD,
        "first_name": "Zelda",
        "last_name": "Quintero-Ortíz",
        "country": "AU",
        "licence_number": "MED0009876543",
        "specialty": "cardiology",
        "languages": ("en", "es"),
    }
    fields.update(overrides)
    return services.Registration(**fields)


def _as_bytes(value) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def database_dump() -> bytes:
    """Every value of every row of every table, raw, as one blob (what a dump would show)."""
    chunks: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                chunks.extend(_as_bytes(value) for value in row)
    return b"\x00".join(chunks)


# --- registration stores personal data only sealed ---------------------------------------------

def test_registration_stores_no_plaintext_personal_data(specialties):
    physician = services.physician_register(data=registration())
    folded = database_dump().lower()
    for secret in ("zelda.quintero-ortiz@example.test", "zelda", "quintero", "ortíz",
                   "dr. zelda", "med0009876543", "0009876543"):
        assert secret.encode() not in folded, secret
    # The profile still opens everything for its owner.
    profile = selectors.physician_profile(physician=physician)
    assert profile.email == "zelda.quintero-ortiz@example.test"
    assert (profile.first_name, profile.last_name) == ("Zelda", "Quintero-Ortíz")
    assert profile.display_name == "Dr. Zelda Quintero-Ortíz"


def test_the_dump_check_would_see_plaintext(specialties):
    # Guard against a vacuous check above: a value stored in the clear is found.
    services.physician_register(data=registration())
    dump = database_dump()
    assert b"cardiology" in dump and b'"es"' in dump and b"AU" in dump


def test_account_is_found_by_email_in_any_case(specialties):
    physician = services.physician_register(data=registration())
    for typed in ("zelda.quintero-ortiz@example.test", "  ZELDA.QUINTERO-ORTIZ@EXAMPLE.TEST "):
        user = User.objects.get(email_index=personal.email_index(typed))
        assert user.pk == physician.user_id
        assert authenticate(None, email=typed, password=PASSWORD).pk == physician.user_id
    assert authenticate(None, email="zelda@example.test", password=PASSWORD) is None


def test_second_account_with_the_same_email_in_other_case_conflicts(specialties):
    services.physician_register(data=registration())
    with pytest.raises(Conflict) as info:
        services.physician_register(data=registration(email="ZELDA.quintero-ortiz@example.test",
                                                      licence_number="MED0001111111"))
    assert set(info.value.fields) == {"email"}
    assert User.objects.count() == 1


def test_manual_backend_leaves_the_licence_pending(specialties):
    physician = services.physician_register(data=registration(), backend=ManualReviewBackend())
    assert physician.licence_status == LicenceStatus.PENDING
    assert not LicenceDecision.objects.exists()


# --- the registry backend --------------------------------------------------------------------

@pytest.fixture
def registry(specialties):
    assert registry_import(path=SAMPLE, country="US", source="nppes-sample") > 0
    return RegistryFileBackend()


def us(number: str, first: str, last: str, where: str, email: str) -> services.Registration:
    return registration(email=email, country="US", jurisdiction=where, licence_number=number,
                        first_name=first, last_name=last)


def test_default_backend_is_the_registry_once_one_is_imported(specialties):
    assert isinstance(services.default_backend(), ManualReviewBackend)
    registry_import(path=SAMPLE, country="US", source="nppes-sample")
    assert isinstance(services.default_backend(), RegistryFileBackend)


@pytest.mark.parametrize(("number", "first", "last", "where"), [
    ("1900000013", "Elena", "Martinez", "TX"),
    ("1900000021", "José", "Núñez", "FL"),  # registry writes NÚÑEZ JOSÉ
    ("1900-000-021", "jose", "NUNEZ", "fl"),
])
def test_registry_match_verifies_at_once(registry, number, first, last, where):
    physician = services.physician_register(
        data=us(number, first, last, where, "match@example.test"),
        backend=services.default_backend())
    assert physician.licence_status == LicenceStatus.VERIFIED
    decision = LicenceDecision.objects.get(physician=physician)
    assert (decision.from_status, decision.to_status) == ("pending", "verified")
    assert decision.backend == "registry-file" and decision.decided_by is None
    assert decision.reason
    assert selectors.socket_refusal(physician.user) is None  # may connect straight away


def test_registry_name_mismatch_is_rejected_with_a_reason(registry):
    physician = services.physician_register(
        data=us("1900000013", "John", "Smith", "TX", "impostor@example.test"), backend=registry)
    assert physician.licence_status == LicenceStatus.REJECTED
    decision = LicenceDecision.objects.get(physician=physician)
    assert decision.to_status == "rejected" and decision.backend == "registry-file"
    assert "another name" in decision.reason
    # The reason names neither the licence nor the person.
    assert "1900000013" not in decision.reason and "smith" not in decision.reason.lower()
    assert selectors.socket_refusal(physician.user) == (4403, "licence not verified")


def test_registry_jurisdiction_mismatch_is_rejected(registry):
    physician = services.physician_register(
        data=us("1900000013", "Elena", "Martinez", "CA", "elsewhere@example.test"),
        backend=registry)
    assert physician.licence_status == LicenceStatus.REJECTED
    assert "TX" in LicenceDecision.objects.get(physician=physician).reason


def test_number_unknown_to_the_registry_stays_pending(registry):
    physician = services.physician_register(
        data=us("1234567893", "James", "Chen", "CA", "unknown@example.test"), backend=registry)
    assert physician.licence_status == LicenceStatus.PENDING
    assert not LicenceDecision.objects.filter(physician=physician).exists()
    assert [p.pk for p in selectors.physicians_pending()] == [physician.pk]


def test_registry_of_one_country_does_not_judge_another(registry):
    physician = services.physician_register(data=registration(), backend=registry)
    assert physician.licence_status == LicenceStatus.PENDING


# --- WebSocket tickets --------------------------------------------------------------------------
