"""Issue 12 from outside, on two daphne processes (PostgreSQL + Redis): the same physician in
two cases has two unrelated handles; the feed's "mine" and "answered by me" filters and its
cursor work over HTTP, and nothing in it names who posted or answered; a post retried on the
other process with the same ``client_id`` is the same case."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from tests.support.clients import Http, request
from tests.support.sockets import open_socket, send_message

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share state over Redis"),
]


async def _call(ws, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    return await sync_to_async(ws.http.call)(method, path, body)


async def _feed(ws, **query) -> list[dict]:
    """Every card of the feed for ``query``, followed page by page (one card a page)."""
    cards, cursor = [], None
    while True:
        q = "&".join(f"{k}={v}" for k, v in {**query, "limit": 1,
                                              **({"cursor": cursor} if cursor else {})}.items())
        status, page = await _call(ws, "GET", f"/api/v1/cases?{q}")
        assert status == 200, page
        assert len(page["cases"]) <= 1
        cards += page["cases"]
        cursor = page["next"]
        if cursor is None:
            return cards


async def test_handles_feed_filters_and_a_retried_post_across_two_processes(daphne_pair,
                                                                             make_physician):
    one, two = daphne_pair
    tag = uuid.uuid4().hex[:8]
    poster = await open_socket(one, make_physician, specialty="family-medicine")
    answerer = await open_socket(two, make_physician, specialty="neurology")
    reader = await open_socket(one, make_physician, specialty="pediatrics")

    # Two routine cases; the second post is retried on the other process (its answer was
    # lost): the same case, 200, not a third.
    cases = []
    for n in range(2):
        body = {"question": f"Case {n} [{tag}]: which test first?", "specialty": "dermatology",
                "urgency": "routine", "client_id": f"draft-{tag}-{n}"}
        status, posted = await _call(poster, "POST", "/api/v1/cases", body)
        assert status == 201, posted
        cases.append(posted["case"])
    retry = Http(two.http)
    for cookie in poster.http.jar:  # the same session, on the other process
        retry.jar.set_cookie(cookie)
    status, again = await sync_to_async(retry.call)("POST", "/api/v1/cases", body)
    assert status == 200, again
    assert again["case"]["id"] == cases[1]["id"] and again["case"]["room"] == cases[1]["room"]

    # The answerer, never invited, opens both and answers in both: one handle per case.
    handles = []
    for case in cases:
        status, opened = await _call(answerer, "GET", f"/api/v1/cases/{case['id']}")
        assert status == 200, opened
        joined = await request(answerer, "room.join", room=case["room"])
        assert joined["ok"], joined
        handles.append(joined["data"]["me"]["pseudonym"])
        sent = await send_message(answerer, case["room"], f"Answer [{tag}]")
        assert sent["ok"], sent
    assert handles[0] != handles[1]
    poster_handles = []
    for case in cases:
        joined = await request(poster, "room.join", room=case["room"])
        assert joined["ok"], joined
        poster_handles.append(joined["data"]["me"]["pseudonym"])
        authors = {m["author"]["pseudonym"] for m in joined["data"]["messages"]}
        assert authors == {handles[cases.index(case)]}
    assert poster_handles[0] != poster_handles[1]

    # The feed: "mine", "answered by me", paged one card at a time by cursor.
    ids = [c["id"] for c in reversed(cases)]  # newest first
    assert [c["id"] for c in await _feed(poster, mine=1)][:2] == ids
    assert [c["id"] for c in await _feed(answerer, answered_by_me=1)] == ids
    assert await _feed(reader, answered_by_me=1) == []
    assert await _feed(reader, mine=1) == []
    assert [c["id"] for c in await _feed(reader, specialty="dermatology")
            if tag in c["summary"]] == ids
    # Nothing in anyone's feed names the poster or the answerer: no user id, no handle.
    for ws in (poster, answerer, reader):
        status, page = await _call(ws, "GET", "/api/v1/cases?specialty=dermatology&limit=100")
        text = json.dumps(page)
        for secret in (str(poster.physician.user_id), str(answerer.physician.user_id),
                       *handles, *poster_handles):
            assert secret not in text
        assert all(c["metrics"]["replies"] == 1 and c["metrics"]["participants"] == 2
                   for c in page["cases"] if tag in c["summary"])
    for ws in (poster, answerer, reader):
        await ws.close()
