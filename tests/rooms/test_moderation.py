"""Moderation services and the HTTP report queue (rooms/moderation.py, rooms/mod_views.py).

Events are caught where they leave the process (bus.outbox's one send path) and each is
checked against its schema in bus.protocol; the audit chain is verified after every
action. What a moderator is sent must never name the member behind a pseudonym.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import authenticate
from django.test import Client

from bus import hub, protocol
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crypto.audit import audit_verify
from crypto.models import AuditEntry, RoomKey
from crypto.pseudonyms import pseudonym_id
from physicians.selectors import physician_profile, socket_refusal
from rooms import messages, moderation, roster, selectors, services
from rooms.models import Membership, Report
from tests.support import fixtures

pytestmark = pytest.mark.django_db

LOUNGE = "lounge-cardiology"
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
QUEUE = "/api/v1/moderation/reports"


fresh_caches = fixtures.fresh_caches
sent = fixtures.sent


class Person:
    """A physician with their pseudonym and author card in one room."""

    def __init__(self, make_physician, room_id: str, role: str = "physician") -> None:
        self.physician, self.email, self.password = make_physician(role=role)
        self.user = self.physician.user
        self.room_id = room_id
        services.room_join(room_id=room_id, user=self.user)
        self.pseudonym = pseudonym_id(user_id=str(self.user.pk), room_id=room_id)
        self.author = roster.author_for(user_id=str(self.user.pk), room_id=room_id,
                                        role=self.user.role, specialty="cardiology", verified=True)
        # What must never reach a moderator about this person.
        profile = physician_profile(physician=self.physician)
        self.secrets = (str(self.user.pk), self.user.pk.hex, self.email, profile.display_name,
                        profile.first_name, profile.last_name)

    def post(self, body: str, now: datetime = NOW) -> int:
        return messages.message_post(room_id=self.room_id, user=self.user, author=self.author,
                                     body=body, client_id=body, now=now).seq


@pytest.fixture
def people(make_physician):
    def make(room_id: str = LOUNGE, role: str = "physician") -> Person:
        return Person(make_physician, room_id, role)

    return make


def events_of(sent: list, type_: str) -> list[dict]:
    """Decoded and schema-checked frames of ``type_`` among the sent messages."""
    out = []
    for _, msg in sent:
        raw = json.loads(msg["frame"]) if "frame" in msg else {}
        if raw.get("type") == type_:
            protocol.validate_event(msg["frame"])
            out.append(raw)
    return out


def assert_all_events_valid(sent: list) -> None:
    for _, msg in sent:
        if "frame" in msg:
            protocol.validate_event(msg["frame"])


def assert_blind(text: str, *people: Person) -> None:
    for person in people:
        for secret in person.secrets:
            assert secret not in text, secret


def room_epoch(room_id: str) -> int:
    return RoomKey.objects.filter(room_id=room_id, current=True).values_list("epoch", flat=True).get()


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


# --- messages ---------------------------------------------------------------------------------

def test_a_hidden_message_is_blank_for_members_but_not_for_moderators(people, sent):
    member, mod = people(), people(role="moderator")
    seq = member.post("rude words")
    moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=mod.user, reason="rude", now=NOW)
    [hidden] = events_of(sent, "message.hidden")
    assert hidden["data"] == {"seq": seq, "reason": "rude"} and hidden["room"] == LOUNGE
    members_view = selectors.messages_before(room_id=LOUNGE, before=None).messages[-1]
    mods_view = selectors.messages_before(room_id=LOUNGE, before=None,
                                          moderator_view=True).messages[-1]
    assert members_view["hidden"] and members_view["body"] == ""
    assert mods_view["hidden"] and mods_view["body"] == "rude words"
    with pytest.raises(Conflict):
        moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=mod.user, reason="again")

    moderation.message_unhide(room_id=LOUNGE, seq=seq, moderator=mod.user)
    assert events_of(sent, "message.unhidden")[0]["data"] == {"seq": seq}
    restored = selectors.messages_before(room_id=LOUNGE, before=None).messages[-1]
    assert restored["body"] == "rude words" and not restored["hidden"]
    [hide_entry] = audit("mod.hide")
    assert hide_entry.actor == mod.pseudonym
    assert hide_entry.subject == f"room:{LOUNGE}/seq:{seq}"
    assert hide_entry.details == {}  # codes only: the reason is sealed on the message
    assert audit("mod.unhide")[0].actor == mod.pseudonym
    assert audit_verify() == []
    assert_blind(json.dumps([m for _, m in sent]), member)


def test_hiding_a_missing_message_is_not_found(people):
    mod = people(role="moderator")
    with pytest.raises(NotFound):
        moderation.message_hide(room_id=LOUNGE, seq=99, moderator=mod.user, reason="x")


# --- members ----------------------------------------------------------------------------------

def test_a_muted_member_is_told_until_when_and_others_see_the_mute(people, sent):
    member, mod = people(), people(role="moderator")
    until = moderation.member_mute(room_id=LOUNGE, pseudonym=member.pseudonym,
                                   moderator=mod.user, minutes=30, now=NOW)
    assert until == NOW + timedelta(minutes=30)
    with pytest.raises(Forbidden) as info:
        messages.message_post(room_id=LOUNGE, user=member.user, author=member.author,
                              body="hello", client_id="c1", now=NOW + timedelta(minutes=29))
    assert info.value.details["muted_until"] == until.isoformat()
    # Once the mute has run out the same member may speak again.
    assert member.post("back", now=NOW + timedelta(minutes=31)) == 1
    [muted] = events_of(sent, "member.muted")
    assert muted["data"] == {"pseudonym": member.pseudonym, "until": until.isoformat()}
    [entry] = audit("mod.mute")
    assert entry.actor == mod.pseudonym
    assert entry.subject == f"room:{LOUNGE}/pseudonym:{member.pseudonym}"
    assert_blind(json.dumps([m for _, m in sent]) + json.dumps(entry.details), member)


@pytest.mark.parametrize("minutes", [0, protocol.MUTE_MINUTES_MAX + 1])
def test_a_mute_out_of_range_is_refused(people, minutes):
    member, mod = people(), people(role="moderator")
    with pytest.raises(ValidationFailed):
        moderation.member_mute(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                               minutes=minutes)


def test_a_kicked_member_loses_the_room_and_a_case_room_stays_closed(people, sent):
    poster = people().user
    room = services.case_room_create(title="Case", specialty_id=None, members=[poster])
    mod = people(room.id, role="moderator")  # moderators may join any room
    target = pseudonym_id(user_id=str(poster.pk), room_id=room.id)
    epoch_before = room_epoch(room.id)

    moderation.member_kick(room_id=room.id, pseudonym=target, moderator=mod.user)
    assert not Membership.objects.get(room=room, user=poster).active
    assert room_epoch(room.id) > epoch_before  # their keys open nothing new
    [kicked] = events_of(sent, "member.kicked")
    assert kicked["data"] == {"pseudonym": target}
    [(group, evict)] = [(g, m) for g, m in sent if m["type"] == hub.ROOM_EVICT]
    assert group == hub.user_group(str(poster.pk)) and evict["room"] == room.id
    assert json.loads(evict["frame"])["data"] == {"room": room.id, "reason": "kicked"}
    assert_all_events_valid(sent)
    with pytest.raises(NotFound):  # a case room does not let them back
        services.room_join(room_id=room.id, user=poster)
    with pytest.raises(Conflict):  # nothing left to kick
        moderation.member_kick(room_id=room.id, pseudonym=target, moderator=mod.user)
    assert audit("mod.kick")[0].subject == f"room:{room.id}/pseudonym:{target}"


def test_a_room_ban_keeps_the_member_out_until_lifted(people, sent):
    member, mod = people(), people(role="moderator")
    other_room = "lounge-neurology"
    services.room_join(room_id=other_room, user=member.user)
    moderation.member_ban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                          scope="room", reason="spam")
    with pytest.raises(Forbidden):
        services.room_join(room_id=LOUNGE, user=member.user)
    with pytest.raises(Forbidden):
        messages.message_post(room_id=LOUNGE, user=member.user, author=member.author,
                              body="hi", client_id="c2")
    services.room_join(room_id=other_room, user=member.user)  # other rooms are unaffected
    assert events_of(sent, "member.banned")[0]["data"] == {"pseudonym": member.pseudonym,
                                                          "scope": "room"}
    assert [m["room"] for _, m in sent if m["type"] == hub.ROOM_EVICT] == [LOUNGE]
    assert not [m for _, m in sent if m["type"] == hub.SESSION_CLOSE]
    [entry] = audit("mod.ban.room")
    assert entry.actor == mod.pseudonym and entry.details["scope"] == "room"
    assert "reason" not in entry.details  # codes only: the reason is sealed in the Ban row

    moderation.member_unban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                            scope="room")
    services.room_join(room_id=LOUNGE, user=member.user)  # a lounge admits them again
    with pytest.raises(Conflict):
        moderation.member_unban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                                scope="room")
    assert audit_verify() == []


def test_a_network_ban_deactivates_the_account_and_closes_its_sockets(people, sent):
    member, mod = people(), people(role="moderator")
    moderation.member_ban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                          scope="network", reason="fake licence")
    member.user.refresh_from_db()
    assert member.user.is_active is False
    closes = [(g, m) for g, m in sent if m["type"] == hub.SESSION_CLOSE]
    assert closes == [(hub.user_group(str(member.user.pk)),
                       {"type": hub.SESSION_CLOSE, "code": protocol.CLOSE_FORBIDDEN})]
    assert socket_refusal(member.user) is not None
    assert authenticate(email=member.email, password=member.password) is None
    assert events_of(sent, "member.banned")[0]["data"]["scope"] == "network"

    moderation.member_unban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=mod.user,
                            scope="network")
    assert authenticate(email=member.email, password=member.password) is not None
    assert [e.action for e in AuditEntry.objects.order_by("seq")][-2:] == [
        "mod.ban.network", "mod.unban.network"]
    assert audit_verify() == []


def test_non_moderators_cannot_moderate_and_moderators_are_not_targets(people):
    member, other, mod = people(), people(), people(role="moderator")
    seq = member.post("hello")
    calls = [
        lambda u: moderation.message_hide(room_id=LOUNGE, seq=seq, moderator=u, reason="x"),
        lambda u: moderation.member_mute(room_id=LOUNGE, pseudonym=member.pseudonym,
                                         moderator=u, minutes=5),
        lambda u: moderation.member_kick(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=u),
        lambda u: moderation.member_ban(room_id=LOUNGE, pseudonym=member.pseudonym, moderator=u,
                                        scope="network", reason="x"),
    ]
    for call in calls:
        with pytest.raises(Forbidden):
            call(other.user)
    assert Membership.objects.get(room_id=LOUNGE, user=member.user).active
    with pytest.raises(Forbidden):
        moderation.member_kick(room_id=LOUNGE, pseudonym=mod.pseudonym, moderator=mod.user)
    with pytest.raises(NotFound):
        moderation.member_mute(room_id=LOUNGE, pseudonym="0" * 32, moderator=mod.user, minutes=5)
    assert not AuditEntry.objects.filter(action__startswith="mod.").exists()


# --- reports and the queue ------------------------------------------------------------------

def test_reports_are_once_per_reporter_and_only_for_real_messages(people):
    author, reporter, outsider = people(), people(), people("lounge-neurology")
    seq = author.post("something off")
    report = moderation.report_file(room_id=LOUNGE, seq=seq,
                                    reporter_pseudonym=reporter.pseudonym, reason="off topic")
    assert report.status == Report.Status.OPEN
    with pytest.raises(Conflict):
        moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=reporter.pseudonym,
                               reason="again")
    with pytest.raises(NotFound):
        moderation.report_file(room_id=LOUNGE, seq=seq + 5,
                               reporter_pseudonym=reporter.pseudonym, reason="ghost")
    with pytest.raises(Forbidden):  # not a member of this room
        moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=outsider.pseudonym,
                               reason="x")
    with pytest.raises(ValidationFailed):
        moderation.report_file(room_id=LOUNGE, seq=seq, reporter_pseudonym=author.pseudonym,
                               reason="   ")
    [entry] = audit("report.file")
    assert entry.actor == reporter.pseudonym and entry.details["report"] == report.pk


def test_the_queue_shows_open_reports_in_context_to_moderators_only(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    seqs = [author.post(f"message {i}") for i in range(1, 10)]
    reported = seqs[4]
    moderation.message_hide(room_id=LOUNGE, seq=reported, moderator=mod.user, reason="rude")
    report = moderation.report_file(room_id=LOUNGE, seq=reported,
                                    reporter_pseudonym=reporter.pseudonym, reason="rude")

    member_client = Client()
    member_client.force_login(reporter.user)
    assert member_client.get(QUEUE).status_code == 403
    assert Client().get(QUEUE).status_code == 401

    client = Client()
    client.force_login(mod.user)
    response = client.get(QUEUE, {"status": "open"})
    assert response.status_code == 200
    [row] = response.json()["reports"]
    assert row["id"] == report.pk and row["reason"] == "rude"
    assert row["reporter"] == reporter.pseudonym and row["room"]["id"] == LOUNGE
    assert row["message"]["seq"] == reported
    assert row["message"]["body"] == "message 5"  # hidden from members, not from moderators
    assert row["message"]["author"]["pseudonym"] == author.pseudonym
    assert [m["body"] for m in row["before"]] == ["message 2", "message 3", "message 4"]
    assert [m["body"] for m in row["after"]] == ["message 6", "message 7", "message 8"]
    for m in (row["message"], *row["before"], *row["after"]):
        msgspec_check(m)
    assert_blind(response.content.decode(), author, reporter)

    resolved = client.post(f"{QUEUE}/{report.pk}/resolve",
                           {"resolution": "hidden, warned", "action": "resolved"},
                           content_type="application/json")
    assert resolved.status_code == 200 and resolved.json()["report"]["status"] == "resolved"
    assert client.get(QUEUE).json()["reports"] == []
    assert client.get(QUEUE, {"status": "resolved"}).json()["reports"][0]["id"] == report.pk
    again = client.post(f"{QUEUE}/{report.pk}/resolve", {"resolution": "x"},
                        content_type="application/json")
    assert again.status_code == 409
    denied = member_client.post(f"{QUEUE}/{report.pk}/resolve", {"resolution": "x"},
                                content_type="application/json")
    assert denied.status_code == 403
    [entry] = audit("report.resolved")
    assert entry.actor == mod.pseudonym and entry.subject == f"room:{LOUNGE}/seq:{reported}"
    assert audit_verify() == []


def test_a_report_at_the_start_of_a_room_has_what_context_exists(people):
    author, reporter, mod = people(), people(), people(role="moderator")
    first = author.post("first")
    author.post("second")
    moderation.report_file(room_id=LOUNGE, seq=first, reporter_pseudonym=reporter.pseudonym,
                           reason="r")
    client = Client()
    client.force_login(mod.user)
    [row] = client.get(QUEUE).json()["reports"]
    assert row["before"] == [] and [m["body"] for m in row["after"]] == ["second"]
    dismissed = client.post(f"{QUEUE}/{row['id']}/resolve",
                            {"resolution": "fine", "action": "dismiss"},
                            content_type="application/json")
    assert dismissed.json()["report"]["status"] == "dismissed"
    bad = client.post(f"{QUEUE}/{row['id']}/resolve", {"resolution": "x", "action": "explode"},
                      content_type="application/json")
    assert bad.status_code in (400, 409)


def msgspec_check(message: dict) -> None:
    import msgspec

    msgspec.convert(message, protocol.MessageData)


# --- what moderators read beyond the queue: earlier versions (each read audited) and the
# PHI-confirmation log, kinds and counts only -----------------------------------------------

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
