"""Prometheus ``/metrics`` (issue 12, 6) on real daphne processes, scraped over HTTP and
parsed with ``prometheus_client.parser``: the figures move by exactly what the test did —
on one process, and with two processes sharing ``PROMETHEUS_MULTIPROC_DIR``, where one
scrape of either process sums both."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import recv_json, request
from tests.support.fleet import wait_until
from tests.support.servers import ROUTING_ENV, start_daphne
from tests.support.sockets import next_event, open_socket, send_message

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Two processes share presence (routing) and delivery only through Redis.
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes need Redis"),
]

TOKEN = "metrics-test-token-0123456789"
LOUNGE = "lounge-cardiology"


def scrape(server, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(server.http + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def figures(server) -> dict[tuple[str, frozenset], float]:
    """Every sample of a scrape: (sample name, labels) → value."""
    status, text = scrape(server)
    assert status == 200, text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture(scope="module")
def metered(live_database_url, tmp_path_factory):
    """One process with the token, no multiprocess directory."""
    server = start_daphne(live_database_url, tmp_path_factory, CURBSIDE_METRICS_TOKEN=TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def metered_pair(live_database_url, tmp_path_factory):
    """Two processes sharing one (fresh) PROMETHEUS_MULTIPROC_DIR, with fast routing."""
    shared = tmp_path_factory.mktemp("prometheus")
    servers = [start_daphne(live_database_url, tmp_path_factory, CURBSIDE_METRICS_TOKEN=TOKEN,
                            PROMETHEUS_MULTIPROC_DIR=str(shared), **ROUTING_ENV)
               for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


async def _join(ws, room: str = LOUNGE) -> None:
    assert (await request(ws, "room.join", room=room))["ok"]


async def test_metrics_are_off_without_a_token_and_refused_without_the_right_one(
        daphne_server, metered):
    assert (await sync_to_async(scrape)(daphne_server))[0] == 404  # no token set: off
    for token in (None, "wrong", TOKEN + "x"):
        status, body = await sync_to_async(scrape)(metered, token)
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    assert (await sync_to_async(scrape)(metered))[0] == 200


async def test_one_process_counts_what_was_done(metered, make_physician):
    before = await sync_to_async(figures)(metered)
    ws = await open_socket(metered, make_physician)
    await _join(ws)
    for i in range(3):
        assert (await send_message(ws, LOUNGE, f"metrics {i}"))["ok"]
    # The reply by its ref: the lounge's own message.new events may arrive in between.
    assert (await request(ws, "teleport", ref="u1"))["error"]["code"] == "unknown_op"
    during = await sync_to_async(figures)(metered)
    assert moved(before, during, "curbside_messages_posted_total") == 3
    assert moved(before, during, "curbside_send_ack_seconds_count") == 3
    assert moved(before, during, "curbside_send_ack_seconds_bucket", le="+Inf") == 3
    assert moved(before, during, "curbside_errors_total", code="unknown_op") == 1
    assert moved(before, during, "curbside_open_sockets") == 1
    await ws.close()
    # The server handles the close after the client's close returns: poll, with a deadline.
    await sync_to_async(wait_until)(
        lambda: moved(before, figures(metered), "curbside_open_sockets") == 0,
        timeout=10, what="the closed socket leaves curbside_open_sockets")


async def test_one_scrape_sums_both_processes(metered_pair, make_physician):
    a, b = metered_pair
    before = await sync_to_async(figures)(a)
    on_a, on_b = (await open_socket(a, make_physician), await open_socket(b, make_physician))
    for ws in (on_a, on_b):
        await _join(ws)
    for body in ("from a 1", "from a 2"):
        assert (await send_message(on_a, LOUNGE, body))["ok"]
    assert (await send_message(on_b, LOUNGE, "from b"))["ok"]
    await on_b.send(json.dumps({"op": "teleport", "ref": "u2"}))
    while (frame := await recv_json(on_b)).get("ref") != "u2":
        pass
    assert frame["error"]["code"] == "unknown_op"
    for server in (a, b):  # either process answers with the sum
        after = await sync_to_async(figures)(server)
        assert moved(before, after, "curbside_messages_posted_total") == 3
        assert moved(before, after, "curbside_send_ack_seconds_count") == 3
        assert moved(before, after, "curbside_errors_total", code="unknown_op") == 1
        assert moved(before, after, "curbside_open_sockets") == 2
    for ws in (on_a, on_b):
        await ws.close()


async def test_routing_latencies_are_observed_where_the_case_changes(metered_pair,
                                                                     make_physician):
    """An urgent case posted on one process, offered and accepted on the other: one
    observation of time to first offer and one of time to accept, in one scrape."""
    a, b = metered_pair
    before = await sync_to_async(figures)(a)
    poster = await open_socket(a, make_physician, specialty="emergency-medicine")
    specialist = await open_socket(b, make_physician, specialty="nephrology")
    reply = await request(specialist, "presence.set", status="available", on_call=True)
    assert reply["ok"], reply
    status, case = await sync_to_async(poster.http.call)(
        "POST", "/api/v1/cases", {"specialty": "nephrology", "urgency": "urgent",
                                  "summary": "K 7.1, peaked T waves, on dialysis"})
    assert status == 201, case
    offer = await next_event(specialist, "offer.new")
    assert (await request(specialist, "offer.accept", offer=offer["data"]["offer"]))["ok"]
    assert (await next_event(poster, "case.routing"))["data"]["step"] == "offered"
    assert (await next_event(poster, "case.routing"))["data"]["step"] == "accepted"
    after = await sync_to_async(figures)(a)
    assert moved(before, after, "curbside_routing_first_offer_seconds_count") == 1
    assert moved(before, after, "curbside_routing_accept_seconds_count") == 1
    # Seconds from posting, not a timestamp: within the histogram's last finite bucket.
    assert moved(before, after, "curbside_routing_accept_seconds_bucket", le="1800.0") == 1
    for ws in (poster, specialist):
        await ws.close()
