"""The physicians' HTTP JSON API under /api/v1/ (auth, me, on-call schedule, verifications,
specialties), through Django's test client.

Every error is ``{"error": {"code", "message", "fields"}}`` with the matching status
(core/http.py); these tests check the status, the code and the field a form would flag.
"""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from physicians import services
from physicians.models import LicenceDecision, Physician
from physicians.states import LicenceStatus
from tests.support.otp import otp_fields

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
TICKET = "/api/v1/auth/ws-ticket"
ME = "/api/v1/me"
QUEUE = "/api/v1/verifications"


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, body if body is not None else {}, content_type="application/json")


def registration(**overrides) -> dict:
    body = {
        "email": "maria.lopez@example.test",
        "password": PASSWORD,
        "first_name": "María",
        "last_name": "López",
        "country": "ES",
        "licence_number": "280212345",
        "specialty": "cardiology",
        "languages": ["es", "en"],
    }
    body.update(overrides)
    return body


def sign_up(body: dict) -> dict:
    """Register (a neutral 202, whatever happened), then sign in: the new account's profile."""
    response = post(Client(), REGISTER, body)
    assert response.status_code == 202, response.content
    login = post(Client(), LOGIN, {"email": body["email"], "password": body["password"]})
    assert login.status_code == 200, login.content
    return login.json()["physician"]


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert field in error["fields"], error
        assert error["fields"][field]
    return error


# --- registration: one good and one bad licence per supported country ------------------------

# (country, jurisdiction, good number, normalized as stored, bad number)
LICENCES = [
    ("US", "CA", "1234567893", "1234567893", "1234567890"),  # NPI check digit is wrong
    ("GB", "", "7012345", "7012345", "701234"),  # GMC numbers are 7 digits
    ("CA", "ON", "12345", "12345", "0123"),  # CPSO: 4–6 digits, no leading zero
    ("CA", "QC", "54321", "54321", "1234"),  # Quebec permits are 5 digits
    ("CA", "BC", "12345678", "12345678", "123"),  # other provinces: 4–8 digits
    ("AU", "", "MED0001234567", "MED0001234567", "MED123456"),  # MED + 10 digits
    ("IE", "", "412345", "412345", "1234567"),  # up to 6 digits
    ("NZ", "", "12345", "12345", "123"),  # 4–6 digits
    ("ZA", "", "MP0123456", "MP0123456", "MP012345"),  # MP + 7 digits
    ("ES", "", "280212345", "280212345", "990212345"),  # college 99 does not exist
    ("MX", "", "1234567", "1234567", "123456"),  # cédula: 7 or 8 digits
    ("MX", "", "12345678", "12345678", "123456789"),
]


@pytest.mark.parametrize(("country", "where", "good", "stored", "bad"), LICENCES)
def test_register_a_valid_licence_returns_the_pending_profile(specialties, country, where,
                                                              good, stored, bad):
    profile = sign_up(registration(
        email=f"dr.{country.lower()}@example.test", country=country, jurisdiction=where,
        licence_number=good, first_name="Ana", last_name="Ruiz"))
    assert profile["email"] == f"dr.{country.lower()}@example.test"
    assert profile["country"] == country and profile["jurisdiction"] == where
    assert profile["first_name"] == "Ana" and profile["last_name"] == "Ruiz"
    assert profile["display_name"] == "Dr. Ana Ruiz"
    assert profile["licence_status"] == "pending" and profile["verified"] is False
    assert profile["specialty"] == "cardiology" and profile["role"] == "physician"
    assert profile["languages"] == ["es", "en"]
    physician = Physician.objects.get(user_id=profile["id"])
    assert physician.licence_status == LicenceStatus.PENDING


@pytest.mark.parametrize(("country", "where", "good", "stored", "bad"), LICENCES)
def test_register_a_malformed_licence_is_refused_on_that_field(specialties, country, where,
                                                                good, stored, bad):
    response = post(Client(), REGISTER, registration(
        country=country, jurisdiction=where, licence_number=bad))
    error = assert_error(response, 400, "bad_request", "licence_number")
    assert set(error["fields"]) == {"licence_number"}
    assert not Physician.objects.exists()


@pytest.mark.parametrize(("country", "where", "field"), [
    ("US", "", "jurisdiction"),  # a US licence needs its state
    ("CA", "", "jurisdiction"),
    ("US", "ZZ", "jurisdiction"),
    ("GB", "LDN", "jurisdiction"),  # GMC numbers are national
    ("FR", "", "country"),  # not supported yet
])
def test_register_with_a_wrong_jurisdiction_or_country(specialties, country, where, field):
    response = post(Client(), REGISTER, registration(
        country=country, jurisdiction=where, licence_number="1234567893"))
    assert_error(response, 400, "bad_request", field)


def test_register_accepts_uk_and_separators(specialties):
    profile = sign_up(registration(country="uk", licence_number="GMC 701-2345"))
    assert profile["country"] == "GB"


def test_register_reports_every_bad_field_at_once(specialties):
    response = post(Client(), REGISTER, registration(
        email="not-an-email", password="short", first_name=" ", licence_number="12",
        specialty="astrology", languages=["xx"]))
    error = assert_error(response, 400, "bad_request")
    assert set(error["fields"]) == {"email", "password", "first_name", "licence_number",
                                    "specialty", "languages"}


def test_register_with_unknown_extra_specialty(specialties):
    response = post(Client(), REGISTER, registration(specialties=["pediatrics", "astrology"]))
    error = assert_error(response, 400, "bad_request", "specialties")
    assert "astrology" in error["fields"]["specialties"]


def test_register_secondary_specialties_show_in_the_profile(specialties):
    profile = sign_up(registration(specialties=["pediatrics", "cardiology"]))
    assert profile["specialties"] == ["pediatrics"]


# --- duplicates (the answer is the same 202: tests/physicians/test_sign_up_neutral.py) -------

def test_duplicate_email_creates_nothing_whatever_the_case(specialties):
    sign_up(registration())
    response = post(Client(), REGISTER, registration(
        email="  Maria.LOPEZ@Example.TEST ", licence_number="280299999"))
    assert response.status_code == 202
    assert Physician.objects.count() == 1


def test_duplicate_licence_creates_nothing(specialties):
    sign_up(registration())
    response = post(Client(), REGISTER, registration(email="someone.else@example.test",
                                                     licence_number="28-021-2345"))
    assert response.status_code == 202
    assert Physician.objects.count() == 1


def test_irish_leading_zeros_are_the_same_licence(specialties):
    sign_up(registration(country="IE", licence_number="12345"))
    again = registration(email="other@example.test", country="IE", licence_number="012345")
    assert post(Client(), REGISTER, again).status_code == 202
    assert Physician.objects.count() == 1


def test_same_number_in_another_country_is_another_licence(specialties):
    sign_up(registration(country="GB", licence_number="7012345"))
    sign_up(registration(email="other@example.test", country="MX", licence_number="7012345"))
    assert Physician.objects.count() == 2


# --- malformed requests -----------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["email", "password", "first_name", "last_name", "country",
                                     "licence_number", "specialty"])
def test_register_without_a_required_field(specialties, missing):
    body = registration()
    del body[missing]
    error = assert_error(post(Client(), REGISTER, body), 400, "bad_request", missing)
    assert error["fields"][missing] == "This field is required."


@pytest.mark.parametrize(("name", "value"), [
    ("languages", "es"),  # a string, not a list
    ("languages", ["es", 3]),
    ("specialties", "cardiology"),
    ("email", 42),
    ("password", True),
    ("licence_number", 280212345),  # a number loses leading zeros: must be a string
])
def test_register_with_a_wrong_type(specialties, name, value):
    error = assert_error(post(Client(), REGISTER, registration(**{name: value})),
                         400, "bad_request", name)
    assert error["fields"][name].startswith("Expected")
    assert not Physician.objects.exists()


@pytest.mark.parametrize(("name", "value"), [
    ("first_name", "M" * 61),
    ("last_name", "L" * 61),
    ("display_name", "D" * 129),  # author cards carry it: history pages are sized on it
])
def test_register_with_an_over_long_name(specialties, name, value):
    error = assert_error(post(Client(), REGISTER, registration(**{name: value})),
                         400, "bad_request", name)
    assert "At most" in error["fields"][name]
    assert not Physician.objects.exists()
    longest = registration(first_name="M" * 60, last_name="L" * 60, display_name="D" * 128)
    assert post(Client(), REGISTER, longest).status_code == 202  # the neutral sign-up answer


def test_register_with_a_body_that_is_not_json(specialties):
    response = Client().post(REGISTER, "{not json", content_type="application/json")
    assert_error(response, 400, "bad_frame")


def test_register_with_a_json_array_body(specialties):
    response = Client().post(REGISTER, "[1, 2]", content_type="application/json")
    assert_error(response, 400, "bad_frame")


def test_register_with_a_form_body_is_unsupported(specialties):
    # A cross-site HTML form can only send form encodings: refusing them is the CSRF defence.
    response = Client().post(REGISTER, registration(languages="en"))
    assert_error(response, 415, "bad_request")
    response = Client().post(REGISTER, "{}", content_type="text/plain")
    assert_error(response, 415, "bad_request")
    assert not Physician.objects.exists()


def test_register_with_an_oversized_body(specialties):
    body = registration(display_name="x" * (70 * 1024))
    assert_error(post(Client(), REGISTER, body), 413, "too_large")


@pytest.mark.parametrize("path", [REGISTER, LOGIN, LOGOUT, TICKET])
def test_get_on_a_post_endpoint_is_405(path):
    response = Client().get(path)
    error = assert_error(response, 405, "bad_request")
    assert "POST" in error["message"]


def test_post_on_a_get_endpoint_is_405(db):
    assert_error(post(Client(), "/api/v1/specialties"), 405, "bad_request")


# --- login, me, logout ------------------------------------------------------------------------

@pytest.fixture
def registered(specialties) -> dict:
    return sign_up(registration())


def test_me_is_401_when_anonymous(db):
    assert_error(Client().get(ME), 401, "unauthorized")


def test_login_then_me_shows_the_decrypted_profile(registered):
    client = Client()
    response = post(client, LOGIN, {"email": "Maria.Lopez@example.test", "password": PASSWORD})
    assert response.status_code == 200, response.content
    assert response.json()["physician"]["id"] == registered["id"]
    me = client.get(ME)
    assert me.status_code == 200
    profile = me.json()["physician"]
    assert profile["email"] == "maria.lopez@example.test"
    assert (profile["first_name"], profile["last_name"]) == ("María", "López")
    assert profile["display_name"] == "Dr. María López"
    assert profile == registered


@pytest.mark.parametrize("body", [
    {"email": "maria.lopez@example.test", "password": "wrong-password-1"},
    {"email": "nobody@example.test", "password": PASSWORD},
])
def test_login_with_wrong_credentials_is_401(registered, body):
    client = Client()
    assert_error(post(client, LOGIN, body), 401, "unauthorized")
    assert_error(client.get(ME), 401, "unauthorized")


def test_login_without_a_password_is_400(registered):
    assert_error(post(Client(), LOGIN, {"email": "maria.lopez@example.test"}),
                 400, "bad_request", "password")


def test_logout_ends_the_session(registered):
    client = Client()
    assert post(client, LOGIN, {"email": "maria.lopez@example.test",
                                "password": PASSWORD}).status_code == 200
    assert post(client, LOGOUT).status_code == 200
    assert_error(client.get(ME), 401, "unauthorized")
    assert_error(post(client, LOGOUT), 401, "unauthorized")


# --- WebSocket tickets -------------------------------------------------------------------------

def test_ws_ticket_for_a_logged_in_session(registered):
    client = Client()
    post(client, LOGIN, {"email": "maria.lopez@example.test", "password": PASSWORD})
    response = post(client, TICKET)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["url"] == "/ws/v1/" and body["expires_at"]
    redeem = async_to_sync(services.ws_ticket_redeem)
    assert redeem(ticket=body["ticket"]) == registered["id"]
    assert redeem(ticket=body["ticket"]) is None  # single use


def test_ws_ticket_for_credentials_in_the_body(registered):
    response = post(Client(), TICKET, {"email": "maria.lopez@example.test", "password": PASSWORD})
    assert response.status_code == 200, response.content
    user_id = async_to_sync(services.ws_ticket_redeem)(ticket=response.json()["ticket"])
    assert user_id == registered["id"]


@pytest.mark.parametrize("body", [
    {},
    {"email": "maria.lopez@example.test"},
    {"email": "maria.lopez@example.test", "password": "wrong-password-1"},
])
def test_ws_ticket_without_valid_credentials_is_401(registered, body):
    assert_error(post(Client(), TICKET, body), 401, "unauthorized")


# --- the verifier queue --------------------------------------------------------------------------

def logged_in(email: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = post(client, LOGIN, {"email": email, "password": password, **otp_fields(email)})
    assert response.status_code == 200, response.content
    return client


@pytest.fixture
def verifier(make_physician):
    physician, email, password = make_physician(role="verifier")
    return physician, logged_in(email, password)


@pytest.fixture
def pending(make_physician):
    return [make_physician(status=LicenceStatus.PENDING)[0] for _ in range(2)]


def decide(client: Client, physician_or_id, action: str, reason: str | None = None):
    user_id = getattr(physician_or_id, "user_id", physician_or_id)
    body = {} if reason is None else {"reason": reason}
    return post(client, f"{QUEUE}/{user_id}/{action}", body)


def test_queue_is_401_anonymous_and_403_for_a_physician(make_physician, pending):
    _, email, password = make_physician()
    doctor = logged_in(email, password)
    assert_error(Client().get(QUEUE), 401, "unauthorized")
    assert_error(doctor.get(QUEUE), 403, "forbidden")
    assert_error(decide(doctor, pending[0], "verify"), 403, "forbidden")
    assert Physician.objects.get(pk=pending[0].pk).licence_status == LicenceStatus.PENDING


def test_moderator_is_not_a_verifier(make_physician, pending):
    _, email, password = make_physician(role="moderator")
    assert_error(logged_in(email, password).get(QUEUE), 403, "forbidden")


def test_verifier_lists_only_pending_physicians(verifier, pending, make_physician):
    make_physician()  # verified: not in the queue
    _, client = verifier
    response = client.get(QUEUE)
    assert response.status_code == 200
    listed = response.json()["pending"]
    assert [p["id"] for p in listed] == [str(p.user_id) for p in pending]
    assert all(p["licence_status"] == "pending" for p in listed)
    # The verifier sees who they are checking: names and licence country, decrypted.
    assert listed[0]["last_name"] == "Doctor" and listed[0]["country"] == "GB"


def test_verify_records_who_when_and_why(verifier, pending):
    verifier_physician, client = verifier
    target = pending[0]
    response = decide(client, target, "verify", "GMC register checked")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["physician"]["licence_status"] == "verified"
    assert body["physician"]["verified"] is True
    assert body["decision"]["from"] == "pending" and body["decision"]["to"] == "verified"
    assert body["decision"]["reason"] == "GMC register checked" and body["decision"]["at"]

    assert Physician.objects.get(pk=target.pk).licence_status == LicenceStatus.VERIFIED
    row = LicenceDecision.objects.get(physician=target, to_status=LicenceStatus.VERIFIED)
    assert row.from_status == LicenceStatus.PENDING
    assert row.decided_by_id == verifier_physician.user_id
    assert row.backend == "manual" and row.reason == "GMC register checked"
    assert row.decided_at is not None
    # It left the queue; the other one is still waiting.
    assert [p["id"] for p in client.get(QUEUE).json()["pending"]] == [str(pending[1].user_id)]


def test_reject_needs_a_reason(verifier, pending):
    _, client = verifier
    for reason in (None, "", "   "):
        assert_error(decide(client, pending[0], "reject", reason), 400, "bad_request", "reason")
    assert Physician.objects.get(pk=pending[0].pk).licence_status == LicenceStatus.PENDING
    assert not LicenceDecision.objects.filter(physician=pending[0]).exists()


def test_reject_with_a_reason_then_verify_is_a_conflict(verifier, pending):
    verifier_physician, client = verifier
    target = pending[0]
    response = decide(client, target, "reject", "not on the GMC register")
    assert response.status_code == 200, response.content
    assert response.json()["physician"]["licence_status"] == "rejected"
    row = LicenceDecision.objects.get(physician=target)
    assert (row.from_status, row.to_status) == ("pending", "rejected")
    assert row.reason == "not on the GMC register"
    assert row.decided_by_id == verifier_physician.user_id

    error = assert_error(decide(client, target, "verify"), 409, "conflict")
    assert "rejected" in error["message"]
    assert Physician.objects.get(pk=target.pk).licence_status == LicenceStatus.REJECTED
    assert LicenceDecision.objects.filter(physician=target).count() == 1


def test_suspend_and_reinstate(verifier, make_physician):
    _, client = verifier
    target, email, password = make_physician()
    assert_error(decide(client, target, "suspend"), 400, "bad_request", "reason")
    response = decide(client, target, "suspend", "licence lapsed")
    assert response.status_code == 200, response.content
    assert response.json()["physician"]["licence_status"] == "suspended"
    # The suspended physician still logs in and sees why they cannot connect.
    assert logged_in(email, password).get(ME).json()["physician"]["verified"] is False

    assert_error(decide(client, target, "suspend", "again"), 409, "conflict")
    response = decide(client, target, "reinstate", "renewed")
    assert response.status_code == 200
    assert response.json()["physician"]["licence_status"] == "verified"
    moves = list(LicenceDecision.objects.filter(physician=target, backend="manual")
                 .values_list("from_status", "to_status"))
    assert moves == [("verified", "suspended"), ("suspended", "verified")]


def test_pending_cannot_be_suspended_or_reinstated(verifier, pending):
    _, client = verifier
    assert_error(decide(client, pending[0], "suspend", "why not"), 409, "conflict")
    # "reinstate" also ends in verified, but a licence nobody verified is not reinstated.
    assert_error(decide(client, pending[0], "reinstate"), 409, "conflict")
    assert Physician.objects.get(pk=pending[0].pk).licence_status == LicenceStatus.PENDING
    assert not LicenceDecision.objects.filter(physician=pending[0]).exists()


def test_a_suspended_licence_comes_back_only_by_reinstate(verifier, make_physician):
    _, client = verifier
    target, _, _ = make_physician(status=LicenceStatus.SUSPENDED)
    assert_error(decide(client, target, "verify"), 409, "conflict")
    assert_error(decide(client, target, "reject", "too late"), 409, "conflict")
    assert Physician.objects.get(pk=target.pk).licence_status == LicenceStatus.SUSPENDED


def test_unknown_action_or_physician_is_404(verifier, pending):
    _, client = verifier
    assert_error(decide(client, pending[0], "promote"), 404, "not_found")
    assert_error(decide(client, uuid.uuid4(), "verify"), 404, "not_found")
    assert_error(decide(client, "not-a-uuid", "verify"), 404, "not_found")


# --- on-call schedule -------------------------------------------------------------------------

def test_on_call_schedule_is_validated_and_stored(make_physician):
    _, email, password = make_physician()
    client = Client()
    assert post(client, LOGIN, {"email": email, "password": password}).status_code == 200
    ok = client.put("/api/v1/me/on-call-schedule",
                    {"schedule": [["mon", "18:00", "08:00"]], "time_zone": "Europe/Madrid"},
                    content_type="application/json")
    assert ok.status_code == 200 and ok.json()["schedule"] == [["mon", "18:00", "08:00"]]
    bad = client.put("/api/v1/me/on-call-schedule",
                     {"schedule": [["someday", "18:00", "08:00"]], "time_zone": "Europe/Madrid"},
                     content_type="application/json")
    assert bad.status_code == 400 and "schedule" in bad.json()["error"]["fields"]
    bad_tz = client.put("/api/v1/me/on-call-schedule",
                        {"schedule": [], "time_zone": "Mars/Olympus"},
                        content_type="application/json")
    assert bad_tz.status_code == 400


# --- specialties ------------------------------------------------------------------------------

def test_specialties_in_english_and_spanish(specialties):
    english = {s["slug"]: s for s in Client().get("/api/v1/specialties").json()["specialties"]}
    spanish = {s["slug"]: s for s in
               Client().get("/api/v1/specialties?lang=es").json()["specialties"]}
    assert english["cardiology"]["name"] == "Cardiology"
    assert spanish["cardiology"]["name"] == "Cardiología"
    assert spanish["pediatrics"]["name"] == "Pediatría"
    assert spanish["neonatology"]["parent"] == "pediatrics"
    assert english.keys() == spanish.keys()


# --- the profile page: languages, specialties, schedule read back, password -----------------

def _logged_in(make_physician, **kw) -> tuple[Client, str, str]:
    user, email, password = make_physician(**kw)
    client = Client()
    assert post(client, LOGIN, {"email": email, "password": password}).status_code == 200
    return client, email, password


def _reasons(response) -> dict:
    return response.json()["error"].get("details", {}).get("reasons", {})


def test_profile_languages_and_specialties_are_edited(make_physician):
    client, _, _ = _logged_in(make_physician)
    ok = client.patch(ME, {"languages": ["es", "en", "es"], "specialties": ["neurology",
                                                                             "cardiology"]},
                      content_type="application/json")
    assert ok.status_code == 200, ok.content
    profile = ok.json()["physician"]
    # Duplicates go; the primary specialty is not listed twice among the extra ones.
    assert profile["languages"] == ["es", "en"]
    assert profile["specialty"] == "cardiology" and profile["specialties"] == ["neurology"]
    assert client.get(ME).json()["physician"]["specialties"] == ["neurology"]
    # A field left out stays as it is.
    only_langs = client.patch(ME, {"languages": ["fr"]}, content_type="application/json")
    assert only_langs.json()["physician"]["specialties"] == ["neurology"]


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"languages": []}, "languages", "languages_empty"),
    ({"languages": ["en", "xx"]}, "languages", "language_unsupported"),
    ({"specialties": ["no-such-specialty"]}, "specialties", "specialty_unknown"),
    ({"languages": "en"}, "languages", None),
])
def test_profile_refusals_carry_stable_codes(make_physician, body, field, reason):
    client, _, _ = _logged_in(make_physician)
    before = client.get(ME).json()["physician"]
    bad = client.patch(ME, body, content_type="application/json")
    assert_error(bad, 400, "bad_request", field)
    if reason:
        assert _reasons(bad) == {field: reason}
    assert client.get(ME).json()["physician"] == before  # nothing changed


def test_profile_edit_needs_a_session():
    assert_error(Client().patch(ME, {"languages": ["en"]}, content_type="application/json"),
                 401, "unauthorized")


def test_schedule_is_read_back_with_its_time_zone(make_physician):
    client, _, _ = _logged_in(make_physician)
    assert client.get("/api/v1/me/on-call-schedule").json() == {"schedule": [],
                                                                "time_zone": "UTC"}
    client.put("/api/v1/me/on-call-schedule",
               {"schedule": [{"day": "fri", "start": "20:00", "end": "08:00"}],
                "time_zone": "America/Mexico_City"}, content_type="application/json")
    assert client.get("/api/v1/me/on-call-schedule").json() == {
        "schedule": [["fri", "20:00", "08:00"]], "time_zone": "America/Mexico_City"}
    bad = client.put("/api/v1/me/on-call-schedule", {"schedule": [], "time_zone": "Mars/Olympus"},
                     content_type="application/json")
    assert _reasons(bad) == {"time_zone": "time_zone_unknown"}
    bad = client.put("/api/v1/me/on-call-schedule",
                     {"schedule": [["mon", "25:00", "08:00"]], "time_zone": "UTC"},
                     content_type="application/json")
    assert _reasons(bad) == {"schedule": "schedule_invalid"}


PASSWORD_URL = "/api/v1/auth/password"
NEW_PASSWORD = "a-brand-new-passphrase-42"


def test_password_change_keeps_this_session_and_ends_the_others(make_physician):
    client, email, password = _logged_in(make_physician)
    other = Client()
    assert post(other, LOGIN, {"email": email, "password": password}).status_code == 200
    changed = post(client, PASSWORD_URL, {"current_password": password,
                                          "new_password": NEW_PASSWORD})
    assert changed.status_code == 200, changed.content
    assert client.get(ME).status_code == 200  # this session stays signed in
    assert_error(other.get(ME), 401, "unauthorized")  # the other one ended
    assert_error(post(Client(), LOGIN, {"email": email, "password": password}), 401,
                 "unauthorized")
    assert post(Client(), LOGIN, {"email": email, "password": NEW_PASSWORD}).status_code == 200


@pytest.mark.parametrize(("current", "new", "field", "reason"), [
    ("not-my-password", NEW_PASSWORD, "current_password", "password_wrong"),
    (None, None, "new_password", "password_same"),
    (None, "short", "new_password", "password_weak"),
])
def test_password_change_refusals(make_physician, current, new, field, reason):
    client, email, password = _logged_in(make_physician)
    bad = post(client, PASSWORD_URL, {"current_password": current or password,
                                      "new_password": new or password})
    assert_error(bad, 400, "bad_request", field)
    assert _reasons(bad) == {field: reason}
    assert post(Client(), LOGIN, {"email": email, "password": password}).status_code == 200


def test_wrong_current_passwords_are_throttled_like_logins(make_physician, settings):
    settings.CURBSIDE_AUTH_LIMITS = {**settings.CURBSIDE_AUTH_LIMITS,
                                     "login_failures_per_account": 2}
    client, _, password = _logged_in(make_physician)
    for _ in range(2):
        post(client, PASSWORD_URL, {"current_password": "wrong-guess-xx",
                                    "new_password": NEW_PASSWORD})
    locked = post(client, PASSWORD_URL, {"current_password": password,
                                         "new_password": NEW_PASSWORD})
    assert_error(locked, 429, "rate_limited")
