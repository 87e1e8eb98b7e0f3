"""Issue 14's poll acceptance on two daphne processes (PostgreSQL + Redis): 20 physicians
vote in the same poll at once, each through both processes at the same moment; exactly one
vote each gets in, the other answers ``conflict``; ``poll.updated`` reaches the case room
from both processes; a dump of the votes table holds no user id; the specialty breakdown
hides the groups under 5."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from tests.support.clients import Http, request
from tests.support.sockets import next_event, open_socket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share state over Redis"),
]

OPTIONS = ["Long QT syndrome", "Vasovagal syncope", "Brugada syndrome"]
# 20 voters: two specialties big enough to show apart, two small ones hidden (3 + 2 votes).
VOTERS = ["cardiology"] * 8 + ["neurology"] * 7 + ["dermatology"] * 3 + ["pediatrics"] * 2


def _votes_dump() -> str:
    """The votes table as pg_dump writes its data (``COPY … TO STDOUT``), read over the test's
    own connection: the shared PostgreSQL server may have no connection slot to spare for a
    pg_dump process (tests/test_breach.py runs the full pg_dump)."""
    with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY public.consult_pollvote TO STDOUT") as copy:
        return b"".join(bytes(chunk) for chunk in copy).decode()


def _sessions(servers, make_physician) -> list[tuple[str, list[Http]]]:
    """Each voter logged in on both processes: (user id, [client on one, client on two])."""
    out = []
    for specialty in VOTERS:
        physician, email, password = make_physician(specialty=specialty)
        clients = [Http(s.http) for s in servers]
        for c in clients:
            c.login(email, password)
        out.append((str(physician.user_id), clients))
    return out


async def test_twenty_physicians_vote_at_once_on_two_processes_each_exactly_once(
        daphne_pair, make_physician):
    one, two = daphne_pair
    poster = await open_socket(one, make_physician, specialty="emergency-medicine")
    status, posted = await sync_to_async(poster.http.call)("POST", "/api/v1/cases", {
        "question": "Syncope on exertion in a young swimmer: which diagnosis first?",
        "specialty": "cardiology", "urgency": "routine", "audience": "network"})
    assert status == 201, posted
    case_id, room = posted["case"]["id"], posted["case"]["room"]
    assert (await request(poster, "room.join", room=room))["ok"]
    status, made = await sync_to_async(poster.http.call)(
        "POST", f"/api/v1/cases/{case_id}/polls", {"options": OPTIONS})
    assert status == 201, made
    poll = made["poll"]
    assert poll["options"] == OPTIONS and poll["results"] is None and poll["votes"] == 0
    assert (await next_event(poster, "poll.updated"))["data"]["votes"] == 0

    voters = await sync_to_async(_sessions)(daphne_pair, make_physician)
    # Every voter sends two votes at the same moment, one to each process.
    start = threading.Barrier(len(voters) * 2)

    def vote(i: int, client: Http) -> tuple[int, int, dict]:
        start.wait(timeout=60)
        status, body = client.call("POST", f"/api/v1/polls/{poll['id']}/vote",
                                   {"option": i % len(OPTIONS)})
        return i, status, body

    with ThreadPoolExecutor(max_workers=len(voters) * 2) as pool:
        answers = list(pool.map(lambda job: vote(*job),
                                [(i, c) for i, (_, clients) in enumerate(voters)
                                 for c in clients]))
    by_voter: dict[int, list[tuple[int, dict]]] = {}
    for i, status, body in answers:
        by_voter.setdefault(i, []).append((status, body))
    for i, got in by_voter.items():
        statuses = sorted(s for s, _ in got)
        assert statuses == [200, 409], (i, got)
        refused = next(b for s, b in got if s == 409)
        assert refused["error"]["code"] == "conflict", refused
        accepted = next(b for s, b in got if s == 200)["poll"]
        assert accepted["voted"] is True and accepted["results"] is not None

    # Both processes' votes reach the poster's socket; the last one counts all 20.
    seen = 0
    while seen < len(VOTERS):
        seen = max(seen, (await next_event(poster, "poll.updated"))["data"]["votes"])
    assert seen == len(VOTERS)

    # The poster has not voted and the poll is open: no results yet.
    status, shown = await sync_to_async(poster.http.call)("GET", f"/api/v1/polls/{poll['id']}")
    assert status == 200 and shown["poll"]["votes"] == 20 and shown["poll"]["results"] is None
    status, closed = await sync_to_async(poster.http.call)(
        "POST", f"/api/v1/polls/{poll['id']}/close", {})
    assert status == 200, closed
    results = closed["poll"]["results"]
    assert results["counts"] == [sum(1 for i in range(20) if i % 3 == k) for k in range(3)]
    breakdown = {g["specialty"]: g["votes"] for g in results["by_specialty"]}
    assert breakdown == {"cardiology": 8, "neurology": 7}  # dermatology 3, pediatrics 2 hidden
    assert results["hidden_votes"] == 5

    dump = await sync_to_async(_votes_dump)()
    rows = [line for line in dump.splitlines() if line.count("\t") >= 3]
    assert len(rows) == 20, dump
    for user_id, _ in voters:
        for form in (user_id, user_id.replace("-", "")):
            assert form not in dump, f"a voter's id {form} is in the votes table"
    assert Counter(line.split("\t")[2] for line in rows) == Counter(
        str(i % 3) for i in range(20))
    await poster.close()
