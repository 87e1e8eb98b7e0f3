"""Opinion polls on two daphne processes (PostgreSQL + Redis): a moderator makes one in the
cardiology lounge through one process; a lounge member on the other hears ``poll.updated``;
12 physicians each vote through both processes at the same moment and exactly one vote each
gets in (the other: ``conflict``, ``details.reason: "voted"``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from tests.support.clients import Http, request
from tests.support.sockets import next_event, open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share state over Redis"),
]

VOTERS = 12


def _voters(servers, make_physician) -> list[list[Http]]:
    out = []
    for i in range(VOTERS):
        _, email, password = make_physician(specialty="cardiology" if i % 2 else "neurology")
        clients = [Http(s.http) for s in servers]
        for c in clients:
            c.login(email, password)
        out.append(clients)
    return out


async def test_a_moderators_poll_each_physician_votes_once_across_two_processes(
        daphne_pair, make_physician):
    one, two = daphne_pair
    watcher = await open_socket(two, make_physician, specialty="cardiology")
    assert (await request(watcher, "room.join", room="lounge-cardiology"))["ok"]
    moderator = await open_socket(one, make_physician, role="moderator")
    status, made = await sync_to_async(moderator.http.call)("POST", "/api/v1/opinion-polls", {
        "room": "lounge-cardiology", "question": "Colchicine after every myocardial infarction?",
        "options": ["Yes", "No", "Unsure"],
        "closes_at": (timezone.now() + timedelta(days=1)).isoformat()})
    assert status == 201, made
    poll = made["poll"]
    event = await next_event(watcher, "poll.updated")
    assert event["room"] == "lounge-cardiology"
    assert event["data"] == {"poll": poll["id"], "case": None, "kind": "opinion", "votes": 0,
                             "closed": False, "opened": True}

    voters = await sync_to_async(_voters)(daphne_pair, make_physician)
    start = threading.Barrier(VOTERS * 2)

    def vote(i: int, client: Http) -> tuple[int, int, dict]:
        start.wait(timeout=60)
        status, body = client.call("POST", f"/api/v1/polls/{poll['id']}/vote", {"option": i % 3})
        return i, status, body

    with ThreadPoolExecutor(max_workers=VOTERS * 2) as pool:
        answers = list(pool.map(lambda job: vote(*job),
                                [(i, c) for i, pair in enumerate(voters) for c in pair]))
    for i in range(VOTERS):
        got = sorted((s, b.get("error", {}).get("details", {}).get("reason"))
                     for j, s, b in answers if j == i)
        assert got == [(200, None), (409, "voted")], (i, got)
    seen = 0
    while seen < VOTERS:
        seen = max(seen, (await next_event(watcher, "poll.updated"))["data"]["votes"])
    assert seen == VOTERS
    status, shown = await sync_to_async(moderator.http.call)("GET", f"/api/v1/polls/{poll['id']}")
    assert status == 200 and shown["poll"]["results"]["counts"] == [4, 4, 4]
    await watcher.close()
    await moderator.close()
