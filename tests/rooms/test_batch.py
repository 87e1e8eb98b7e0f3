"""Batched sends: one transaction for many drafts, each judged on its own, no gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consult.errors import Forbidden, NotFound
from rooms import roster, services
from rooms.models import Membership, Message

pytestmark = pytest.mark.django_db

LOUNGE = "lounge-cardiology"


def _draft(user, body, client_id, **kw):
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    return services.Draft(user=user, author=author, body=body, client_id=client_id, **kw)


def test_a_batch_stores_the_good_drafts_gaplessly_and_refuses_the_rest(make_physician):
    (a, *_), (b, *_), (muted, *_) = make_physician(), make_physician(), make_physician()
    for p in (a, b, muted):
        services.room_join(room_id=LOUNGE, user=p.user)
    Membership.objects.filter(user=muted.user).update(
        muted_until=timezone.now() + timedelta(minutes=5))
    first = services.messages_post(room_id=LOUNGE, drafts=[_draft(a.user, "first", "a-1")])[0]
    assert first.seq == 1 and first.created

    results = services.messages_post(room_id=LOUNGE, drafts=[
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
