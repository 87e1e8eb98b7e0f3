"""The case lifecycle on the real database: the guard, one audit entry per step, the
outcome sealed at rest, helpful credits, the first response and reply count kept by the
message writer's transaction, capacity released once per step that ends a consult, expiry."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from bus import hub
from consult import services
from consult.models import Case, CaseAudit
from consult.states import CASE_ALLOWED, CaseAction, CaseStatus, case_transition
from core.errors import IllegalTransition, NotFound, ValidationFailed
from phi.guard import PhiDetected
from rooms import roster
from rooms.messages import message_post
from rooms.services import membership_add

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []

    async def fake_publish(items):
        sent.extend(items)

    monkeypatch.setattr(hub, "publish", fake_publish)
    return sent


def _updates(published, room: str) -> list[dict]:
    out = []
    for group, message in published:
        if group == hub.room_group(room) and message.get("type") == hub.FRAME:
            frame = json.loads(message["frame"])
            if frame.get("type") == "case.updated":
                out.append(frame["data"])
    return out


def _say(case: Case, user, body: str) -> int:
    author = roster.author_for(user_id=str(user.pk), room_id=case.room_id, role=user.role,
                               specialty=None, verified=True)
    return message_post(room_id=case.room_id, user=user, author=author, body=body,
                        client_id=uuid.uuid4().hex).seq


def _claimed(make_physician):
    """A routine case whose room a colleague answers in, and an 'accepted' urgent one."""
    poster, *_ = make_physician(specialty="emergency-medicine")
    doc, *_ = make_physician()
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="syncope on exertion")
    membership_add(room=case.room, user=doc.user)
    return poster.user, doc.user, case


# --- the guard ---------------------------------------------------------------------------------

def test_the_guard_allows_exactly_the_drawn_moves():
    for current, targets in CASE_ALLOWED.items():
        for target in CaseStatus.values:
            if target in targets:
                assert case_transition(current, target) == target
            else:
                with pytest.raises(IllegalTransition):
                    case_transition(current, target)
    # The move must also be the action's: a hand-off cannot resolve, a claim cannot reopen.
    with pytest.raises(IllegalTransition):
        case_transition(CaseStatus.CLAIMED, CaseStatus.RESOLVED, CaseAction.HANDOFF)
    with pytest.raises(IllegalTransition):
        case_transition(CaseStatus.RESOLVED, CaseStatus.CLAIMED, CaseAction.CLAIM)
    assert case_transition(CaseStatus.RESOLVED, CaseStatus.CLAIMED,
                           CaseAction.REOPEN) == CaseStatus.CLAIMED
    assert CASE_ALLOWED[CaseStatus.WITHDRAWN] == frozenset()


# --- resolve, close, reopen -------------------------------------------------------------------

def test_resolve_seals_the_outcome_credits_answers_and_audits_every_step(make_physician,
                                                                        published):
    poster, doc, case = _claimed(make_physician)
    own = _say(case, poster, "ECG attached")
    answer = _say(case, doc, "Think HCM: echo and exercise restriction.")
    with pytest.raises(ValidationFailed) as bad:
        services.case_resolve(case_id=str(case.pk), user=poster, helpful=[own],
                              outcome={"diagnosis": "HCM", "done": "", "notes": ""})
    assert "helpful" in bad.value.fields
    with pytest.raises(ValidationFailed):
        services.case_resolve(case_id=str(case.pk), user=poster, outcome={"done": "echo"})
    with pytest.raises(PhiDetected) as phi:
        services.case_resolve(case_id=str(case.pk), user=poster, outcome={
            "diagnosis": "HCM", "done": "", "notes": "Patient MRN 12345678, DOB 03/04/1961"})
    assert phi.value.details["field"] == "outcome.notes"
    with pytest.raises(NotFound):  # not the poster: as if there were no such case
        services.case_resolve(case_id=str(case.pk), user=doc,
                              outcome={"diagnosis": "HCM", "done": "", "notes": ""})

    moved = services.case_resolve(case_id=str(case.pk), user=poster, helpful=[answer],
                                  outcome={"diagnosis": "Hypertrophic cardiomyopathy",
                                           "done": "echo, septal 19 mm", "notes": ""})
    assert moved.status == "resolved" and moved.capacity == []  # nobody had accepted it
    case.refresh_from_db()
    assert case.resolved_at is not None and case.helpful == [answer]
    assert b"Hypertrophic" not in bytes(case.outcome_sealed)
    assert services.case_outcome(case).diagnosis == "Hypertrophic cardiomyopathy"
    [update] = _updates(published, case.room_id)
    assert update["status"] == "resolved" and update["helpful"] == [answer]
    assert update["outcome"]["done"] == "echo, septal 19 mm"

    with pytest.raises(IllegalTransition):
        services.case_withdraw(case_id=str(case.pk), user=poster, now=0.0)
    services.case_close(case_id=str(case.pk), user=poster)
    reopened = services.case_reopen(case_id=str(case.pk), user=poster)
    assert reopened.status == "open"
    case.refresh_from_db()
    assert case.resolved_at is None
    steps = list(CaseAudit.objects.filter(case=case).values_list("action", "from_status",
                                                                  "to_status", "actor"))
    assert [s[:3] for s in steps] == [("post", "", "open"), ("resolve", "open", "resolved"),
                                      ("close", "resolved", "closed"),
                                      ("reopen", "closed", "open")]
    # The actor is the poster's pseudonym in this case room, never a user id.
    assert {s[3] for s in steps} == {roster.author_for(
        user_id=str(poster.pk), room_id=case.room_id, role=poster.role, specialty=None,
        verified=True).pseudonym}
    assert [u["action"] for u in _updates(published, case.room_id)] == [
        "resolve", "close", "reopen"]


def test_capacity_is_released_by_the_steps_that_end_a_consult_and_only_those(make_physician):
    poster, doc, case = _claimed(make_physician)
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLAIMED, accepted_by=doc,
                                           claimed_at=timezone.now())
    freed = services.Capacity(str(doc.pk), str(case.pk), take=False)
    taken = services.Capacity(str(doc.pk), str(case.pk), take=True)
    outcome = {"diagnosis": "vasovagal", "done": "", "notes": ""}
    assert services.case_resolve(case_id=str(case.pk), user=poster,
                                 outcome=outcome).capacity == [freed]
    assert services.case_close(case_id=str(case.pk), user=poster).capacity == []
    assert services.case_reopen(case_id=str(case.pk), user=poster).capacity == [taken]
    assert services.case_close(case_id=str(case.pk), user=poster).capacity == [freed]
    services.case_reopen(case_id=str(case.pk), user=poster)
    assert services.case_withdraw(case_id=str(case.pk), user=poster,
                                  now=0.0).capacity == [freed]


def test_a_forgotten_consult_expires_and_gives_capacity_back(make_physician):
    poster, doc, case = _claimed(make_physician)
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLAIMED, accepted_by=doc,
                                           claimed_at=now)
    assert services.cases_expire(now=now + services.CLAIM_EXPIRES_AFTER
                                 - timedelta(seconds=1)) == []
    [moved] = services.cases_expire(now=now + services.CLAIM_EXPIRES_AFTER)
    assert moved.status == "closed" and moved.capacity == [
        services.Capacity(str(doc.pk), str(case.pk), take=False)]
    assert services.cases_expire(now=now + 2 * services.CLAIM_EXPIRES_AFTER) == []
    assert CaseAudit.objects.filter(case=case, action="expire", actor="system").count() == 1


# --- first response and replies ---------------------------------------------------------------

def test_the_first_answer_by_someone_else_stamps_the_first_response(make_physician):
    poster, doc, case = _claimed(make_physician)
    _say(case, poster, "Any thoughts?")
    case.refresh_from_db()
    assert case.first_response_at is None and case.replies == 0
    _say(case, doc, "Echo first.")
    case.refresh_from_db()
    first = case.first_response_at
    assert first is not None and case.replies == 1
    _say(case, doc, "And a Holter.")
    _say(case, poster, "Thanks")
    case.refresh_from_db()
    assert case.first_response_at == first and case.replies == 2
