"""Back-pressure: an overloaded socket is told so at once, not after a queue of commits.

Found from outside: an open loop of 10 senders × 100 msg/s got no rate_limited reply, and
1,600 of 3,000 sends had no reply within 10 s — the socket handled one frame at a time, so
the message rate was charged when a frame was finally handled, not when it arrived.
Here the group commit is held (the writer's ``post`` waits on an event): what the socket
answers meanwhile is what an overloaded server answers.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from gateway import consumer as consumer_module
from gateway.consumer import MAX_SENDS_IN_FLIGHT, CurbsideConsumer
from physicians.services import ws_ticket_issue
from rooms import messages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_presence")]

TIMEOUT_S = 10
LOUNGE = "lounge-cardiology"


@pytest.fixture
def held_writer(monkeypatch):
    """The group commit never completes until the test sets the event; every send that
    reached the writer is recorded, in order."""
    release, reached = asyncio.Event(), []

    async def post(room_id, draft):
        reached.append(draft.client_id)
        await release.wait()
        return messages.Posted(seq=len(reached), id=draft.client_id, sent_at=_now(), created=True)

    monkeypatch.setattr(messages, "post", post)
    return release, reached


def _now():
    from django.utils import timezone
    return timezone.now()


async def _socket(make_physician) -> WebsocketCommunicator:
    physician, *_ = await sync_to_async(make_physician)()
    ticket, _ = await sync_to_async(ws_ticket_issue)(user_id=str(physician.user_id))
    comm = WebsocketCommunicator(CurbsideConsumer.as_asgi(), f"/ws/v1/?ticket={ticket}")
    assert (await comm.connect(timeout=TIMEOUT_S))[0]
    assert (await comm.receive_json_from(TIMEOUT_S))["type"] == "session.welcome"
    await comm.send_json_to({"op": "room.join", "ref": "j", "room": LOUNGE})
    assert (await comm.receive_json_from(TIMEOUT_S))["ok"] is True
    return comm


def _send(i: int) -> str:
    return json.dumps({"op": "message.send", "ref": f"s{i}", "room": LOUNGE,
                       "body": f"message {i}", "client_id": f"c{i}"})


async def _replies(comm: WebsocketCommunicator, n: int) -> dict[str, dict]:
    out = {}
    while len(out) < n:
        frame = await comm.receive_json_from(TIMEOUT_S)
        if frame["op"] == "reply":
            out[frame["ref"]] = frame
    return out


async def test_sends_over_the_rate_are_refused_while_earlier_ones_still_wait(
        make_physician, held_writer, settings):
    release, reached = held_writer
    burst = settings.CURBSIDE_LIMITS["message_burst"]
    comm = await _socket(make_physician)
    for i in range(burst + 5):
        await comm.send_to(text_data=_send(i))
    # The writer holds every commit, yet the five over the burst are answered now.
    early = await _replies(comm, 5)
    assert set(early) == {f"s{i}" for i in range(burst, burst + 5)}
    assert all(r["error"]["code"] == "rate_limited" and r["error"]["details"]["retry_after_s"] > 0
               for r in early.values())
    assert reached == [f"c{i}" for i in range(burst)]  # in arrival order
    # A ping is not stuck behind the waiting sends either.
    await comm.send_to(text_data=json.dumps({"op": "ping", "ref": "p"}))
    assert (await _replies(comm, 1))["p"]["ok"] is True
    release.set()
    done = await _replies(comm, burst)
    assert set(done) == {f"s{i}" for i in range(burst)} and all(r["ok"] for r in done.values())
    await comm.disconnect()


async def test_a_socket_holds_a_bounded_number_of_sends_in_flight(make_physician, held_writer,
                                                                 settings, monkeypatch):
    release, reached = held_writer
    lifted = dict(settings.CURBSIDE_LIMITS, message_burst=1000, messages_per_s=1000)
    settings.CURBSIDE_LIMITS = lifted
    monkeypatch.setattr(consumer_module, "FRAME_BURST", 1000.0)
    comm = await _socket(make_physician)
    for i in range(MAX_SENDS_IN_FLIGHT + 3):
        await comm.send_to(text_data=_send(i))
    refused = await _replies(comm, 3)
    assert set(refused) == {f"s{i}" for i in range(MAX_SENDS_IN_FLIGHT, MAX_SENDS_IN_FLIGHT + 3)}
    assert all(r["error"]["code"] == "rate_limited" for r in refused.values())
    assert len(reached) == MAX_SENDS_IN_FLIGHT
    release.set()
    assert all(r["ok"] for r in (await _replies(comm, MAX_SENDS_IN_FLIGHT)).values())
    await comm.disconnect()
