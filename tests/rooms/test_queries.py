"""Query counts of the rooms hot paths (regression guards): a group commit and a join.

The counts are exact: a change that adds a query per message, per room or per member shows
up here. The tests run outside a test transaction (``transaction=True``), as the server
does, so the counts are what production sends: no test SAVEPOINTs in them.
"""

from __future__ import annotations

import pytest
from django.db import connection

from crypto import envelope
from rooms import messages, roster, services

pytestmark = pytest.mark.django_db(transaction=True)

ROOMS = ["lounge-cardiology", "lounge-neurology", "lounge-dermatology"]


def _draft(room: str, user, n: int) -> messages.Draft:
    author = roster.author_for(user_id=str(user.pk), room_id=room, role=user.role,
                               specialty=None, verified=True)
    return messages.Draft(user=user, author=author, body=f"message {n}", client_id=f"{room}-{n}")


@pytest.fixture
def members(make_physician):
    """Two physicians in three lounges, each of whom has posted once in each: the epochs and
    author keys are in this process's key cache, as on a server that has been running."""
    envelope.cache_clear()
    users = [make_physician()[0].user, make_physician()[0].user]
    for room in ROOMS:
        for user in users:
            services.room_join(room_id=room, user=user)
            messages.message_post(room_id=room, user=user, body="warm-up",
                                  author=_draft(room, user, 0).author, client_id=f"warm-{user.pk}")
    return users


def _batch(users, size: int, rooms: list[str]) -> dict[str, list[messages.Draft]]:
    batches: dict[str, list[messages.Draft]] = {room: [] for room in rooms}
    for n in range(size):
        room = rooms[n % len(rooms)]
        batches[room].append(_draft(room, users[n % 2], n + 1))
    return batches


# The group commit, whatever its size and however many rooms (2 or 3):
#   1. SELECT the senders' memberships in the batch's rooms
#   2. SELECT the messages already stored under the batch's client_ids (idempotent retries)
#   3. BEGIN (Django logs it)
#   4. SELECT id … ORDER BY id FOR UPDATE: lock the rooms in id order (PostgreSQL only;
#      SQLite has one writer at a time and no row locks)
#   5. UPDATE rooms … RETURNING: every room's seqs at once (FROM unnest(arrays) on PostgreSQL)
#   6. UPDATE room keys … RETURNING: every room's epoch charged at once (likewise)
#   7. INSERT: every message (INSERT … SELECT FROM unnest(arrays) on PostgreSQL)
#   8. INSERT: every message's search terms (likewise; rooms/search_index.py, docs/search.md)
#   9. COMMIT
# No roster or reply reads: no draft mentions anyone or replies to anything.
GROUP_COMMIT_QUERIES = {"postgresql": 9, "sqlite": 8}


@pytest.mark.parametrize(("size", "rooms"), [(2, ROOMS[:2]), (3, ROOMS), (20, ROOMS[:2]),
                                             (21, ROOMS)])
def test_a_group_commit_costs_the_same_queries_for_2_or_20_drafts(members, size, rooms,
                                                                   django_assert_num_queries):
    batches = _batch(members, size, rooms)
    with django_assert_num_queries(GROUP_COMMIT_QUERIES[connection.vendor]):
        results = messages.messages_post_rooms(batches=batches)
    assert all(p.created for posted in results.values() for p in posted)
    assert sum(len(posted) for posted in results.values()) == size


# A join by someone who is a member already (every reconnect joins its rooms again):
#   1. SELECT the room
#   2. SELECT the membership
JOIN_AGAIN_QUERIES = 2


def test_joining_a_lounge_again_reads_two_rows(members, django_assert_num_queries):
    with django_assert_num_queries(JOIN_AGAIN_QUERIES):
        room, membership = services.room_join(room_id=ROOMS[0], user=members[0])
    assert membership.active and room.id == ROOMS[0]
