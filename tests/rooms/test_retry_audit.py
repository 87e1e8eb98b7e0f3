"""A PHI confirmation is audited on every posting path, and a draft the database refuses
fails alone.

A group commit (``rooms.messages.messages_post_rooms``) whose one INSERT fails — a client_id
another process stored a moment earlier, a value the database refuses — stores its sends one
by one. Each of those goes through the same insert, PHI audit and events as the batch: a
confirmed draft stored on the fallback path still gets its ``phi.confirm`` entry.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import DataError, connection

from crypto.audit import audit_verify
from crypto.models import AuditEntry
from phi.audit import ACTION
from phi.guard import phi_guard
from rooms import messages, roster, services
from rooms.models import Message
from tests.support import fixtures

# Async tests reach the ORM through sync_to_async's thread: close its connection after each.
close_thread_connections = fixtures.close_thread_connections

LOUNGE = "lounge-cardiology"
FLAGGED = "Seen on 03/04/2024 in clinic, MRN: 00123456 is the lab's batch"


def _draft(user, body: str, client_id: str, *, confirm: bool = False) -> messages.Draft:
    author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                               specialty="cardiology", verified=True)
    # What gateway/ops_rooms.message_send does: the guard's findings travel with the draft.
    findings = phi_guard(body, field="body", confirmed=confirm)
    return messages.Draft(user=user, author=author, body=body, client_id=client_id,
                          phi_confirmed=tuple(findings))


def _stored() -> list[tuple[int, str]]:
    return list(Message.objects.filter(room_id=LOUNGE).order_by("seq")
                .values_list("seq", "client_id"))


def _confirmations() -> list[tuple[str, str, dict]]:
    return list(AuditEntry.objects.filter(action=ACTION).order_by("seq")
                .values_list("actor", "subject", "details"))


def _members(make_physician, n: int):
    users = [make_physician()[0].user for _ in range(n)]
    for user in users:
        services.room_join(room_id=LOUNGE, user=user)
    return users


@pytest.fixture
def batch_fails_once(monkeypatch):
    """The batch's INSERT fails once (as a refused value would); the retries insert."""
    real = messages._insert_messages
    calls: list[int] = []

    def insert(rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise DataError("refused by the database (simulated)")
        real(rows)

    monkeypatch.setattr(messages, "_insert_messages", insert)
    return calls


@pytest.mark.django_db
def test_a_confirmed_draft_in_a_group_commit_is_audited(make_physician):
    a, b = _members(make_physician, 2)
    results = messages.messages_post(room_id=LOUNGE, drafts=[
        _draft(a, "plain question", "a-1"), _draft(b, FLAGGED, "b-1", confirm=True)])
    assert [r.seq for r in results] == [1, 2]
    [(actor, subject, details)] = _confirmations()
    assert subject == f"room:{LOUNGE}/seq:2"
    assert actor == _draft(b, "x", "x").author.pseudonym
    assert details["op"] == "message.send" and details["count"] >= 2
    assert set(details["kinds"]) >= {"date", "record_number"}


@pytest.mark.django_db
def test_a_batch_that_falls_back_to_one_by_one_still_audits_the_confirmation(
        make_physician, batch_fails_once):
    a, b = _members(make_physician, 2)
    results = messages.messages_post(room_id=LOUNGE, drafts=[
        _draft(a, "plain question", "a-1"), _draft(b, FLAGGED, "b-1", confirm=True),
        _draft(a, "and a follow-up", "a-2")])
    assert batch_fails_once == [3, 1, 1, 1]  # the batch, then each send on its own
    assert [(r.seq, r.created) for r in results] == [(1, True), (2, True), (3, True)]
    assert _stored() == [(1, "a-1"), (2, "b-1"), (3, "a-2")]
    [(_, subject, details)] = _confirmations()
    assert subject == f"room:{LOUNGE}/seq:2" and details["op"] == "message.send"
    assert audit_verify() == []


@pytest.mark.django_db
def test_a_multi_room_batch_that_falls_back_audits_in_each_room(make_physician,
                                                               batch_fails_once):
    a, = _members(make_physician, 1)
    other = "lounge-neurology"
    services.room_join(room_id=other, user=a)
    author = roster.author_for(user_id=str(a.pk), room_id=other, role=a.role,
                               specialty="cardiology", verified=True)
    there = messages.Draft(user=a, author=author, body=FLAGGED, client_id="n-1",
                           phi_confirmed=tuple(phi_guard(FLAGGED, field="body", confirmed=True)))
    results = messages.messages_post_rooms(batches={
        LOUNGE: [_draft(a, FLAGGED, "c-1", confirm=True)], other: [there]})
    assert results[LOUNGE][0].seq == 1 and results[other][0].seq == 1
    assert sorted(subject for _, subject, _ in _confirmations()) == [
        f"room:{LOUNGE}/seq:1", f"room:{other}/seq:1"]


@pytest.mark.django_db
def test_one_draft_the_database_refuses_fails_alone(make_physician):
    a, b = _members(make_physician, 2)
    too_long = "x" * 65  # the column holds 64 characters: PostgreSQL refuses the row
    results = messages.messages_post(room_id=LOUNGE, drafts=[
        _draft(a, "before", "a-1"), _draft(b, "refused", too_long),
        _draft(b, FLAGGED, "b-2", confirm=True), _draft(a, "after", "a-2")])
    assert isinstance(results[1], Exception)
    assert [(r.seq, r.created) for i, r in enumerate(results) if i != 1] == [
        (1, True), (2, True), (3, True)]
    assert _stored() == [(1, "a-1"), (2, "b-2"), (3, "a-2")]  # no gap where it failed
    assert [subject for _, subject, _ in _confirmations()] == [f"room:{LOUNGE}/seq:2"]
    # The room goes on from there.
    assert messages.message_post(room_id=LOUNGE, user=a, author=_draft(a, "x", "x").author,
                                 body="next", client_id="a-3").seq == 4


@pytest.mark.django_db(transaction=True)
def test_a_client_id_stored_concurrently_falls_back_and_audits_once(make_physician, monkeypatch):
    """Another process stores one of the batch's client_ids between the batch's duplicate
    check and its INSERT (a retry on a second socket): the batch's INSERT fails on the
    unique constraint, each send is stored on its own, the duplicate gets the other
    process's message, and every stored confirmation is audited exactly once."""
    a, b = _members(make_physician, 2)
    drafts = [_draft(a, FLAGGED, "a-1", confirm=True), _draft(b, FLAGGED, "b-1", confirm=True)]
    real_check = messages._draft_check
    raced: list[messages.Posted] = []
    racing: list[bool] = []

    def check(room_id, d, *args):
        real_check(room_id, d, *args)
        if d.client_id == "b-1" and not racing:
            racing.append(True)  # the other process's own check must not race again

            def other_process():
                try:
                    raced.append(messages.messages_post(room_id=LOUNGE, drafts=[d])[0])
                finally:
                    connection.close()
            t = threading.Thread(target=other_process)
            t.start()
            t.join(30)
            assert not t.is_alive()

    monkeypatch.setattr(messages, "_draft_check", check)
    results = messages.messages_post(room_id=LOUNGE, drafts=drafts)
    assert raced and raced[0].seq == 1 and raced[0].created
    assert (results[0].seq, results[0].created) == (2, True)
    assert (results[1].seq, results[1].created) == (1, False)  # the other process's message
    assert _stored() == [(1, "b-1"), (2, "a-1")]
    assert sorted(subject for _, subject, _ in _confirmations()) == [
        f"room:{LOUNGE}/seq:1", f"room:{LOUNGE}/seq:2"]
    assert audit_verify() == []


@pytest.mark.django_db(transaction=True)
async def test_the_writer_audits_a_confirmed_send_that_took_the_fallback(make_physician,
                                                                        batch_fails_once):
    """The socket's path: ``messages.post`` (group commit in the writer task)."""
    a, b = await sync_to_async(_members)(make_physician, 2)
    plain, flagged = _draft(a, "plain", "a-1"), _draft(b, FLAGGED, "b-1", confirm=True)
    posted = await asyncio.gather(messages.post(LOUNGE, plain), messages.post(LOUNGE, flagged))
    assert batch_fails_once[0] == 2  # both sends were one batch, and it fell back
    assert sorted(p.seq for p in posted) == [1, 2]
    confirmations = await sync_to_async(_confirmations)()
    seq_of_flagged = posted[1].seq
    assert [subject for _, subject, _ in confirmations] == [f"room:{LOUNGE}/seq:{seq_of_flagged}"]
