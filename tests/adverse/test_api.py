"""The report API: who may file and read, what is stored (sealed, pseudonymous), the PHI
guard, the case link, the hourly limit, and who may see statistics and exports."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from django.test import Client

from adverse import codec, services
from adverse.models import Fact, Report
from crypto.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/adverse/reports"


def login(email: str, password: str) -> Client:
    client = Client()
    r = client.post("/api/v1/auth/login", {"email": email, "password": password},
                    content_type="application/json")
    assert r.status_code == 200, r.content
    return client


def post(client: Client, body: dict, url: str = URL):
    return client.post(url, body, content_type="application/json")


def test_file_list_and_read_my_report(make_reporter, report_body):
    physician, email, password = make_reporter("ES")
    me = login(email, password)
    r = post(me, report_body())
    assert r.status_code == 201, r.json()
    report = r.json()["report"]
    assert report["suspect_drugs"][0]["ingredient"] == "atorvastatin"
    assert report["concomitant_drugs"][0]["ingredient"] == "metformin"
    assert report["reactions"][0]["code"] == "rhabdomyolysis"
    assert report["serious"] and report["country"] == "ES"
    assert report["reporter_specialty"] == "internal-medicine"
    assert "group" not in report
    mine = me.get(URL).json()["reports"]
    assert [m["id"] for m in mine] == [report["id"]]
    assert me.get(f"{URL}/{report['id']}").json()["report"]["narrative"] == report["narrative"]

    # Stored sealed, under a pseudonym; the facts hold codes only.
    row = Report.objects.get(pk=report["id"])
    assert row.reporter == services.reporter_pseudonym(physician.user)
    assert str(physician.user_id) not in row.reporter
    assert b"CK over" not in bytes(row.sealed) and b"Lipitor" not in bytes(row.sealed)
    facts = list(Fact.objects.values_list("drug", "reaction", "serious"))
    assert facts == [("atorvastatin", "rhabdomyolysis", True)]  # suspect drugs only


def test_someone_elses_report_is_not_found(make_reporter, report_body):
    _, email, password = make_reporter("GB")
    report_id = post(login(email, password), report_body()).json()["report"]["id"]
    _, other_email, other_password = make_reporter("MX")
    other = login(other_email, other_password)
    assert other.get(URL).json()["reports"] == []
    mine, missing = other.get(f"{URL}/{report_id}"), other.get(f"{URL}/{uuid.uuid4()}")
    assert mine.status_code == missing.status_code == 404
    assert mine.json()["error"]["code"] == "not_found"
    assert other.get(f"{URL}/not-a-uuid").status_code == 404


def test_only_verified_physicians_may_report(make_reporter, report_body):
    _, email, password = make_reporter("GB", verified=False)
    r = post(login(email, password), report_body())
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert Report.objects.count() == 0
    assert Client().post(URL, report_body(), content_type="application/json").status_code == 401


def test_validation_errors_carry_stable_codes(make_reporter, report_body):
    _, email, password = make_reporter("GB")
    r = post(login(email, password), report_body(seriousness={"death": True},
                                                 reporter_specialty="astrology"))
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "bad_request"
    assert error["details"]["codes"] == {"seriousness.death": "seriousness_inconsistent"}
    r = post(login(email, password), report_body(reporter_specialty="astrology"))
    assert r.json()["error"]["details"]["codes"] == {"reporter_specialty": "unknown_choice"}


def test_free_text_goes_through_the_phi_guard(make_reporter, report_body):
    _, email, password = make_reporter("GB")
    me = login(email, password)
    text = "Patient John Smith, MRN 4482913, seen on 03/14/2025 with myalgia."
    r = post(me, report_body(narrative=text))
    assert r.status_code == 422, r.json()
    error = r.json()["error"]
    assert error["code"] == "phi_detected" and error["details"]["field"] == "narrative"
    assert Report.objects.count() == 0
    r = post(me, report_body(suspect_drugs=[{"name": "statin for Mr. Jones"}]))
    assert r.json()["error"]["details"]["field"] == "suspect_drugs[0].name"
    # Confirmed: stored, and the confirmation audited (kinds only, under the pseudonym).
    r = post(me, report_body(narrative=text, confirm_phi=True))
    assert r.status_code == 201
    entry = AuditEntry.objects.filter(action="phi.confirm").latest("pk")
    assert entry.subject == f"adverse-report:{r.json()['report']['id']}"
    assert "John" not in str(entry.details)


def test_a_case_link_must_be_a_case_the_reporter_may_open(make_reporter, report_body):
    _, email, password = make_reporter("GB")
    me = login(email, password)
    # An urgent case is a private consult (docs/cases.md): only its poster may link it here;
    # a routine case is open to every verified physician, so anyone may.
    case = post(me, {"specialty": "cardiology", "summary": "statin myopathy question",
                     "urgency": "urgent"}, url="/api/v1/cases").json()["case"]["id"]
    routine = post(me, {"specialty": "cardiology", "summary": "statin and CK, routine"},
                   url="/api/v1/cases").json()["case"]["id"]
    r = post(me, report_body(case=case))
    assert r.status_code == 201 and r.json()["report"]["case"] == case
    _, other_email, other_password = make_reporter("IE")
    other = login(other_email, other_password)
    assert post(other, report_body(case=routine)).status_code == 201
    for foreign in (case, str(uuid.uuid4()), "nope"):
        r = post(other, report_body(case=foreign))
        assert r.status_code == 400
        assert r.json()["error"]["details"]["codes"] == {"case": "unknown_case"}


def test_reports_are_rate_limited_per_reporter(make_reporter, report_body, settings):
    settings.CURBSIDE_ADVERSE_REPORTS_PER_HOUR = 2
    _, email, password = make_reporter("ZA")
    me = login(email, password)
    assert [post(me, report_body()).status_code for _ in range(2)] == [201, 201]
    r = post(me, report_body())
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert int(r["Retry-After"]) >= 1
    _, other_email, other_password = make_reporter("ZA")
    assert post(login(other_email, other_password), report_body()).status_code == 201


@pytest.mark.parametrize("path", ["pairs", "signals", "alerts", "export/reports.csv",
                                  "export/pairs.csv", "pairs/series?drug=x&reaction=y",
                                  "pairs/chart.svg?drug=x&reaction=y"])
def test_statistics_and_exports_are_for_the_pharmacovigilance_role(make_reporter, path):
    physician, email, password = make_reporter("GB")
    me = login(email, password)
    r = me.get(f"/api/v1/adverse/{path}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert Client().get(f"/api/v1/adverse/{path}").status_code == 401
    services.officer_grant(user=physician.user)
    assert me.get(f"/api/v1/adverse/{path}").status_code in (200, 404)  # 404: no such pair


@pytest.mark.parametrize("path", ["pairs/series?drug=a%00b&reaction=myalgia",
                                  "pairs/chart.svg?drug=atorvastatin&reaction=%00",
                                  f"alerts/{2**63}/read", "reports/%00"])
def test_hostile_identifiers_are_refused_or_not_found_never_a_server_error(make_reporter, path):
    """A NUL (PostgreSQL cannot compare text with one) or an id beyond 64 bits: a 400 or
    404 with the error shape, never a 500."""
    physician, email, password = make_reporter("GB")
    services.officer_grant(user=physician.user)
    me = login(email, password)
    r = post(me, {}, url=f"/api/v1/adverse/{path}") if path.endswith("/read") else \
        me.get(f"/api/v1/adverse/{path}")
    assert r.status_code in (400, 404), (r.status_code, r.content[:300])
    assert r.json()["error"]["code"] in ("bad_request", "not_found")


def test_the_report_body_is_its_struct_and_nothing_else(make_reporter, report_body):
    """adverse/codec.py's struct is what the view sends (and what the OpenAPI document
    describes): every field it names, and a stored field it does not name (the fact
    ``group``) refused where the body is built."""
    _, email, password = make_reporter("GB")
    report = post(login(email, password), report_body()).json()["report"]
    assert set(report) == set(codec.AdverseReport.__struct_fields__)
    assert "group" not in report
    with pytest.raises(msgspec.ValidationError):
        codec.build({**report, "group": str(uuid.uuid4())}, codec.AdverseReport)
