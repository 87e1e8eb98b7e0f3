"""Signals, alerts and the weekly view in-process: the stored notification, the e-mail (the
locmem backend), marking read, the week parameter, unknown terms never signalling, and a
pair that crosses the thresholds because of other pairs' reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from adverse import services
from adverse.models import Alert, Fact, Signal
from adverse.signals import Table, stats

pytestmark = pytest.mark.django_db(transaction=True)


def body(drug: str, reaction: str, **extra) -> dict:
    return {"suspect_drugs": [{"name": drug}], "reactions": [{"term": reaction}], **extra}


def file(user, drug, reaction, n=1, **extra):
    for _ in range(n):
        services.report_create(reporter=user, body=body(drug, reaction, **extra))


@pytest.fixture
def officer(make_reporter):
    physician, email, password = make_reporter("GB")
    services.officer_grant(user=physician.user)
    client = Client()
    assert client.post("/api/v1/auth/login", {"email": email, "password": password},
                       content_type="application/json").status_code == 200
    client.user, client.email = physician.user, email
    return client


def test_a_new_signal_is_stored_mailed_and_listed_once(officer, make_reporter):
    reporter = make_reporter("ES")[0].user
    for drug in ("paracetamol", "ibuprofen"):  # common and spread: no pair stands out
        file(reporter, drug, "headache", n=2)
        file(reporter, drug, "nausea", n=2)
    file(reporter, "Lipitor", "rabdomiólisis", n=2)
    assert not Signal.objects.exists() and not mail.outbox
    file(reporter, "Cardyl", "rhabdomyolysis")  # the third: a signal
    signal = Signal.objects.get()
    assert (signal.drug, signal.reaction, signal.stats["a"]) == ("atorvastatin", "rhabdomyolysis", 3)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [officer.email] and "atorvastatin" in message.body
    assert "rabdom" not in message.body.lower()  # codes and labels, never the typed text
    file(reporter, "atorvastatina", "rhabdomyolysis")  # already a signal: no second alert
    assert Signal.objects.count() == 1 and len(mail.outbox) == 1

    alerts = officer.get("/api/v1/adverse/alerts").json()["alerts"]
    assert [(a["drug"], a["reaction"], a["read_at"]) for a in alerts] == [
        ("atorvastatin", "rhabdomyolysis", None)]
    read = officer.post(f"/api/v1/adverse/alerts/{alerts[0]['id']}/read",
                        content_type="application/json")
    assert read.status_code == 200 and Alert.objects.get().read_at is not None
    assert officer.post("/api/v1/adverse/alerts/999999/read",
                        content_type="application/json").status_code == 404

    week = services.week_of(timezone.now())
    this = officer.get(f"/api/v1/adverse/signals?week={(week + timedelta(days=3)).isoformat()}")
    assert this.json()["week"] == week.isoformat()
    assert [s["drug"] for s in this.json()["signals"]] == ["atorvastatin"]
    assert this.json()["signals"][0]["current"]["a"] == 4
    last = officer.get(f"/api/v1/adverse/signals?week={(week - timedelta(days=7)).isoformat()}")
    assert last.json()["signals"] == []
    bad = officer.get("/api/v1/adverse/signals?week=last-tuesday")
    assert bad.status_code == 400 and "week" in bad.json()["error"]["fields"]


def test_unknown_terms_are_counted_but_never_a_signal(officer, make_reporter):
    reporter = make_reporter("MX")[0].user
    file(reporter, "paracetamol", "headache", n=4)
    file(reporter, "zzmystery pill", "rash", n=4)
    file(reporter, "paracetamol", "felt very odd", n=4)
    assert Fact.objects.filter(drug="unknown").count() == 4
    assert Fact.objects.filter(reaction="unknown").count() == 4
    assert not Signal.objects.filter(Q(drug="unknown") | Q(reaction="unknown")).exists()
    pairs = officer.get("/api/v1/adverse/pairs").json()["pairs"]
    unknown = [p for p in pairs if p["unknown"]]
    assert {(p["drug"], p["reaction"], p["a"]) for p in unknown} == {
        ("unknown", "rash", 4), ("paracetamol", "unknown", 4)}
    assert not any(p["evans"] for p in unknown)
    # … though "unknown"–rash, taken at face value, would meet the criteria.
    mystery = next(p for p in unknown if p["drug"] == "unknown")
    assert stats(Table(mystery["a"], mystery["b"], mystery["c"], mystery["d"])).evans


def test_a_pair_can_cross_the_thresholds_on_other_pairs_reports(officer, make_reporter):
    """PRR compares with every other report: as the database grows around a pair, its
    table changes though none of its own reports came in — every scan looks at every pair."""
    reporter = make_reporter("ZA")[0].user
    file(reporter, "amoxicillin", "rash", n=3)
    file(reporter, "paracetamol", "rash", n=3)
    file(reporter, "paracetamol", "headache", n=1)
    # amoxicillin–rash: a=3, b=0, c=3, d=1 → PRR (Haldane) 1.4: not yet.
    assert not Signal.objects.filter(drug="amoxicillin").exists()
    file(reporter, "omeprazole", "headache", n=12)
    signal = Signal.objects.get(drug="amoxicillin", reaction="rash")
    assert signal.stats["a"] == 3 and signal.stats["evans"]


def test_revoking_the_role_closes_the_views(officer):
    assert officer.get("/api/v1/adverse/pairs").status_code == 200
    assert services.officer_revoke(user=officer.user)
    assert officer.get("/api/v1/adverse/pairs").status_code == 403
    assert not services.officer_revoke(user=officer.user)
