"""The crowd consult of issue 12, end to end over real sockets, shared by the two-process
(PostgreSQL + Redis) and the embedded acceptance tests: a poster and three colleagues of
other specialties who were never invited — post, three answers, resolve, and the metrics
read back from the API."""

from __future__ import annotations

import json
from io import BytesIO

from asgiref.sync import sync_to_async
from PIL import Image

from tests.support.clients import request
from tests.support.sockets import next_event, send_message

QUESTION = "New LBBB with atypical chest pain and a normal troponin: cath or CT first?"
ANSWERS = (
    "CT coronary angiography first if she is low risk; cath if the pain recurs.",
    "Check for a prior ECG: an old LBBB changes everything.",
    "Sgarbossa criteria negative? Then serial troponins and a stress echo.",
)


async def _call(ws, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    return await sync_to_async(ws.http.call)(method, path, body)


async def crowd_consult(poster, colleagues, *, specialty: str = "cardiology") -> dict:
    """Run the consult; returns the case as ``GET /api/v1/cases/<id>`` shows it at the end.
    Every participant is a socket with ``.http`` (its logged-in HTTP client)."""
    status, posted = await _call(poster, "POST", "/api/v1/cases", {
        "title": "LBBB and chest pain", "age_band": "45-64", "sex": "female",
        "chief_complaint": "chest pain", "history": "hypertension, smoker",
        "findings": "LBBB, troponin normal twice", "question": QUESTION,
        "specialty": specialty, "urgency": "routine", "language": "en",
        "audience": "network"})
    assert status == 201, posted
    case_id, room = posted["case"]["id"], posted["case"]["room"]
    assert (await request(poster, "room.join", room=room))["ok"]

    seqs, handles = [], []
    for colleague, answer in zip(colleagues, ANSWERS, strict=True):
        # Never invited: the colleague finds the case in the feed, or as a card in the
        # lounge's history (posted before they joined it), and opens it.
        status, feed = await _call(colleague, "GET", f"/api/v1/cases?specialty={specialty}")
        assert status == 200 and case_id in [c["id"] for c in feed["cases"]], feed
        assert str(poster.me_id) not in json.dumps(feed)
        lounge = f"lounge-{specialty}"
        joined = await request(colleague, "room.join", room=lounge)
        assert joined["ok"], joined
        card = await next_event(colleague, "case.posted")
        while card["data"]["case"]["id"] != case_id:
            card = await next_event(colleague, "case.posted")
        assert card["data"]["earlier"] is True and card["data"]["case"]["summary"] == QUESTION
        lounge_handle = joined["data"]["me"]["pseudonym"]
        status, opened = await _call(colleague, "GET", f"/api/v1/cases/{case_id}")
        assert status == 200 and opened["case"]["summary"] == QUESTION, opened
        assert opened["case"]["mine"] is False
        in_case = await request(colleague, "room.join", room=room)
        assert in_case["ok"], in_case
        handle = in_case["data"]["me"]["pseudonym"]
        assert handle != lounge_handle  # unlinkable: one handle per room
        handles.append(handle)
        sent = await send_message(colleague, room, answer)
        assert sent["ok"], sent
        seqs.append(sent["data"]["seq"])
    assert len(set(handles)) == 3

    # The poster saw the three answers arrive, under the three handles.
    authors = set()
    for _ in ANSWERS:
        new = await next_event(poster, "message.new")
        authors.add(new["data"]["author"]["pseudonym"])
    assert authors == set(handles)

    status, moved = await _call(poster, "POST", f"/api/v1/cases/{case_id}/resolve", {
        "outcome": {"diagnosis": "old LBBB; non-cardiac chest pain",
                    "done": "prior ECG found; CT coronary angiography normal", "notes": ""},
        "helpful": [seqs[1], seqs[0]]})
    assert status == 200 and moved["status"] == "resolved", moved
    for colleague in colleagues:
        updated = await next_event(colleague, "case.updated")
        assert updated["data"]["status"] == "resolved"
        assert updated["data"]["helpful"] == sorted(seqs[:2])

    status, detail = await _call(poster, "GET", f"/api/v1/cases/{case_id}")
    assert status == 200, detail
    return detail["case"]


def assert_crowd_metrics(case: dict) -> None:
    metrics = case["metrics"]
    assert case["status"] == "resolved" and case["mine"] is True
    assert metrics["time_to_first_response_s"] is not None
    assert metrics["time_to_resolution_s"] >= metrics["time_to_first_response_s"] >= 0
    assert metrics["participants"] == 4  # the poster and the three who answered
    assert metrics["viewers"] == 3  # the three colleagues who opened it
    assert metrics["replies"] == 3
    assert case["outcome"]["diagnosis"] == "old LBBB; non-cardiac chest pain"


def png() -> bytes:
    """A small real PNG (the attachment path decodes and re-encodes it)."""
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    for x in range(32, 64):
        for y in range(48):
            image.putpixel((x, y), (30, 30, 200))
    out = BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
