"""Batched sends: one transaction for many drafts, each judged on its own, no gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Forbidden, NotFound
from rooms import messages, roster, services
from rooms.models import Membership, Message

pytestmark = pytest.mark.django_db

LOUNGE = "lounge-cardiology"


def _draft(user, body, client_id, **kw):
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    return messages.Draft(user=user, author=author, body=body, client_id=client_id, **kw)


def test_a_batch_stores_the_good_drafts_gaplessly_and_refuses_the_rest(make_physician):
    (a, *_), (b, *_), (muted, *_) = make_physician(), make_physician(), make_physician()
    for p in (a, b, muted):
        services.room_join(room_id=LOUNGE, user=p.user)
    Membership.objects.filter(user=muted.user).update(
        muted_until=timezone.now() + timedelta(minutes=5))
    first = messages.messages_post(room_id=LOUNGE, drafts=[_draft(a.user, "first", "a-1")])[0]
    assert first.seq == 1 and first.created

    results = messages.messages_post(room_id=LOUNGE, drafts=[
        _draft(b.user, "hello", "b-1"),
        _draft(muted.user, "let me talk", "m-1"),
        _draft(a.user, "first", "a-1"),  # a retry of a stored message
        _draft(b.user, "reply", "b-2", reply_to=99),  # no such message
        _draft(a.user, "second", "a-2", reply_to=1),
        _draft(a.user, "second", "a-2", reply_to=1),  # the same send twice in one batch
    ])
    assert results[0].seq == 2 and results[0].created
    assert isinstance(results[1], Forbidden) and "muted_until" in results[1].details
    assert results[2].seq == 1 and not results[2].created
    assert isinstance(results[3], NotFound)
    assert results[4].seq == 3 and results[4].created
    assert results[5].seq == 3 and not results[5].created
    assert list(Message.objects.filter(room_id=LOUNGE).order_by("seq")
                .values_list("seq", "client_id")) == [(1, "a-1"), (2, "b-1"), (3, "a-2")]


def _opened(room_id):
    from crypto import envelope

    return [(m.seq, m.epoch, envelope.message_open(
        room_id=room_id, message_id=str(m.id), seq=m.seq, author=m.author,
        sealed=envelope.Sealed(m.epoch, m.key_id, bytes(m.body_sealed))).decode())
        for m in Message.objects.filter(room_id=room_id).order_by("seq")]


def _draft_in(room, user, body, client_id):
    author = roster.author_for(user_id=str(user.pk), room_id=room, role=user.role,
                               specialty=None, verified=True)
    return messages.Draft(user=user, author=author, body=body, client_id=client_id)


def test_one_group_commit_stores_many_rooms_each_gapless_and_readable(make_physician):
    from crypto import envelope
    from crypto.models import RoomKey

    (a, *_), (b, *_) = make_physician(), make_physician()
    rooms = ["lounge-cardiology", "lounge-neurology", "lounge-oncology"]
    for room in rooms[:2]:
        services.room_join(room_id=room, user=a.user)
        services.room_join(room_id=room, user=b.user)
    messages.messages_post(room_id=rooms[0], drafts=[_draft_in(rooms[0], a.user, "warm", "w")])
    envelope.cache_clear()  # as after a restart: every epoch and author key is read afresh

    results = messages.messages_post_rooms(batches={
        rooms[0]: [_draft_in(rooms[0], b.user, "one", "c1"), _draft_in(rooms[0], a.user, "two", "c2")],
        rooms[1]: [_draft_in(rooms[1], a.user, "uno", "n1"), _draft_in(rooms[1], b.user, "dos", "n2"),
                   _draft_in(rooms[1], a.user, "tres", "n3")],
        rooms[2]: [_draft_in(rooms[2], a.user, "not a member here", "o1")],
    })
    assert [r.seq for r in results[rooms[0]]] == [2, 3]
    assert [r.seq for r in results[rooms[1]]] == [1, 2, 3]
    assert isinstance(results[rooms[2]][0], Forbidden)  # refused alone; the others are stored
    assert [(s, body) for s, _, body in _opened(rooms[0])] == [(1, "warm"), (2, "one"), (3, "two")]
    assert [(s, body) for s, _, body in _opened(rooms[1])] == [(1, "uno"), (2, "dos"), (3, "tres")]
    assert not Message.objects.filter(room_id=rooms[2]).exists()
    # Every message is charged to its room's epoch, the batch's as well as the single one.
    counts = dict(RoomKey.objects.filter(room_id__in=rooms[:2], current=True)
                  .values_list("room_id", "message_count"))
    assert counts == {rooms[0]: 3, rooms[1]: 3}


def test_a_batch_that_fills_the_epoch_continues_in_the_next_one(make_physician, settings):
    settings.CURBSIDE_EPOCH_MESSAGES = 3
    (a, *_), = make_physician(),
    room = "lounge-cardiology"
    services.room_join(room_id=room, user=a.user)
    messages.messages_post(room_id=room, drafts=[_draft_in(room, a.user, "m1", "1"),
                                                 _draft_in(room, a.user, "m2", "2")])
    messages.messages_post(room_id=room, drafts=[_draft_in(room, a.user, f"m{i}", str(i))
                                                 for i in range(3, 8)])
    opened = _opened(room)
    assert [body for _, _, body in opened] == [f"m{i}" for i in range(1, 8)]
    epochs = [epoch for _, epoch, _ in opened]
    # No epoch covers more than three messages, and the sequence never goes back.
    assert epochs == sorted(epochs)
    assert max(epochs.count(e) for e in set(epochs)) <= 3
