"""End to end over a real daphne: reports from physicians licensed in five countries → a
signal for the one pair that crosses the Evans thresholds and for no other → the
pharmacovigilance officer gets it live on the socket, in the weekly view, as a stored
alert, in the chart and the exports; a dump of PostgreSQL and Redis holds none of the
reports' text (doses, narratives, typed drug and reaction names — those in no table and the
concomitant drugs included)."""

from __future__ import annotations

import csv
import io
import secrets
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from adverse import services
from tests.support.clients import Http
from tests.support.dumps import pg_dump, redis_dump
from tests.support.sockets import drain, next_event, open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"]
                       or not settings.REDIS_URL,
                       reason="dumps PostgreSQL and Redis and fans out across processes "
                              "(CI always runs it)"),
]


def _report(drug: str, reaction: str, canary: str, **extra) -> dict:
    return {"suspect_drugs": [{"name": drug, "dose": f"{canary}dose 1 mg"}],
            "reactions": [{"term": reaction, "outcome": "recovered"}],
            "seriousness": {}, "narrative": f"{canary}narrative seen in clinic", **extra}


def _get(http: Http, path: str) -> tuple[int, bytes]:
    req = urllib.request.Request(http.base + path)
    with http.opener.open(req, timeout=15) as resp:
        return resp.status, resp.read()


async def test_reports_from_five_countries_raise_one_signal_live_and_nothing_leaks(
        daphne_server, make_physician, make_reporter):
    officer = await open_socket(daphne_server, make_physician, specialty="family-medicine")
    await sync_to_async(services.officer_grant)(user=officer.physician.user)
    reporters = {}
    for country in ("GB", "ES", "MX", "ZA", "IE"):
        _, email, password = await sync_to_async(make_reporter)(country)
        http = Http(daphne_server.http)
        await sync_to_async(http.login)(email, password)
        reporters[country] = http
    canaries = []

    async def file(reporter: str, drug: str, reaction: str, **extra) -> None:
        canary = f"canary{secrets.token_hex(5)}"
        canaries.append(canary)
        status, body = await sync_to_async(reporters[reporter].call)(
            "POST", "/api/v1/adverse/reports", _report(drug, reaction, canary, **extra))
        assert status == 201, body

    # Background: headache and nausea with two analgesics — common, not disproportionate.
    background = [("GB", "Tylenol", "headache"), ("ES", "Gelocatil", "cefalea"),
                  ("MX", "paracetamol", "dolor de cabeza"), ("ZA", "Panadol", "nausea"),
                  ("IE", "acetaminophen", "nausea"), ("GB", "Calpol", "feeling sick"),
                  ("ES", "ibuprofeno", "cefalea"), ("MX", "Advil", "headache"),
                  ("ZA", "Nurofen", "headache"), ("IE", "Brufen", "nausea"),
                  ("GB", "Motrin", "nauseas"), ("ES", "Espidifen", "náuseas")]
    for country, drug, reaction in background:
        await file(country, drug, reaction)
    # A drug and a reaction in no table, and a concomitant drug: counted under `unknown`, kept
    # as typed only inside the sealed report — their typed names must not reach a dump either.
    odd = f"canary{secrets.token_hex(5)}"
    canaries.append(odd)
    await file("ZA", f"{odd}pill", f"{odd} feeling",
               concomitant_drugs=[{"name": f"{odd}conc", "dose": f"{odd}cdose"}])
    # Two reports of the pair: strong, but under the n ≥ 3 floor.
    await file("GB", "Ozempic", "acute pancreatitis", country="GB")
    await file("ES", "semaglutida", "pancreatitis aguda", country="ES",
               seriousness={"hospitalisation": True})
    assert not [e for e in await drain(officer, quiet=1.0) if e.get("type") == "adverse.signal"]

    await file("MX", "Wegovy", "Pancreatitis", country="MX")
    event = await next_event(officer, "adverse.signal", timeout=15)
    data = event["data"]
    assert (data["drug"], data["reaction"], data["reports"]) == ("semaglutide", "pancreatitis", 3)
    assert data["prr"] >= 2 and data["chi2"] >= 4
    await drain(officer, quiet=1.0)
    assert not [e for e in officer.events if e.get("type") == "adverse.signal"]  # one, once

    # The weekly view, the stored alert, every pair's statistics.
    http = officer.http
    status, weekly = await sync_to_async(http.call)("GET", "/api/v1/adverse/signals")
    assert status == 200
    assert [(s["drug"], s["reaction"]) for s in weekly["signals"]] == [("semaglutide", "pancreatitis")]
    assert weekly["signals"][0]["current"]["evans"]
    status, alerts = await sync_to_async(http.call)("GET", "/api/v1/adverse/alerts")
    assert [a["signal"] for a in alerts["alerts"]] == [data["signal"]]
    status, pairs = await sync_to_async(http.call)("GET", "/api/v1/adverse/pairs")
    flagged = {(p["drug"], p["reaction"]) for p in pairs["pairs"] if p["evans"]}
    assert flagged == {("semaglutide", "pancreatitis")}
    assert {(p["drug"], p["reaction"]) for p in pairs["pairs"]} >= {
        ("paracetamol", "headache"), ("ibuprofen", "nausea")}
    unknown = next(p for p in pairs["pairs"] if (p["drug"], p["reaction"]) == ("unknown", "unknown"))
    assert unknown["a"] == 1 and unknown["unknown"] and not unknown["evans"]

    # The chart: this week's bar holds the three reports, one serious.
    status, svg = await sync_to_async(_get)(
        http, "/api/v1/adverse/pairs/chart.svg?drug=semaglutide&reaction=pancreatitis")
    assert status == 200 and svg.startswith(b"<svg") and b"<script" not in svg
    assert b'data-reports="3" data-serious="1"' in svg

    # The exports: every report, every pair.
    status, body = await sync_to_async(_get)(http, "/api/v1/adverse/export/reports.csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len({r["report_id"] for r in rows}) == 16
    assert {r["country"] for r in rows} >= {"GB", "ES", "MX"}
    status, body = await sync_to_async(_get)(http, "/api/v1/adverse/export/pairs.csv")
    pair_rows = {(r["drug"], r["reaction"]): r for r in csv.DictReader(io.StringIO(body.decode()))}
    assert pair_rows[("semaglutide", "pancreatitis")]["evans"] == "true"
    assert pair_rows[("paracetamol", "headache")]["evans"] == "false"

    # The breach test: no typed text of any report in a dump of PostgreSQL or Redis.
    db, kv = await sync_to_async(pg_dump)(), await sync_to_async(redis_dump)()
    assert b"COPY public.adverse_report" in db and b"COPY public.adverse_fact" in db
    for canary in canaries:
        assert canary.encode() not in db, f"{canary} leaked into pg_dump"
        assert canary.encode() not in kv, f"{canary} leaked into Redis"
    for typed in (b"Ozempic", b"Wegovy", b"pancreatitis aguda", b"Gelocatil"):
        assert typed not in db and typed not in kv
    await officer.close()
