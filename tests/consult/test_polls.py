"""Diagnosis polls on the real database: who may make and vote, hidden results, one vote per
physician, and the specialty breakdown that hides small groups. The two-process acceptance
(20 concurrent voters, the votes table dumped) is tests/e2e/test_polls.py."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections

from consult import notifications, polls, services
from consult.models import Notification, Poll, PollVote
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.support import fixtures

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = ["Long QT syndrome", "Vasovagal syncope", "Brugada syndrome"]


@pytest.fixture
def case(make_physician):
    poster, _, _ = make_physician(specialty="emergency-medicine")
    return services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Syncope on exertion in a 19-year-old swimmer",
                              urgency="routine")


def test_the_poster_makes_a_poll_and_results_hide_until_you_vote_or_it_closes(
        case, make_physician):
    voter, _, _ = make_physician(specialty="neurology")
    other, _, _ = make_physician(specialty="neurology")
    with pytest.raises(Forbidden):
        polls.poll_create(case_id=str(case.pk), user=voter.user, options=OPTIONS)
    with pytest.raises(ValidationFailed):
        polls.poll_create(case_id=str(case.pk), user=case.poster, options=["only one"])
    poll, _ = polls.poll_create(case_id=str(case.pk), user=case.poster, options=OPTIONS)
    # Options are sealed at rest, shown opened.
    assert b"Brugada" not in bytes(Poll.objects.get(pk=poll.pk).options_sealed)
    assert polls.poll_options(poll, case) == OPTIONS

    assert not polls.poll_voted(poll, voter.user)
    polls.poll_vote(poll_id=str(poll.pk), user=voter.user, option=2)
    assert polls.poll_voted(poll, voter.user) and not polls.poll_voted(poll, other.user)
    with pytest.raises(Conflict) as again:
        polls.poll_vote(poll_id=str(poll.pk), user=voter.user, option=0)
    assert again.value.details["reason"] == "voted"
    with pytest.raises(ValidationFailed):
        polls.poll_vote(poll_id=str(poll.pk), user=other.user, option=3)
    assert polls.poll_results(poll).counts == [0, 0, 1]

    closed, _ = polls.poll_close(poll_id=str(poll.pk), user=case.poster)
    assert closed.closed_at is not None
    with pytest.raises(Conflict):
        polls.poll_vote(poll_id=str(poll.pk), user=other.user, option=0)
    with pytest.raises(NotFound):
        polls.poll_get(poll_id="not-a-poll", user=other.user)


def _votes(poll: Poll, groups: dict[str, list[int]]) -> None:
    """Rows as votes would leave them: ``groups`` maps a specialty to its options voted."""
    n = 0
    for specialty, options in groups.items():
        for option in options:
            n += 1
            PollVote.objects.create(poll=poll, voter=f"mac-{n}", option=option,
                                    specialty=specialty)


def test_the_breakdown_hides_specialties_under_five_votes(case):
    poll, _ = polls.poll_create(case_id=str(case.pk), user=case.poster, options=OPTIONS)
    _votes(poll, {"cardiology": [0] * 4 + [1] * 2, "neurology": [1, 1, 2],
                  "dermatology": [2, 2, 2, 2, 0], "pediatrics": [0, 1, 2, 2]})
    results = polls.poll_results(poll)
    assert results.counts == [6, 5, 7]
    # neurology (3) and pediatrics (4) are hidden; together 7 votes: safe to leave the rest.
    assert results.by_specialty == [("cardiology", 6, [4, 2, 0]),
                                    ("dermatology", 5, [1, 0, 4])]
    assert results.hidden_votes == 7


def test_a_single_small_group_is_not_left_readable_by_subtraction(case):
    poll, _ = polls.poll_create(case_id=str(case.pk), user=case.poster, options=OPTIONS)
    # One neurologist: totals minus cardiology would give away their vote; so cardiology
    # (the only group shown) is hidden too.
    _votes(poll, {"cardiology": [0] * 5 + [1], "neurology": [2]})
    results = polls.poll_results(poll)
    assert results.counts == [5, 1, 1]
    assert results.by_specialty == [] and results.hidden_votes == 7


sent = fixtures.sent


def test_two_closes_at_once_one_closes_and_the_other_is_a_conflict(case, make_physician, sent,
                                                                   monkeypatch):
    """Two closes of one poll (a double click, or the poster and the specialist together) on
    two connections: one closes it, the other answers ``conflict`` and tells nobody again.

    The first close is held after it read its clock and found the poll, before it writes; the
    second runs to its commit meanwhile (its clock is later), then the first goes on. Before
    the fix the first saw ``closed_at`` after its own clock, took the poll for open, closed it
    a second time (200) and sent a second poll_closed."""
    fan, _, _ = make_physician(specialty="neurology")
    notifications.case_follow(case_id=str(case.pk), user=fan.user)
    poll, _ = polls.poll_create(case_id=str(case.pk), user=case.poster, options=OPTIONS)
    found, go = threading.Event(), threading.Event()
    real = polls._poll_for
    held: list[str] = []

    def poll_for(poll_id, user):
        row = real(poll_id, user)
        if not held:  # the first close to get here waits for the second to finish
            held.append(threading.current_thread().name)
            found.set()
            assert go.wait(30)
        return row

    monkeypatch.setattr(polls, "_poll_for", poll_for)
    answers: dict[str, str] = {}

    def close(name: str) -> None:
        try:
            polls.poll_close(poll_id=str(poll.pk), user=case.poster)
            answers[name] = "closed"
        except Conflict:
            answers[name] = "conflict"
        finally:
            connections.close_all()

    first = threading.Thread(target=close, args=("first",), name="first")
    second = threading.Thread(target=close, args=("second",), name="second")
    first.start()
    try:
        assert found.wait(30)
        second.start()
        second.join(30)
    finally:
        go.set()
        first.join(30)
    assert held == ["first"]
    assert answers == {"second": "closed", "first": "conflict"}
    closes = [json.loads(m["frame"]) for _, m in sent if "poll.updated" in m.get("frame", "")]
    assert [f["data"]["closed"] for f in closes] == [False, True]  # made, closed once
    assert list(Notification.objects.filter(user=fan.user).values_list("kind", flat=True)) == [
        "poll_closed"]
