"""The after-commit outbox (bus/outbox.py) on real commits: what a transaction queued leaves
only once it is stored, a rolled-back savepoint sends nothing, one ``outbox.atomic()`` block
is one flush, and the module reads no Django private state.

``bus.hub.publish`` is replaced by a fake that records each call's item list, so no channel
layer is involved: these tests are about *when* and *in how many calls* sends leave.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import transaction

from bus import hub, outbox
from tests.support import fixtures

# Async tests reach the ORM through sync_to_async's thread: close its connection after each.
close_thread_connections = fixtures.close_thread_connections

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


@pytest.fixture
def published(monkeypatch) -> list[list[tuple[str, dict]]]:
    """Every ``hub.publish`` call's item list, in call order."""
    calls: list[list[tuple[str, dict]]] = []

    async def fake_publish(items):
        calls.append(list(items))

    monkeypatch.setattr(hub, "publish", fake_publish)
    return calls


def _send(name: str) -> None:
    outbox.room_event(room_id=f"room-{name}", frame=name)


def _frames(calls) -> list[str]:
    return [message["frame"] for items in calls for _, message in items]


# --- (a) a rolled-back savepoint sends nothing ---------------------------------------------

def test_a_rolled_back_plain_savepoint_inside_an_outbox_block_sends_nothing(published):
    with outbox.atomic():
        _send("A")
        with pytest.raises(Boom), transaction.atomic():
            _send("B")
            raise Boom
        _send("C")
        assert published == []  # nothing before the commit
    assert _frames(published) == ["A", "C"]


def test_a_rolled_back_nested_outbox_block_sends_nothing(published):
    with outbox.atomic():
        _send("A")
        with pytest.raises(Boom), outbox.atomic():
            _send("B")
            raise Boom
        assert published == []  # the inner block's end is not the outer one's flush
    assert _frames(published) == ["A"]
    assert len(published) == 1


def test_a_rolled_back_savepoint_inside_a_plain_transaction_sends_nothing(published):
    with transaction.atomic():
        _send("A")
        with pytest.raises(Boom), transaction.atomic():
            _send("B")
            raise Boom
    assert _frames(published) == ["A"]


def test_a_committed_nested_outbox_block_waits_for_the_outer_commit(published):
    with outbox.atomic():
        _send("A")
        with outbox.atomic():
            _send("B")
        assert published == []  # the savepoint "committed", the transaction has not
        _send("C")
    assert published and len(published) == 1
    assert _frames(published) == ["A", "B", "C"]


# --- (b) one flush per transaction -----------------------------------------------------------

def test_every_send_of_one_outbox_block_reaches_publish_in_one_call(published):
    with outbox.atomic():
        for i in range(50):
            _send(f"m{i}")
        outbox.users_event(user_ids=["u1", "u2"], frame="offer")
    assert len(published) == 1
    assert _frames(published) == [f"m{i}" for i in range(50)] + ["offer", "offer"]


def test_two_outbox_blocks_are_two_flushes(published):
    with outbox.atomic():
        _send("A")
    with outbox.atomic():
        _send("B")
    assert [_frames([call]) for call in published] == [["A"], ["B"]]


# --- (c) outside any transaction: at once ----------------------------------------------------

def test_a_send_outside_any_transaction_is_published_at_once(published):
    _send("now")
    assert _frames(published) == ["now"]


def test_a_rolled_back_outbox_block_leaves_no_state_behind(published):
    with pytest.raises(Boom), outbox.atomic():
        _send("lost")
        raise Boom
    _send("now")  # no outbox block is open any more: this one is not held back
    assert _frames(published) == ["now"]
    with outbox.atomic():
        _send("next")
    assert _frames(published) == ["now", "next"]


# --- (d) under a plain transaction.atomic(): after commit, not before -------------------------

def test_a_send_under_a_plain_transaction_is_published_after_commit(published):
    with transaction.atomic():
        _send("A")
        _send("B")
        assert published == []
    assert _frames(published) == ["A", "B"]


def test_an_outbox_block_inside_a_plain_transaction_waits_for_its_commit(published):
    with transaction.atomic():
        with outbox.atomic():
            _send("A")
        assert published == []  # only a savepoint was released
    assert _frames(published) == ["A"]


# --- (e) nothing when the outer transaction rolls back ---------------------------------------

def test_nothing_is_published_when_a_plain_transaction_rolls_back(published):
    with pytest.raises(Boom), transaction.atomic():
        _send("A")
        with transaction.atomic():
            _send("B")
        raise Boom
    assert published == []


def test_nothing_is_published_when_an_outbox_block_rolls_back(published):
    with pytest.raises(Boom), outbox.atomic():
        _send("A")
        with outbox.atomic():
            _send("B")
        raise Boom
    assert published == []


# --- no Django internals ---------------------------------------------------------------------

def test_the_outbox_reads_no_django_private_state():
    source = Path(outbox.__file__).read_text()
    for name in ("savepoint_ids", "run_on_commit", "savepoint_state", "needs_rollback",
                 "commit_on_exit"):
        assert name not in source, f"bus/outbox.py reads Django's private {name}"
    # No private attribute of a connection or of the transaction module either.
    assert not re.search(r"(connection\(\)|connection|transaction)\._", source)


# --- the services that send the most flush once per transaction ------------------------------

def _member_drafts(make_physician, rooms: list[str], per_room: int):
    from rooms import messages, roster, services

    user = make_physician()[0].user
    batches = {}
    for room in rooms:
        services.room_join(room_id=room, user=user)
        author = roster.author_for(user_id=str(user.pk), room_id=room, role=user.role,
                                   specialty="cardiology", verified=True)
        batches[room] = [messages.Draft(user=user, author=author, body=f"m{i}",
                                        client_id=f"{room}-{i}") for i in range(per_room)]
    return batches


def test_a_group_commit_of_many_rooms_is_one_flush(make_physician, published):
    from rooms import messages

    rooms = ["lounge-cardiology", "lounge-neurology", "lounge-dermatology"]
    batches = _member_drafts(make_physician, rooms, per_room=4)
    published.clear()
    results = messages.messages_post_rooms(batches=batches)
    assert all(r.created for room in rooms for r in results[room])
    assert len(published) == 1  # one hop to the event loop, one channel-layer batch
    assert len(published[0]) == 12


async def test_an_urgent_start_with_several_offers_is_one_flush(make_physician, fresh_presence,
                                                                published, settings):
    import uuid

    # Three offers open at once from the start (the defaults open two, then widen).
    settings.CURBSIDE_ROUTING = {**settings.CURBSIDE_ROUTING, "k": 3}

    from asgiref.sync import sync_to_async

    from consult import driver, services
    from consult.triage import UrgentCase
    from presence import runtime
    from presence.store import PresenceProfile

    now = 2_000_000_000.0
    poster, *_ = await sync_to_async(make_physician)(specialty="emergency-medicine")
    for _ in range(3):
        doc, *_ = await sync_to_async(make_physician)()
        await runtime.store().connect(
            user_id=str(doc.user_id), conn_id=uuid.uuid4().hex, process_id="test",
            profile=PresenceProfile(specialties=["cardiology"], languages=["en"], country="GB"),
            now=now)
        await runtime.store().set_on_call(user_id=str(doc.user_id), on_call=True, now=now)
    case = await sync_to_async(services.case_open)(poster=poster.user, specialty="cardiology",
                                                   summary="syncope", urgency="urgent")
    published.clear()
    state = await driver.case_route_start(
        UrgentCase(case_id=str(case.pk), specialty="cardiology", poster_id=str(poster.user_id),
                   language="en"), now=now)
    assert len(state.outstanding) == 3
    assert len(published) == 1
    assert len(published[0]) == 4  # three offers and the poster's "offered"
    published.clear()
    await sync_to_async(services.case_withdraw)(case_id=str(case.pk), user=poster.user,
                                                now=now + 1)
    # One flush: case.updated in the case room, three closes, the poster's "withdrawn".
    assert len(published) == 1 and len(published[0]) == 5
