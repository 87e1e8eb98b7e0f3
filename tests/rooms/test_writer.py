"""The group-commit writer: one room's failure does not fail the other rooms' senders."""

from __future__ import annotations

import asyncio

from rooms import messages


async def test_a_failing_room_fails_only_its_own_senders(monkeypatch):
    calls: list[list[str]] = []

    def store(*, batches):
        calls.append(sorted(batches))
        if "case-broken" in batches:
            raise RuntimeError("lost the database connection")
        return {room: [messages.Posted(seq=i + 1, id=f"{room}-{i}", sent_at=None, created=True)
                       for i, _ in enumerate(drafts)] for room, drafts in batches.items()}

    monkeypatch.setattr(messages, "messages_post_rooms", store)
    draft = messages.Draft(user=None, author=None, body="hi", client_id="c")
    good, bad, other = await asyncio.gather(
        messages.post("lounge-cardiology", draft), messages.post("case-broken", draft),
        messages.post("lounge-neurology", draft), return_exceptions=True)
    assert (good.seq, other.seq) == (1, 1)
    assert isinstance(bad, RuntimeError)
    # One group commit for all three, then room by room once it failed.
    assert calls[0] == ["case-broken", "lounge-cardiology", "lounge-neurology"]
    assert sorted(map(tuple, calls[1:])) == [("case-broken",), ("lounge-cardiology",),
                                             ("lounge-neurology",)]
