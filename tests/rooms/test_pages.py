"""Pages of history and resume are sized by their encoded bytes (rooms/selectors.py).

A page holds at most PAGE messages and at most page_bytes() of them encoded, at least one,
and says ``more`` when it stopped early; walking pages returns every message exactly once.
The constants the sizing counts on are measured here against the worst a field can hold.
"""

from __future__ import annotations

import types
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from bus import protocol
from gateway import checks
from physicians.services import DISPLAY_NAME_MAX_CHARS
from rooms import events, selectors
from rooms.roster import Author


@pytest.fixture(autouse=True)
def synthetic_frames(monkeypatch, _every_frame_checked):
    """These tests size worst-case frames no server emits (room ids and refs past the
    alphabet, on purpose): the suite-wide frame check does not apply to them."""
    for name in ("event_frame", "reply_ok", "reply_error"):
        built = getattr(protocol, name)
        monkeypatch.setattr(protocol, name, getattr(built, "__wrapped__", built))
    yield
    _every_frame_checked.clear()

WORST = "\x01"  # escaped to \u0001: six bytes, the encoder's most expensive character
LOUNGE = "lounge-cardiology"


def _worst_author() -> Author:
    return Author(pseudonym="f" * 32, name=WORST * DISPLAY_NAME_MAX_CHARS, verified=True,
                  specialty="s" * 64, moderator=True)


def test_a_message_fields_but_its_body_fit_the_overhead_allowance():
    message = types.SimpleNamespace(
        id=uuid.uuid4(), seq=2**63 - 1, sent_at=datetime(2026, 12, 31, 23, 59, 59, 999999, UTC),
        reply_to=2**63 - 1, mentions=["f" * 32] * 50, attachments=[uuid.uuid4()] * 10,
        edited_at=None, deleted_at=None, hidden_at=datetime.now(UTC))
    payload = events.message_payload(message=message, author=_worst_author(), body="",
                                     moderator_view=True)
    assert protocol.encoded_size(payload) <= selectors.MESSAGE_OVERHEAD_BYTES
    body = WORST * settings.CURBSIDE_LIMITS["message_chars"]
    full = events.message_payload(message=message, author=_worst_author(), body=body,
                                  moderator_view=True)
    assert protocol.encoded_size(full) <= selectors.message_bytes_max()
    # …and its message.new event fits one frame.
    event = protocol.event_frame("message.new", full, room="r" * 64, seq=message.seq)
    assert len(event.encode()) <= settings.CURBSIDE_LIMITS["frame_bytes"]


def test_the_join_reply_around_its_messages_fits_the_envelope_allowance():
    summary = {"id": "r" * 64, "kind": "lounge", "title": WORST * 200, "specialty": "s" * 64,
               "last_seq": 2**63 - 1, "last_read_seq": 2**63 - 1, "members": 2**63 - 1,
               "online": 2**63 - 1}
    reply = protocol.reply_ok(WORST * protocol.REF_MAX_CHARS, {
        "room": summary, "me": _worst_author().card(), "messages": [], "more": True})
    assert len(reply.encode()) <= selectors.ENVELOPE_BYTES


def test_the_default_limits_pass_the_startup_check():
    assert checks.frame_limits_consistent(None) == []
    assert selectors.message_bytes_max() <= selectors.page_bytes()


def test_limits_under_which_a_maximal_message_cannot_be_sent_are_refused():
    limits = {**settings.CURBSIDE_LIMITS, "message_chars": 20000}
    with override_settings(CURBSIDE_LIMITS=limits):
        errors = checks.frame_limits_consistent(None)
    assert [e.id for e in errors] == ["curbside.E001"]
    assert "CURBSIDE_MESSAGE_CHARS to at most" in errors[0].hint
    with override_settings(CURBSIDE_SEND_FRAME_BYTES=1024):
        assert [e.id for e in checks.frame_limits_consistent(None)] == ["curbside.E002"]


@pytest.fixture
def filled(make_physician):
    """Twelve messages of different sizes in a lounge: 1 KiB to 12 KiB of 'é' (2 bytes)."""
    from physicians.models import User
    from rooms import messages, roster, services

    physician, _, _ = make_physician()
    user = User.objects.get(pk=physician.user_id)
    services.room_join(room_id=LOUNGE, user=user)
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    bodies = [f"{i} " + "é" * (512 * i) for i in range(1, 13)]
    for i, body in enumerate(bodies):
        messages.message_post(room_id=LOUNGE, user=user, author=author, body=body,
                              client_id=f"fill-{i}")
    return bodies


def _size(messages: list[dict]) -> int:
    return sum(protocol.encoded_size(m) + 1 for m in messages)


@pytest.mark.django_db
@pytest.mark.parametrize("budget", [1, 5000, 20000, 60000])
def test_pages_are_cut_by_size_and_walk_every_message_once(filled, budget):
    # Forwards from 0 (resume), as a client does: again from the last seq while more.
    got, since, more = [], 0, True
    while more:
        page = selectors.messages_since(room_id=LOUNGE, since=since, max_bytes=budget)
        assert page.messages, "a page holds at least one message"
        assert len(page.messages) == 1 or _size(page.messages) <= budget
        if page.more and since + len(page.messages) < len(filled):
            # Stopped early: the next message would not have fit.
            nxt = selectors.messages_since(room_id=LOUNGE, since=page.messages[-1]["seq"],
                                           max_bytes=selectors.NO_SIZE_CAP, limit=1)
            assert _size(page.messages + nxt.messages) > budget
        got += page.messages
        since, more = got[-1]["seq"], page.more
    assert [m["seq"] for m in got] == list(range(1, 13))
    assert [m["body"] for m in got] == filled
    # Backwards from the top (the latest page, then history).
    latest = selectors.messages_since(room_id=LOUNGE, since=None, max_bytes=budget)
    got, more = latest.messages, latest.more
    assert got[-1]["seq"] == 12
    while more:
        page = selectors.messages_before(room_id=LOUNGE, before=got[0]["seq"], max_bytes=budget)
        assert page.messages and (len(page.messages) == 1 or _size(page.messages) <= budget)
        got, more = page.messages + got, page.more
    assert [m["seq"] for m in got] == list(range(1, 13))


@pytest.mark.django_db
def test_the_count_cap_still_applies_and_the_default_budget_is_the_frame(filled):
    page = selectors.messages_since(room_id=LOUNGE, since=0, limit=3)
    assert [m["seq"] for m in page.messages] == [1, 2, 3] and page.more
    page = selectors.messages_since(room_id=LOUNGE, since=None)
    assert _size(page.messages) <= selectors.page_bytes() and page.more
    assert page.messages[-1]["seq"] == 12
    everything = selectors.messages_before(room_id=LOUNGE, before=None,
                                           max_bytes=selectors.NO_SIZE_CAP)
    assert len(everything.messages) == 12 and not everything.more
