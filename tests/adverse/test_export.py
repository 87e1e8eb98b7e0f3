"""The CSV exports (columns documented in docs/adverse.md) and the officer command."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from adverse import export, services
from adverse.models import Officer

pytestmark = pytest.mark.django_db(transaction=True)


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_reports_csv_is_long_with_documented_columns(make_reporter, report_body):
    physician, email, password = make_reporter("ES")
    services.report_create(reporter=physician.user, body=report_body(
        narrative="=SUM(1+1) tras subir la dosis", language="es",
        reactions=[{"term": "rabdomiólisis", "outcome": "recovering", "onset_days": 30},
                   {"term": "mialgias", "outcome": "recovered"}]))
    services.officer_grant(user=physician.user)
    client = Client()
    client.post("/api/v1/auth/login", {"email": email, "password": password},
                content_type="application/json")
    response = client.get("/api/v1/adverse/export/reports.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "drugs=" in response["X-Curbside-Normalisation"]
    text = response.content.decode()
    assert text.splitlines()[0].split(",") == list(export.REPORT_COLUMNS)
    got = rows(text)
    assert [r["row"] for r in got] == ["drug", "drug", "reaction", "reaction", "narrative"]
    assert {r["report_id"] for r in got} == {got[0]["report_id"]}
    suspect, concomitant, first, second, narrative = got
    assert (suspect["role"], suspect["drug_name"], suspect["ingredient"]) == (
        "suspect", "Lipitor 40 mg", "atorvastatin")
    assert (concomitant["role"], concomitant["ingredient"]) == ("concomitant", "metformin")
    assert (first["reaction_term"], first["reaction_code"], first["onset_days"]) == (
        "rabdomiólisis", "rhabdomyolysis", "30")
    assert second["reaction_code"] == "myalgia" and second["onset_days"] == ""
    assert suspect["serious"] == "true" and suspect["hospitalisation"] == "true"
    assert suspect["death"] == "false" and suspect["country"] == "ES"
    # A typed formula is text in a spreadsheet, never run.
    assert narrative["narrative"].startswith("'=SUM(1+1)")


def test_pairs_csv_has_the_table_and_statistics():
    text = export.pairs_csv([{"drug": "atorvastatin", "reaction": "rhabdomyolysis", "a": 3,
                              "b": 1, "c": 2, "d": 40, "prr": 9.0, "chi2": 12.5, "ror": 60.0,
                              "ror_lower": 4.1, "ror_upper": 880.0, "ic": -0.25, "ic025": -1.5,
                              "corrected": False, "evans": True, "unknown": False,
                              "first_week": "2026-11-30"}])
    (row,) = rows(text)
    assert row["reaction_en"] == "Rhabdomyolysis" and row["reaction_es"] == "Rabdomiolisis"
    assert row["ic"] == "-0.25"  # a negative number is a number, not a formula to defuse
    assert row["evans"] == "true" and row["signal_first_week"] == "2026-11-30"


def test_the_officer_command(make_reporter):
    physician, email, _ = make_reporter("IE")
    out = io.StringIO()
    call_command("adverse_officer", "grant", "--email", email.upper(), stdout=out)
    assert Officer.objects.filter(user=physician.user).exists()
    call_command("adverse_officer", "list", stdout=out)
    assert f"user:{physician.user_id}" in out.getvalue() and email not in out.getvalue()
    call_command("adverse_officer", "revoke", "--email", email, stdout=out)
    assert not Officer.objects.exists()
    with pytest.raises(CommandError):
        call_command("adverse_officer", "grant", "--email", "nobody@example.test")
