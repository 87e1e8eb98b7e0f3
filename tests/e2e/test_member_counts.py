"""Live member counts (``room.members``), over real sockets on a real daphne: a new member of
a lounge changes the count everyone there sees; re-joining after a reconnect does not; a
member who leaves for good lowers it."""

from __future__ import annotations

import pytest

from tests.support.clients import request
from tests.support.sockets import next_event, open_socket, reopen

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-dermatology"


async def _members(ws) -> int:
    reply = await request(ws, "room.join", room=LOUNGE)
    assert reply["ok"], reply
    return reply["data"]["room"]["members"]


async def test_the_member_count_follows_joins_and_leaves(daphne_server, make_physician):
    first = await open_socket(daphne_server, make_physician)
    before = await _members(first)
    # Its own first join made a membership: the room (itself included) is told.
    assert (await next_event(first, "room.members"))["data"] == {"members": before}
    second = await open_socket(daphne_server, make_physician)
    assert await _members(second) == before + 1
    told = await next_event(first, "room.members")
    assert told["room"] == LOUNGE and told["data"] == {"members": before + 1}

    # A re-join (every reconnect does one) changes nothing and says nothing.
    second = await reopen(second, daphne_server)
    assert await _members(second) == before + 1
    reply = await request(second, "room.leave", room=LOUNGE, forget=True)
    assert reply["ok"], reply
    told = await next_event(first, "room.members")
    assert told["data"] == {"members": before}
    # Nothing came between the two: the re-join sent no count.
    assert not [f for f in getattr(first, "events", []) if f.get("type") == "room.members"]
