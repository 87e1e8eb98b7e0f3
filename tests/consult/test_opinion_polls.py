"""Opinion polls on the real database: only moderators make them; the open/close window;
one vote each; results hidden until you vote or it closes (moderators: always); the CSV and
the chart with the specialty breakdown's suppression; the options and question sealed.
Two processes voting at once: tests/e2e/test_opinion_polls.py."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from consult import opinion_polls, poll_export, polls
from consult.models import Poll, PollKind, PollVote
from core.errors import Conflict, Forbidden, ValidationFailed
from crypto.models import AuditEntry
from phi.guard import PhiDetected

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Should every syncope in an athlete get an echocardiogram?"
OPTIONS = ["Always", "Only with red flags", "Never"]


@pytest.fixture
def moderator(make_physician):
    return make_physician(role="moderator", specialty="cardiology")[0].user


def _make(moderator, **kw):
    now = timezone.now()
    args = dict(user=moderator, room="lounge-cardiology", question=QUESTION, options=OPTIONS,
                opens_at=now, closes_at=now + timedelta(days=2))
    return opinion_polls.opinion_poll_create(**(args | kw))


def test_only_moderators_make_them_and_the_window_is_checked(moderator, make_physician):
    physician = make_physician()[0].user
    with pytest.raises(Forbidden):
        _make(physician)
    now = timezone.now()
    with pytest.raises(ValidationFailed) as closes:
        _make(moderator, opens_at=now + timedelta(hours=2), closes_at=now + timedelta(hours=1))
    assert "closes_at" in closes.value.fields
    with pytest.raises(ValidationFailed):
        _make(moderator, closes_at=now + timedelta(hours=1), opens_at=now + timedelta(hours=1))
    with pytest.raises(ValidationFailed):
        _make(moderator, options=["only one"])
    with pytest.raises(ValidationFailed):
        _make(moderator, question="x" * 301)
    with pytest.raises(ValidationFailed):
        _make(moderator, room="lounge-no-such-thing")
    flagged = "Was John Smith's MRN 12345678 right to refuse?"
    audit = AuditEntry.objects.count()
    with pytest.raises(PhiDetected):
        _make(moderator, question=flagged)
    assert AuditEntry.objects.count() == audit
    _make(moderator, question=flagged, confirm_phi=True)  # "not patient data": audited
    assert AuditEntry.objects.count() == audit + 1

    network = _make(moderator, room=None)
    assert network.kind == PollKind.OPINION and network.room_id == "lounge-general"
    # The question and options are sealed at rest.
    stored = bytes(Poll.objects.get(pk=network.pk).options_sealed)
    assert b"echocardiogram" not in stored and b"red flags" not in stored
    assert polls.poll_question(network, None) == QUESTION
    assert polls.poll_options(network, None) == OPTIONS


def test_no_vote_before_the_open_time_nor_after_the_close(moderator, make_physician):
    voter = make_physician(specialty="neurology")[0].user
    now = timezone.now()
    poll = _make(moderator, opens_at=now + timedelta(hours=1), closes_at=now + timedelta(hours=3))
    with pytest.raises(Conflict) as early:
        polls.poll_vote(poll_id=str(poll.pk), user=voter, option=0)
    assert early.value.details["reason"] == "not_open"
    polls.poll_vote(poll_id=str(poll.pk), user=voter, option=1, now=now + timedelta(hours=1))
    with pytest.raises(Conflict) as again:
        polls.poll_vote(poll_id=str(poll.pk), user=voter, option=0, now=now + timedelta(hours=2))
    assert again.value.details["reason"] == "voted"
    late = make_physician()[0].user
    with pytest.raises(Conflict) as closed:
        polls.poll_vote(poll_id=str(poll.pk), user=late, option=0, now=now + timedelta(hours=3))
    assert closed.value.details["reason"] == "closed"
    assert polls.poll_results(poll).counts == [0, 1, 0]
    # The votes table holds no user id.
    row = PollVote.objects.get(poll=poll)
    assert str(voter.pk) not in row.voter and row.specialty == "neurology"


def test_only_a_moderator_closes_one_early(moderator, make_physician):
    poll = _make(moderator)
    with pytest.raises(Forbidden):
        polls.poll_close(poll_id=str(poll.pk), user=make_physician()[0].user)
    closed, case = polls.poll_close(poll_id=str(poll.pk), user=moderator)
    assert case is None and closed.closed_at <= timezone.now()


def _vote_rows(poll, groups: dict[str, list[int]]) -> None:
    n = 0
    for specialty, options in groups.items():
        for option in options:
            n += 1
            PollVote.objects.create(poll=poll, voter=f"mac-{poll.pk}-{n}", option=option,
                                    specialty=specialty)
    Poll.objects.filter(pk=poll.pk).update(votes=n)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_csv_and_chart_moderators_any_time_others_after_close(moderator, make_physician):
    poll = _make(moderator, options=["=HYPERLINK(1)", *OPTIONS[1:]])
    _vote_rows(poll, {"cardiology": [0] * 4 + [1] * 2, "neurology": [1, 1, 2],
                      "dermatology": [2, 2, 2, 2, 0], "pediatrics": [0, 1, 2, 2]})
    physician = _client(make_physician()[0].user)
    url = f"/api/v1/polls/{poll.pk}/results.csv"
    early = physician.get(url)
    assert early.status_code == 409 and early.json()["error"]["details"]["reason"] == "open"
    assert physician.get(f"/api/v1/polls/{poll.pk}/chart.svg").status_code == 409
    # Results hidden from a physician who has not voted, shown to the moderator.
    assert physician.get(f"/api/v1/polls/{poll.pk}").json()["poll"]["results"] is None
    mod = _client(moderator)
    assert mod.get(f"/api/v1/polls/{poll.pk}").json()["poll"]["results"]["counts"] == [6, 5, 7]

    response = mod.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == list(poll_export.CSV_COLUMNS)
    assert rows[1] == ["question", "", QUESTION, "", "18"]
    assert rows[2:5] == [["total", "1", "'=HYPERLINK(1)", "", "6"],
                         ["total", "2", "Only with red flags", "", "5"],
                         ["total", "3", "Never", "", "7"]]
    shown = {r[3] for r in rows if r[0] == "specialty"}
    # neurology (3) and pediatrics (4) are under 5: never named, counted as hidden.
    assert shown == {"cardiology", "dermatology"}
    assert "neurology" not in response.content.decode()
    assert rows[-1] == ["hidden", "", "", "", "7"]

    polls.poll_close(poll_id=str(poll.pk), user=moderator)
    assert physician.get(url).status_code == 200
    svg = physician.get(f"/api/v1/polls/{poll.pk}/chart.svg?lang=es")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert "default-src 'none'" in svg["Content-Security-Policy"]
    body = svg.content.decode()
    assert body.count('class="bar"') == 3 and "Votos en total: 18" in body
    assert "<script" not in body


def test_the_http_api_creates_lists_and_refuses_bad_input(moderator, make_physician):
    mod, physician = _client(moderator), _client(make_physician()[0].user)
    body = {"room": "lounge-cardiology", "question": QUESTION, "options": OPTIONS,
            "closes_at": (timezone.now() + timedelta(days=1)).isoformat()}
    refused = physician.post("/api/v1/opinion-polls", body, content_type="application/json")
    assert refused.status_code == 403
    bad = mod.post("/api/v1/opinion-polls", body | {"closes_at": "tomorrow"},
                   content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    backwards = mod.post("/api/v1/opinion-polls", body | {
        "opens_at": (timezone.now() + timedelta(days=2)).isoformat()},
        content_type="application/json")
    assert backwards.status_code == 400 and "closes_at" in backwards.json()["error"]["fields"]
    made = mod.post("/api/v1/opinion-polls", body, content_type="application/json")
    assert made.status_code == 201, made.content
    view = made.json()["poll"]
    assert view["kind"] == "opinion" and view["question"] == QUESTION and view["case"] is None
    listed = physician.get("/api/v1/opinion-polls?room=lounge-cardiology").json()
    assert [p["id"] for p in listed["polls"]] == [view["id"]] and listed["can_create"] is False
    assert physician.get("/api/v1/opinion-polls?room=lounge-neurology").json()["polls"] == []
    voted = physician.post(f"/api/v1/polls/{view['id']}/vote", {"option": 1},
                           content_type="application/json")
    assert voted.status_code == 200 and voted.json()["poll"]["results"]["counts"] == [0, 1, 0]
    second = physician.post(f"/api/v1/polls/{view['id']}/vote", {"option": 1},
                            content_type="application/json")
    assert second.status_code == 409 and second.json()["error"]["details"]["reason"] == "voted"
