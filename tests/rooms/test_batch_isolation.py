"""A draft the database refuses fails alone: every other send of its group commit is stored.

These drafts skip the wire schema on purpose (it refuses NUL bytes first, see
tests/bus/test_protocol_limits.py): whatever a future bug lets through, one bad draft must
not cost the other senders of its room their messages, nor a seq.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from rooms import messages, roster, services
from rooms.models import Message, Room

pytestmark = pytest.mark.django_db(transaction=True)

LOUNGE = "lounge-cardiology"


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    """The writer's thread keeps its own database connection: close it, so the test
    database can be flushed and later tests (without database access) do not trip on it."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


def _members(make_physician, n: int) -> list:
    users = [make_physician()[0].user for _ in range(n)]
    for user in users:
        services.room_join(room_id=LOUNGE, user=user)
    return users


def _draft(user, body: str, client_id: str, **kw) -> messages.Draft:
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    return messages.Draft(user=user, author=author, body=body, client_id=client_id, **kw)


def _stored() -> tuple[list[tuple[int, str]], int]:
    return (list(Message.objects.filter(room_id=LOUNGE).order_by("seq")
                 .values_list("seq", "client_id")), Room.objects.get(pk=LOUNGE).last_seq)


async def _post_all(drafts: list[messages.Draft]) -> list:
    # Queued in one go: the writer takes them as one group commit of one room.
    return await asyncio.gather(*(messages.post(LOUNGE, d) for d in drafts),
                                return_exceptions=True)


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="PostgreSQL refuses NUL in text; SQLite stores it")
async def test_a_nul_client_id_fails_alone_and_the_other_29_are_stored_gapless(make_physician):
    users = await sync_to_async(_members)(make_physician, 6)
    drafts = [await sync_to_async(_draft)(users[n % 6], f"send {n}",
                                          "bad\x00id" if n == 12 else f"ok-{n}")
              for n in range(30)]
    results = await _post_all(drafts)
    assert isinstance(results[12], Exception)
    good = [r for n, r in enumerate(results) if n != 12]
    assert all(isinstance(r, messages.Posted) and r.created for r in good), results
    # Stored in arrival order, gapless: the refused draft took no seq.
    assert [r.seq for r in good] == list(range(1, 30))
    rows, last = await sync_to_async(_stored)()
    assert rows == [(n + 1, f"ok-{i}") for n, i in enumerate(i for i in range(30) if i != 12)]
    assert last == 29


async def test_a_draft_whose_insert_fails_fails_alone(make_physician, monkeypatch):
    """Any database: the INSERT of one draft is refused (as PostgreSQL refuses a NUL)."""
    from django.db import DataError

    users = await sync_to_async(_members)(make_physician, 3)
    real = messages._insert_messages

    def insert(rows):
        if any(m.client_id == "poison" for m in rows):
            raise DataError("invalid byte sequence")
        real(rows)

    monkeypatch.setattr(messages, "_insert_messages", insert)
    drafts = [await sync_to_async(_draft)(users[n % 3], f"send {n}",
                                          "poison" if n == 4 else f"ok-{n}") for n in range(10)]
    results = await _post_all(drafts)
    assert isinstance(results[4], DataError)
    assert [r.seq for n, r in enumerate(results) if n != 4] == list(range(1, 10))
    rows, last = await sync_to_async(_stored)()
    assert [s for s, _ in rows] == list(range(1, 10)) and last == 9


async def test_a_draft_that_breaks_the_batch_reads_fails_alone(make_physician, monkeypatch):
    """The batch's first reads (memberships, client_ids, replies) fail because of one draft:
    the room's drafts are then stored one by one, in arrival order."""
    from django.db import DataError

    users = await sync_to_async(_members)(make_physician, 3)
    real = messages.messages_post_rooms

    def post_rooms(*, batches, now=None):
        if any(d.client_id == "poison" for drafts in batches.values() for d in drafts):
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return real(batches=batches, now=now)

    monkeypatch.setattr(messages, "messages_post_rooms", post_rooms)
    drafts = [await sync_to_async(_draft)(users[n % 3], f"send {n}",
                                          "poison" if n == 0 else f"ok-{n}") for n in range(8)]
    results = await _post_all(drafts)
    assert isinstance(results[0], DataError)
    assert [r.seq for r in results[1:]] == list(range(1, 8))
    rows, _ = await sync_to_async(_stored)()
    assert rows == [(n, f"ok-{n}") for n in range(1, 8)]
