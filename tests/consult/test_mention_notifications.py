"""Mention and reply notifications on the real database (consult/notifications.py's
``messages_addressed``, fed by rooms/messages.py): a mention or a reply to my message is in
my inbox — never of my own message, not while I muted the room, not once I left it — and
the row holds no text and nothing that joins it to the message."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consult import notifications, services
from consult.models import Notification
from crypto.pseudonyms import pseudonym_id
from rooms import messages, roster
from rooms import services as room_services
from tests.support import fixtures
from tests.support.people import LOUNGE, NOW, Person

pytestmark = pytest.mark.django_db

fresh_caches = fixtures.fresh_caches


@pytest.fixture
def people(make_physician):
    return lambda room_id=LOUNGE: Person(make_physician, room_id)


def test_a_mention_and_a_reply_reach_the_inbox_without_text(people):
    ana, ben, cy = people(), people(), people()
    first = ben.post("Troponin stays flat after six hours")
    ana.post("What about a CT coronary angiogram?", mentions=[cy.pseudonym], reply_to=first)
    assert ben.inbox() == [("reply", LOUNGE)]
    assert cy.inbox() == [("mention", LOUNGE)]
    assert ana.inbox() == []
    row = Notification.objects.get(user=cy.user)
    # No seq, no text; the time is the minute, so the row does not point at the message.
    assert row.detail == {} and row.case_id is None
    assert row.at == NOW.replace(second=0)
    # Mentioned and replied to at once: one row, the mention.
    ana.post("Ben, and the echo?", mentions=[ben.pseudonym], reply_to=first)
    assert ben.inbox() == [("reply", LOUNGE), ("mention", LOUNGE)]


def test_never_of_my_own_message_nor_while_muted_nor_after_leaving(people):
    ana, ben = people(), people()
    mine = ana.post("A question about QT", mentions=[ana.pseudonym])
    ana.post("Replying to myself", reply_to=mine)
    assert ana.inbox() == []  # self-mention and self-reply

    notifications.room_mute(user=ben.user, room_id=LOUNGE,
                            until=(NOW + timedelta(hours=1)).timestamp(), now=NOW)
    ana.post("Ben?", mentions=[ben.pseudonym])
    assert ben.inbox() == []  # muted for the hour
    ana.post("Ben, now?", mentions=[ben.pseudonym], now=NOW + timedelta(hours=2))
    assert ben.inbox() == [("mention", LOUNGE)]  # the mute ended by itself

    theirs = ben.post("My last word here")
    room_services.membership_end(room_id=LOUNGE, user=ben.user)
    ana.post("Ben, are you still there?", mentions=[ben.pseudonym], reply_to=theirs)
    assert ben.inbox() == [("mention", LOUNGE)]  # left: can no longer read the room


def test_a_mention_in_a_case_room_names_the_case(make_physician):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope in a swimmer", urgency="routine")
    author = roster.author_for(user_id=str(poster.user.pk), room_id=case.room_id,
                               role=poster.user.role, specialty="emergency-medicine",
                               verified=True)
    colleague, _, _ = make_physician(specialty="cardiology")
    room_services.room_join(room_id=case.room_id, user=colleague.user)
    messages.message_post(room_id=case.room_id, user=poster.user, author=author,
                          body="Any thoughts?", client_id="c1", now=NOW, mentions=(
                              pseudonym_id(user_id=str(colleague.user.pk),
                                           room_id=case.room_id),))
    row = Notification.objects.get(user=colleague.user)
    assert (row.kind, row.case_id, row.room_id) == ("mention", case.pk, case.room_id)


def test_a_reply_in_a_case_room_is_an_answer_to_the_case_audience(make_physician):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope in a swimmer", urgency="routine")
    author = roster.author_for(user_id=str(poster.user.pk), room_id=case.room_id,
                               role=poster.user.role, specialty="emergency-medicine",
                               verified=True)
    colleague, _, _ = make_physician(specialty="cardiology")
    room_services.room_join(room_id=case.room_id, user=colleague.user)
    colleague_author = roster.author_for(user_id=str(colleague.user.pk), room_id=case.room_id,
                                         role=colleague.user.role, specialty="cardiology",
                                         verified=True)
    asked = messages.message_post(room_id=case.room_id, user=poster.user, author=author,
                                  body="Any thoughts?", client_id="c1", now=NOW).seq
    said = messages.message_post(room_id=case.room_id, user=colleague.user,
                                 author=colleague_author, body="Exercise test first.",
                                 client_id="c2", reply_to=asked, now=NOW).seq
    assert list(Notification.objects.filter(user=poster.user).values_list("kind", flat=True)) == [
        "answer"]  # not a reply as well
    messages.message_post(room_id=case.room_id, user=poster.user, author=author,
                          body="Thanks", client_id="c3", reply_to=said, now=NOW)
    assert list(Notification.objects.filter(user=colleague.user)
                .values_list("kind", flat=True)) == ["reply"]  # not the case's audience
