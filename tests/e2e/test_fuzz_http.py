"""The HTTP API against its own OpenAPI 3.1 description, with schemathesis, on a live daphne.

The document comes from the running server (``GET /api/v1/openapi.json``, gateway/openapi.py);
schemathesis generates requests for every operation in it, in both of its modes: positive
(valid per the schema, hostile strings — NUL, controls, bidi, huge numbers — included, since the
request schemas leave strings unconstrained) and negative (wrong types, missing fields, bad
path and query values). It sends them with a verified physician's session (staff operations
with an administrator's, signed in with a one-time code; the adverse-event officer operations
with a physician granted the pharmacovigilance role) and checks every response:

* never a 5xx (``not_a_server_error``);
* the status is one the operation declares, the content type is the declared one, and the
  body validates against the declared schema — the error shape included, whose ``code`` is an
  enum of the stable codes (``status_code_conformance``, ``content_type_conformance``,
  ``response_schema_conformance``);
* and, here, every error is JSON with such a code (never an HTML page).

Deterministic in CI: ``derandomize=True``, no example database, a modest count per operation.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adverse import services as adverse_services
from tests.support.clients import Http

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the e2e suite runs on Redis"),
]

# Examples per operation (~30 operations): every one is reached with valid and hostile
# values, and the module stays within CI's time limit.
EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# Operations run with the administrator's session (moderator and verifier in one role).
STAFF_PREFIXES = ("/api/v1/verifications", "/api/v1/moderation/")
# Adverse-event operations that are any physician's; the rest of /api/v1/adverse/ run with a
# pharmacovigilance officer's session (services.officer_grant, as `manage.py adverse_officer`).
ADVERSE = "/api/v1/adverse/"
ADVERSE_ANY_PHYSICIAN = ("/api/v1/adverse/reports", "/api/v1/adverse/vocabulary")
# Run without any session: logging the fuzz session out would leave the rest unauthenticated.
ANONYMOUS_PATHS = ("/api/v1/auth/logout",)
ERROR_CODES: set[str] = set()
FUZZ = hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
                           database=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                  HealthCheck.function_scoped_fixture,
                                                  HealthCheck.data_too_large])


@pytest.fixture
def sessions(daphne_server, make_physician) -> dict[str, dict[str, str]]:
    """Request headers for a verified physician's session, for an administrator's (who
    signed in with a TOTP code) and for a pharmacovigilance officer's, each with its CSRF
    token."""
    out = {}
    for name, role in (("physician", "physician"), ("staff", "admin"), ("officer", "physician")):
        physician, email, password = make_physician(role=role)
        if name == "officer":
            adverse_services.officer_grant(user=physician.user)
        http = Http(daphne_server.http)
        http.login(email, password)
        cookies = "; ".join(f"{c.name}={c.value}" for c in http.jar)
        out[name] = {"Cookie": cookies, "X-CSRFToken": http.cookie("csrftoken") or ""}
    out["anonymous"] = {}
    return out


def _headers(path: str, sessions: dict) -> dict[str, str]:
    if path in ANONYMOUS_PATHS:
        return sessions["anonymous"]
    if path.startswith(ADVERSE) and not path.startswith(ADVERSE_ANY_PHYSICIAN):
        return sessions["officer"]
    return sessions["staff" if path.startswith(STAFF_PREFIXES) else "physician"]


def _check(case, server, sessions: dict) -> None:
    response = case.call_and_validate(base_url=server.http, headers=_headers(case.path, sessions),
                                      checks=CHECKS)
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (
            case.method, case.path, response.status_code, response.text[:300])
        code = json.loads(response.text)["error"]["code"]
        assert code in ERROR_CODES and code != "internal", (case.path, response.status_code, code)


def test_every_operation_answers_as_its_schema_says(daphne_server, sessions):
    """Each operation of the served document, with valid (positive) and schema-breaking
    (negative) requests: one hypothesis run per operation and mode."""
    schema = schemathesis.openapi.from_url(f"{daphne_server.http}/api/v1/openapi.json")
    ERROR_CODES.update(schema.raw_schema["components"]["schemas"]["ErrorBody"]["properties"]
                       ["code"]["enum"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @FUZZ
            @given(operation.as_strategy(generation_mode=mode))
            def exchange(case):
                _check(case, daphne_server, sessions)

            exchange()


def test_what_the_views_send_on_success_validates(daphne_server, sessions):
    """Random requests rarely succeed (an unknown specialty, no such case): these do, so the
    success bodies are held to the document too — a case as the view sends it (its card
    plus ``status`` and ``metrics``), the profile, the ticket, the taxonomy, the queues."""
    schema = schemathesis.openapi.from_url(f"{daphne_server.http}/api/v1/openapi.json")

    def call(path: str, method: str, status: int, **kw) -> dict:
        case = schema[path][method].Case(**kw)
        response = case.call_and_validate(base_url=daphne_server.http,
                                          headers=_headers(case.path, sessions), checks=CHECKS)
        assert response.status_code == status, (path, response.status_code, response.text[:300])
        return json.loads(response.text)

    for urgency in ("routine", "urgent"):
        created = call("/api/v1/cases", "POST", 201, media_type="application/json", body={
            "specialty": "cardiology", "summary": "58F, new LBBB, troponin flat: cath or not?",
            "urgency": urgency})
        case_id = created["case"]["id"]
        assert created["case"]["status"] and "time_to_accept_s" in created["case"]["metrics"]
        assert (created.get("routing") is not None) == (urgency == "urgent")
        call("/api/v1/cases/{case_id}", "GET", 200, path_parameters={"case_id": case_id})
        call("/api/v1/cases/{case_id}/withdraw", "POST", 200, path_parameters={"case_id": case_id},
             media_type="application/json", body={})
    # A post repeated with its client_id: the first case again, 200, as the document says.
    retried = {"specialty": "cardiology", "question": "Retried post: is this one case?",
               "urgency": "routine", "client_id": "fuzz-success-retry"}
    first = call("/api/v1/cases", "POST", 201, media_type="application/json", body=retried)
    again = call("/api/v1/cases", "POST", 200, media_type="application/json", body=retried)
    assert again["case"]["id"] == first["case"]["id"]
    # Search finds the (withdrawn) routine case for its poster, with every hit field filled.
    found = call("/api/v1/search", "POST", 200, media_type="application/json",
                 body={"q": "LBBB troponin", "kind": "cases", "limit": 1})
    assert found["hits"] and found["hits"][0]["kind"] == "case", found
    for path in ("/api/v1/me", "/api/v1/auth/otp", "/api/v1/specialties", "/api/v1/verifications",
                 "/api/v1/moderation/reports"):
        call(path, "GET", 200)
    call("/api/v1/auth/ws-ticket", "POST", 200, media_type="application/json", body={})
    call("/api/v1/me/on-call-schedule", "PUT", 200, media_type="application/json",
         body={"schedule": [["mon", "08:00", "12:00"]], "time_zone": "Europe/Paris"})


ADVERSE_REPORT = {
    "suspect_drugs": [{"name": "atorvastatin", "dose": "40 mg", "route": "oral",
                       "start_year": 2024}],
    "reactions": [{"term": "myalgia", "outcome": "recovering", "onset_days": 30}],
    "seriousness": {"hospitalisation": True}, "age_band": "adult", "sex": "female",
    "narrative": "Muscle pain a month after starting; improving since stopping."}


def test_what_the_adverse_views_send_on_success_validates(daphne_server, sessions):
    """A report filed, listed and read back, the vocabulary, and the officer's views of the
    pair it made (pairs, week, series, chart, alerts, both exports) held to the document —
    the CSV and SVG ones to their media types."""
    schema = schemathesis.openapi.from_url(f"{daphne_server.http}/api/v1/openapi.json")

    def call(path: str, method: str, status: int, **kw):
        case = schema[path][method].Case(**kw)
        response = case.call_and_validate(base_url=daphne_server.http,
                                          headers=_headers(case.path, sessions), checks=CHECKS)
        assert response.status_code == status, (path, response.status_code, response.text[:300])
        return response

    filed = json.loads(call("/api/v1/adverse/reports", "POST", 201,
                            media_type="application/json", body=ADVERSE_REPORT).text)
    report_id = filed["report"]["id"]
    assert filed["report"]["serious"] and filed["report"]["suspect_drugs"][0]["ingredient"]
    mine = json.loads(call("/api/v1/adverse/reports", "GET", 200, query={"limit": 5}).text)
    assert [r["id"] for r in mine["reports"]] == [report_id]
    call("/api/v1/adverse/reports/{report_id}", "GET", 200,
         path_parameters={"report_id": report_id})
    vocabulary = json.loads(call("/api/v1/adverse/vocabulary", "GET", 200).text)
    assert vocabulary["officer"] is False and vocabulary["reactions"]

    pairs = json.loads(call("/api/v1/adverse/pairs", "GET", 200).text)["pairs"]
    pair = next(p for p in pairs if p["drug"] == "atorvastatin")
    query = {"drug": pair["drug"], "reaction": pair["reaction"]}
    weeks = json.loads(call("/api/v1/adverse/pairs/series", "GET", 200, query=query).text)
    assert sum(w["reports"] for w in weeks["weeks"]) == 1
    chart = call("/api/v1/adverse/pairs/chart.svg", "GET", 200, query=query)
    assert chart.text.lstrip().startswith("<svg") or "<svg" in chart.text[:200]
    call("/api/v1/adverse/signals", "GET", 200, query={"week": "2026-01-07"})
    call("/api/v1/adverse/signals", "GET", 200)
    call("/api/v1/adverse/alerts", "GET", 200)
    for export in ("reports", "pairs"):
        csv = call(f"/api/v1/adverse/export/{export}.csv", "GET", 200)
        assert "atorvastatin" in csv.text
