"""Moderation reasons are free text: they go through the PHI guard, are stored only sealed
under the room's key, and never enter the audit log (which can never be cleaned).

Report reasons, resolution notes, hide and ban reasons each carry a canary — a made-up name
introduced by a title, so the guard flags it — and, once confirmed, the canary must be
nowhere in the database in the clear (every table read as text, bytea as hex), nowhere in
any audit entry, and still readable where moderators (and, for hides, members) read it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.test import Client

from bus import protocol
from crypto import envelope
from crypto.models import AuditEntry
from crypto.pseudonyms import pseudonym_id
from gateway import ops_moderation
from phi.guard import PhiDetected
from rooms import erasure, messages, mod_selectors, moderation, roster, services
from rooms.models import Message, Report
from tests.support import fixtures
from tests.support.privacy import (
    assert_not_audited,
    assert_not_stored_in_clear,
    canary,
    staff_client,
)

pytestmark = pytest.mark.django_db

LOUNGE = "lounge-cardiology"
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
QUEUE = "/api/v1/moderation/reports"


fresh_caches = fixtures.fresh_caches
sent = fixtures.sent


class Person:
    def __init__(self, make_physician, room_id: str, role: str = "physician") -> None:
        self.physician, _, _ = make_physician(role=role)
        self.user = self.physician.user
        self.room_id = room_id
        services.room_join(room_id=room_id, user=self.user)
        self.pseudonym = pseudonym_id(user_id=str(self.user.pk), room_id=room_id)
        self.author = roster.author_for(user_id=str(self.user.pk), room_id=room_id,
                                        role=self.user.role, specialty="cardiology", verified=True)

    def post(self, body: str) -> int:
        return messages.message_post(room_id=self.room_id, user=self.user, author=self.author,
                                     body=body, client_id=body, now=NOW).seq


@pytest.fixture
def people(make_physician):
    def make(room_id: str = LOUNGE, role: str = "physician") -> Person:
        return Person(make_physician, room_id, role)

    return make


# Each one is refused by the guard: a phone number, a record number, a titled name.
PHI_REASONS = {
    "phone": "the patient's mobile {c} is (555) 123-4567",
    "record_number": "names MRN 48213377 of {c}",
    "name": "it names Mr {c} by name",
}


def queue(client: Client, status: str = "open") -> list[dict]:
    response = client.get(QUEUE, {"status": status})
    assert response.status_code == 200, response.content
    return response.json()["reports"]


def moderator_client(mod: Person) -> Client:
    return staff_client(mod.user)


# --- reports ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(PHI_REASONS))
def test_a_report_reason_with_patient_identifiers_is_refused_with_spans(people, kind):
    author, reporter = people(), people()
    seq = author.post("something off")
    c = canary()
    reason = PHI_REASONS[kind].format(c=c)
    with pytest.raises(PhiDetected) as info:
        moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                               reason=reason)
    assert info.value.code == "phi_detected"
    assert info.value.details["field"] == "reason"
    findings = info.value.details["findings"]
    assert kind in {f["kind"] for f in findings}
    for f in findings:
        assert 0 <= f["start"] < f["end"] <= len(reason)
    assert c not in json.dumps(info.value.details)  # spans only, never the text
    assert not Report.objects.exists()
    assert not AuditEntry.objects.filter(action__in=("report.file", "phi.confirm")).exists()
    assert_not_stored_in_clear(c)


def test_a_confirmed_report_reason_is_sealed_audited_as_codes_and_shown_to_moderators(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seq = author.post("something off")
    c = canary()
    reason = PHI_REASONS["name"].format(c=c)
    report = moderation.report_file(room_id=LOUNGE, seq=seq,
                                    reporter_pseudonym=reporter.pseudonym, reason=reason,
                                    confirm_phi=True)
    assert_not_stored_in_clear(c)
    assert_not_audited(c)
    [filed] = AuditEntry.objects.filter(action="report.file")
    assert filed.actor == reporter.pseudonym and filed.details == {"report": report.pk}
    [confirmed] = AuditEntry.objects.filter(action="phi.confirm")
    assert confirmed.actor == reporter.pseudonym
    assert confirmed.subject == f"room:{LOUNGE}/seq:{seq}"
    assert confirmed.details == {"op": "report", "kinds": ["name"], "count": 1}

    [row] = queue(moderator_client(mod))
    assert row["id"] == report.pk and row["reason"] == reason


def test_a_clean_report_reason_needs_no_confirmation_and_is_sealed_too(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seq = author.post("something off")
    reason = "off topic, canaryclean" + secrets.token_hex(5)
    moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                           reason=reason)
    assert not AuditEntry.objects.filter(action="phi.confirm").exists()
    assert_not_stored_in_clear(reason)
    assert_not_audited(reason)
    assert queue(moderator_client(mod))[0]["reason"] == reason


def test_a_resolution_note_is_guarded_sealed_and_kept_out_of_the_audit_log(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seq = author.post("something off")
    report = moderation.report_file(room_id=LOUNGE, seq=seq,
                                    reporter_pseudonym=reporter.pseudonym, reason="rude")
    client = moderator_client(mod)
    c = canary()
    note = f"warned; the message quoted MRN 48213377 of Mr {c}"
    refused = client.post(f"{QUEUE}/{report.pk}/resolve", {"resolution": note},
                          content_type="application/json")
    assert refused.status_code == 422, refused.content
    error = refused.json()["error"]
    assert error["code"] == "phi_detected" and error["details"]["field"] == "resolution"
    assert {f["kind"] for f in error["details"]["findings"]} >= {"record_number", "name"}
    assert Report.objects.get(pk=report.pk).status == Report.Status.OPEN

    done = client.post(f"{QUEUE}/{report.pk}/resolve",
                       {"resolution": note, "confirm_phi": True},
                       content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["report"]["resolution"] == note
    assert queue(client, "resolved")[0]["resolution"] == note
    assert_not_stored_in_clear(c)
    assert_not_audited(c)
    [entry] = AuditEntry.objects.filter(action="report.resolved")
    assert entry.details == {"report": report.pk}
    assert AuditEntry.objects.filter(action="phi.confirm",
                                     details__op="report.resolve").count() == 1


def test_an_erased_reporter_s_reason_is_gone_and_the_queue_still_works(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seq = author.post("something off")
    c = canary()
    moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                           reason=f"off topic {c}")
    erasure.physician_erase(user_id=str(reporter.user.pk))
    envelope.cache_clear()
    [row] = queue(moderator_client(mod))
    assert row["reason"] == "" and row["reason_erased"] is True
    assert row["message"]["body"] == "something off"  # the author was not erased
    assert_not_stored_in_clear(c)


# --- hide -------------------------------------------------------------------------------------

def test_a_hide_reason_is_guarded_sealed_and_members_still_see_it(people, sent):
    member, mod = people(), people(role="moderator")
    seq = member.post("a remark")
    c = canary()
    reason = PHI_REASONS["phone"].format(c=c)
    with pytest.raises(PhiDetected) as info:
        moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=mod.user, reason=reason)
    assert info.value.details["field"] == "reason"
    assert {f["kind"] for f in info.value.details["findings"]} == {"phone"}
    assert Message.objects.get(room_id=LOUNGE, seq=seq).hidden_at is None

    moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=mod.user, reason=reason,
                            confirm_phi=True, now=NOW)
    hidden = [json.loads(m["frame"]) for _, m in sent
              if "frame" in m and json.loads(m["frame"])["type"] == "message.hidden"]
    assert [h["data"] for h in hidden] == [{"seq": seq, "reason": reason}]
    assert mod_selectors.hide_reason(room_id=LOUNGE, seq=seq) == reason
    assert_not_stored_in_clear(c)
    assert_not_audited(c)
    [entry] = AuditEntry.objects.filter(action="mod.hide")
    assert entry.actor == mod.pseudonym and entry.subject == f"room:{LOUNGE}/seq:{seq}"
    assert entry.details == {}
    [confirmed] = AuditEntry.objects.filter(action="phi.confirm")
    assert confirmed.details == {"op": "mod.hide", "kinds": ["phone"], "count": 1}
    assert confirmed.actor == mod.pseudonym

    moderation.message_unhide(room_id=LOUNGE, seq=seq, moderator=mod.user)
    assert mod_selectors.hide_reason(room_id=LOUNGE, seq=seq) == ""


# --- ban and mute -----------------------------------------------------------------------------

@pytest.mark.parametrize("scope", ["room", "network"])
def test_a_ban_reason_is_guarded_sealed_and_audited_as_codes(people, scope):
    member, mod = people(), people(role="moderator")
    c = canary()
    reason = PHI_REASONS["record_number"].format(c=c)
    with pytest.raises(PhiDetected):
        moderation.member_ban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                              scope=scope, reason=reason)
    assert not AuditEntry.objects.filter(action__startswith="mod.ban").exists()
    moderation.member_ban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                          scope=scope, reason=reason, confirm_phi=True)
    assert_not_stored_in_clear(c)
    assert_not_audited(c)
    [entry] = AuditEntry.objects.filter(action=f"mod.ban.{scope}")
    assert entry.actor == mod.pseudonym
    assert entry.subject == f"room:{LOUNGE}/pseudonym:{member.pseudonym}"
    assert set(entry.details) == {"scope", "ban"} and entry.details["scope"] == scope
    [ban] = mod_selectors.bans_list(room_id=LOUNGE, pseudonym=member.pseudonym)
    assert ban["id"] == entry.details["ban"] and ban["reason"] == reason
    assert ban["scope"] == scope


def test_every_reasoned_action_leaves_no_free_text_in_the_audit_log(people):
    author, reporter, target, mod = people(), people(), people(), people(role="moderator")
    seq = author.post("an unkind remark")
    texts = [canary() for _ in range(4)]
    moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                           reason=f"unkind {texts[0]}")
    moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=mod.user,
                            reason=f"unkind {texts[1]}")
    moderation.member_mute(room_id=LOUNGE, pseudonym=target.pseudonym, moderator=mod.user,
                           minutes=10)
    moderation.member_ban(room_id=LOUNGE, pseudonym=target.pseudonym, moderator=mod.user,
                          scope="room", reason=f"spam {texts[2]}")
    report = Report.objects.get()
    moderation.report_resolve(report_id=report.pk, moderator=mod.user,
                              resolution=f"hidden {texts[3]}")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"report.file", "mod.hide", "mod.mute", "mod.ban.room", "report.resolved"} <= actions
    for text in texts:
        assert_not_audited(text)
        assert_not_stored_in_clear(text)


# --- the socket ops carry confirm_phi -----------------------------------------------------------

def test_the_socket_ops_accept_and_pass_confirm_phi(monkeypatch):
    room = LOUNGE
    frames = {
        "report": {"op": "report", "ref": "r1", "room": room, "seq": 3, "reason": "x",
                   "confirm_phi": True},
        "mod.hide": {"op": "mod.hide", "ref": "r2", "room": room, "seq": 3, "reason": "x",
                     "confirm_phi": True},
        "mod.ban": {"op": "mod.ban", "ref": "r3", "room": room, "pseudonym": "ab" * 16,
                    "reason": "x", "confirm_phi": True},
    }
    parsed = {op: protocol.parse_request(json.dumps(f)) for op, f in frames.items()}
    assert all(r.confirm_phi is True for r in parsed.values())
    assert protocol.parse_request(json.dumps(
        {"op": "report", "ref": "r4", "room": room, "seq": 3, "reason": "x"})).confirm_phi is False

    calls: dict[str, dict] = {}

    def fake(name, result):
        def call(**kwargs):
            calls[name] = kwargs
            return result
        return call

    monkeypatch.setattr(moderation, "report_file", fake("report", SimpleNamespace(pk=1)))
    monkeypatch.setattr(moderation, "message_hide", fake("mod.hide", None))
    monkeypatch.setattr(moderation, "member_ban", fake("mod.ban", None))
    joined = SimpleNamespace(author=SimpleNamespace(pseudonym="cd" * 16))
    conn = SimpleNamespace(user=SimpleNamespace(is_moderator=True), rooms={room: joined})

    async def run():
        await ops_moderation.report(conn, parsed["report"])
        await ops_moderation.mod_hide(conn, parsed["mod.hide"])
        await ops_moderation.mod_ban(conn, parsed["mod.ban"])

    asyncio.run(run())
    assert {name: kw["confirm_phi"] for name, kw in calls.items()} == {
        "report": True, "mod.hide": True, "mod.ban": True}
