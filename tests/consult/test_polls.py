"""Diagnosis polls on the real database: who may make and vote, hidden results, one vote per
physician, and the specialty breakdown that hides small groups. The two-process acceptance
(20 concurrent voters, the votes table dumped) is tests/e2e/test_polls.py."""

from __future__ import annotations

import pytest

from consult import polls, services
from consult.models import Poll, PollVote
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed

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
