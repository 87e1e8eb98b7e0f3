"""What moderators may read beyond the queue (rooms/moderation.py, rooms/mod_selectors.py):
the earlier versions of edited or deleted messages — each read audited — and the
PHI-confirmation log, kinds and counts only."""

from __future__ import annotations

import pytest
from django.test import Client

from bus import hub
from crypto.audit import audit_verify
from rooms import moderation, services
from tests.rooms import test_moderation
from tests.rooms.test_moderation import LOUNGE, audit, events_of

# The fixtures of the moderation tests (caches cleared, people in the lounge).
fresh_caches = test_moderation.fresh_caches
people = test_moderation.people
sent = test_moderation.sent

pytestmark = pytest.mark.django_db

PHI_LOG = "/api/v1/moderation/phi-confirmations"


def revisions_url(room: str, seq: int) -> str:
    return f"/api/v1/moderation/rooms/{room}/messages/{seq}/revisions"


def test_earlier_versions_of_edited_and_deleted_messages_for_moderators_audited(people):
    author, member, mod = people(), people(), people(role="moderator")
    seq = author.post("first words")
    services.message_edit(room_id=LOUNGE, seq=seq, user=author.user, author=author.author,
                          body="second thoughts")
    services.message_delete(room_id=LOUNGE, seq=seq, user=author.user, author=author.author)
    plain = author.post("never changed")

    client = Client()
    client.force_login(mod.user)
    got = client.get(revisions_url(LOUNGE, seq))
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["room"] == LOUNGE and body["seq"] == seq
    assert [(r["revision"], r["body"]) for r in body["revisions"]] == [
        (1, "first words"), (2, "second thoughts")]
    assert client.get(revisions_url(LOUNGE, plain)).json()["revisions"] == []

    # Every read is one audit entry: the moderator's pseudonym, the message, a count.
    entries = audit("mod.revisions.read")
    assert [(e.actor, e.subject, e.details) for e in entries] == [
        (mod.pseudonym, f"room:{LOUNGE}/seq:{seq}", {"count": 2}),
        (mod.pseudonym, f"room:{LOUNGE}/seq:{plain}", {"count": 0})]
    assert "first words" not in str([e.details for e in entries])
    assert audit_verify() == []

    members = Client()
    members.force_login(member.user)
    assert members.get(revisions_url(LOUNGE, seq)).status_code == 403
    assert Client().get(revisions_url(LOUNGE, seq)).status_code == 401
    missing = client.get(revisions_url(LOUNGE, 999))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get(revisions_url("lounge-nowhere", 1)).status_code == 404
    assert len(audit("mod.revisions.read")) == 2  # refused reads append nothing


def test_the_phi_confirmation_log_shows_kinds_never_text(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seq = author.post("is this the right dose?")
    reason = "it names a patient: MRN 12345678, call 555-867-5309"
    moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                           reason=reason, confirm_phi=True)

    client = Client()
    client.force_login(mod.user)
    response = client.get(PHI_LOG)
    assert response.status_code == 200, response.content
    [entry] = [e for e in response.json()["entries"] if e["actor"] == reporter.pseudonym]
    assert entry["op"] == "report" and entry["subject"] == f"room:{LOUNGE}/seq:{seq}"
    assert entry["count"] >= 1 and entry["kinds"]
    assert "12345678" not in response.content.decode()
    assert "555" not in response.content.decode()
    # Paging: before the oldest shown, nothing newer comes back.
    older = client.get(PHI_LOG, {"before": entry["id"]}).json()["entries"]
    assert all(e["id"] < entry["id"] for e in older)
    bad = client.get(PHI_LOG, {"before": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    members = Client()
    members.force_login(reporter.user)
    assert members.get(PHI_LOG).status_code == 403


def test_moderators_sockets_are_told_of_a_new_report(people, sent):
    author, reporter, member = people(), people(), people()
    mod, admin = people(role="moderator"), people(role="admin")
    seq = author.post("an unkind remark")
    sent.clear()
    report = moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                                    reason="rude")
    frames = events_of(sent, "report.filed")  # schema-checked, one per moderator
    assert [(f["data"], f["room"]) for f in frames] == [({"report": report.pk}, LOUNGE)] * 2
    told = {group for group, msg in sent if "report.filed" in msg.get("frame", "")}
    assert told == {hub.user_group(str(mod.user.pk)), hub.user_group(str(admin.user.pk))}
    assert hub.user_group(str(member.user.pk)) not in told
    assert "rude" not in str(sent)
