"""Moderation: hide and unhide messages, mute, kick and ban members, reports.

Moderators act on pseudonyms; the pseudonym → user step happens here, server-side, through
the room's roster, and nothing a moderator is sent names the user behind it. Every action
appends one audit entry in the same transaction as the change, with the moderator's own
pseudonym in that room as the actor (never a user id: crypto/audit.py refuses those) and a
subject of "room:<id>/seq:<n>" or "room:<id>/pseudonym:<p>". Events leave after commit.

Reasons and notes are free text: they pass the PHI guard (``confirm_phi`` as for messages,
the confirmation audited as ``phi.confirm``), are stored only sealed (rooms/reasons.py), and
the audit entries carry codes and ids, never the text: the log can never be cleaned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from bus import outbox, protocol
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crypto.audit import audit_append
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.guard import phi_guard
from physicians.models import Role, User
from rooms import events, reasons, roster, search_index, selectors, services
from rooms.models import Ban, Membership, Message, Report, Room

SCOPES = ("room", "network")


def _require_moderator(user: User) -> None:
    if not user.is_moderator:
        raise Forbidden("Only moderators may do this.", details={"role": user.role})


def _actor(moderator: User, room_id: str) -> str:
    """The moderator's pseudonym in the room: who the audit log says acted."""
    return pseudonym_id(user_id=str(moderator.pk), room_id=room_id)


def _room_exists(room_id: str) -> None:
    if not Room.objects.filter(pk=room_id).exists():
        raise NotFound(f"No room '{room_id[:64]}'.", details={"room": room_id[:64]})


def _target(room_id: str, pseudonym: str) -> roster.Member:
    """The member behind ``pseudonym`` (current or past member of the room).

    Raises:
        NotFound: nobody in this room has that pseudonym.
        Forbidden: the target is a moderator (moderators are not moderated by peers here).
    """
    member = roster.roster(room_id).get(pseudonym)
    if member is None:  # a member who joined on another process since the cache filled
        roster.roster_forget(room_id)
        member = roster.roster(room_id).get(pseudonym)
    if member is None:
        raise NotFound("Nobody in this room has that pseudonym.",
                       details={"room": room_id, "pseudonym": pseudonym})
    if member.author.moderator:
        raise Forbidden("Moderators cannot be moderated.", details={"pseudonym": pseudonym})
    return member


def _member_subject(room_id: str, pseudonym: str) -> str:
    return f"room:{room_id}/pseudonym:{pseudonym}"


def _message_subject(room_id: str, seq: int) -> str:
    return f"room:{room_id}/seq:{seq}"


def _locked_message(room_id: str, seq: int) -> Message:
    msg = Message.objects.select_for_update().filter(room_id=room_id, seq=seq).first()
    if msg is None:
        raise NotFound(f"No message {seq}.", details={"room": room_id, "seq": seq})
    return msg


# --- messages ---------------------------------------------------------------------------------

def message_hide(*, room_id: str, seq: int, moderator: User, reason: str,
                 confirm_phi: bool = False, now: datetime | None = None) -> Message:
    """Hide a message from members (moderators still read it); members get message.hidden
    with the reason, which is stored sealed and audited as a code only.

    Raises:
        Forbidden: ``moderator`` is not one.
        NotFound: no such message.
        Conflict: already hidden.
        ValidationFailed: an empty reason.
        PhiDetected: the reason looks like it names a patient and ``confirm_phi`` is unset.
    """
    _require_moderator(moderator)
    reason = reason.strip()[:200]
    if not reason:
        raise ValidationFailed("Say why the message is hidden.", details={"field": "reason"})
    findings = phi_guard(reason, field="reason", confirmed=confirm_phi)
    now = now or timezone.now()
    actor, subject = _actor(moderator, room_id), _message_subject(room_id, seq)
    with outbox.atomic():
        msg = _locked_message(room_id, seq)
        if msg.hidden_at is not None:
            raise Conflict("The message is already hidden.", details={"seq": seq})
        msg.hidden_at = now
        msg.hidden_reason_sealed = reasons.reason_seal(
            room_id=room_id, label=reasons.hide_label(str(msg.id)), text=reason)
        msg.save(update_fields=["hidden_at", "hidden_reason_sealed"])
        search_index.message_terms_drop([msg.id])
        if findings:
            phi_confirmation_record(actor=actor, subject=subject, op="mod.hide",
                                    findings=findings)
        audit_append(action="mod.hide", actor=actor, subject=subject, details={}, now=now)
        outbox.room_event(room_id=room_id, frame=events.message_changed(
            "message.hidden", room_id=room_id, seq=seq, data={"reason": reason}))
    return msg


def message_unhide(*, room_id: str, seq: int, moderator: User,
                   now: datetime | None = None) -> Message:
    """Show a hidden message again; members get message.unhidden (and re-read it).

    Raises:
        Forbidden, NotFound; Conflict: the message is not hidden.
    """
    _require_moderator(moderator)
    with outbox.atomic():
        msg = _locked_message(room_id, seq)
        if msg.hidden_at is None:
            raise Conflict("The message is not hidden.", details={"seq": seq})
        msg.hidden_at, msg.hidden_reason_sealed = None, None
        msg.save(update_fields=["hidden_at", "hidden_reason_sealed"])
        if msg.deleted_at is None:
            search_index.message_reindex(msg)
        audit_append(action="mod.unhide", actor=_actor(moderator, room_id),
                     subject=_message_subject(room_id, seq), details={}, now=now)
        outbox.room_event(room_id=room_id, frame=events.message_changed(
            "message.unhidden", room_id=room_id, seq=seq, data={}))
    return msg


# --- members ----------------------------------------------------------------------------------

def member_mute(*, room_id: str, pseudonym: str, moderator: User, minutes: int,
                now: datetime | None = None) -> datetime:
    """Mute a member in one room until now + ``minutes``; returns the end. Their sends get
    ``forbidden`` with ``details.muted_until`` (services.membership_require). A new mute
    replaces the old one, shorter or longer.

    Raises:
        Forbidden, NotFound (see ``_target``); ValidationFailed: minutes out of range.
    """
    _require_moderator(moderator)
    if not 1 <= minutes <= protocol.MUTE_MINUTES_MAX:
        raise ValidationFailed(f"A mute lasts 1 to {protocol.MUTE_MINUTES_MAX} minutes.",
                               details={"field": "minutes"})
    now = now or timezone.now()
    until = now + timedelta(minutes=minutes)
    target = _target(room_id, pseudonym)
    with outbox.atomic():
        Membership.objects.filter(room_id=room_id, user_id=target.user_id).update(
            muted_until=until)
        audit_append(action="mod.mute", actor=_actor(moderator, room_id),
                     subject=_member_subject(room_id, pseudonym),
                     details={"minutes": minutes, "until": until.isoformat()}, now=now)
        outbox.room_event(room_id=room_id, frame=events.member_muted(
            room_id=room_id, pseudonym=pseudonym, until=until.isoformat()))
    return until


def member_kick(*, room_id: str, pseudonym: str, moderator: User,
                now: datetime | None = None) -> None:
    """End a member's membership (a new key epoch starts) and drop the room from their open
    sockets. A lounge lets them back in with room.join; a case room does not.

    Raises:
        Forbidden, NotFound (see ``_target``); Conflict: not an active member.
    """
    _require_moderator(moderator)
    target = _target(room_id, pseudonym)
    with outbox.atomic():
        if not Membership.objects.filter(room_id=room_id, user_id=target.user_id,
                                         active=True).exists():
            raise Conflict("That pseudonym is not an active member.",
                           details={"pseudonym": pseudonym})
        services.membership_end(room_id=room_id, user=User(pk=target.user_id))
        audit_append(action="mod.kick", actor=_actor(moderator, room_id),
                     subject=_member_subject(room_id, pseudonym), details={}, now=now)
        outbox.room_event(room_id=room_id,
                          frame=events.member_kicked(room_id=room_id, pseudonym=pseudonym))
        outbox.room_evict(user_id=target.user_id, room_id=room_id,
                          frame=events.room_removed(room_id=room_id, reason="kicked"))


def member_ban(*, room_id: str, pseudonym: str, moderator: User, scope: str, reason: str,
               confirm_phi: bool = False, now: datetime | None = None) -> Ban:
    """Ban a member from the room (room.join refuses them; their sockets drop the room) or
    from the network (the account is deactivated: login, tickets and sockets are refused,
    and every live socket closes with 4403). The reason is kept sealed in a ``Ban`` row,
    which the audit entry names by id.

    Raises:
        Forbidden, NotFound (see ``_target``); ValidationFailed: unknown scope or no reason.
        PhiDetected: the reason looks like it names a patient and ``confirm_phi`` is unset.
    """
    _require_moderator(moderator)
    if scope not in SCOPES:
        raise ValidationFailed("scope is 'room' or 'network'.", details={"field": "scope"})
    reason = reason.strip()[:500]
    if not reason:
        raise ValidationFailed("Say why the member is banned.", details={"field": "reason"})
    target = _target(room_id, pseudonym)
    findings = phi_guard(reason, field="reason", confirmed=confirm_phi)
    now = now or timezone.now()
    actor, subject = _actor(moderator, room_id), _member_subject(room_id, pseudonym)
    with outbox.atomic():
        ban = Ban(room_id=room_id, pseudonym=pseudonym, scope=scope, banned_at=now)
        ban.reason_sealed = reasons.reason_seal(room_id=room_id, label=reasons.ban_label(
            str(ban.pk)), text=reason)
        ban.save(force_insert=True)
        if scope == "room":
            Membership.objects.filter(room_id=room_id, user_id=target.user_id).update(banned=True)
            services.membership_end(room_id=room_id, user=User(pk=target.user_id))
            outbox.room_evict(user_id=target.user_id, room_id=room_id,
                              frame=events.room_removed(room_id=room_id, reason="banned"))
        else:
            User.objects.filter(pk=target.user_id).update(is_active=False)
            outbox.close_user_sockets(user_id=target.user_id, code=protocol.CLOSE_FORBIDDEN)
        if findings:
            phi_confirmation_record(actor=actor, subject=subject, op="mod.ban",
                                    findings=findings)
        audit_append(action=f"mod.ban.{scope}", actor=actor, subject=subject,
                     details={"scope": scope, "ban": str(ban.pk)}, now=now)
        outbox.room_event(room_id=room_id, frame=events.member_banned(
            room_id=room_id, pseudonym=pseudonym, scope=scope))
    return ban


def member_unban(*, room_id: str, pseudonym: str, moderator: User, scope: str,
                 now: datetime | None = None) -> None:
    """Lift a room ban (the member may join again; lounges re-admit, case rooms need the
    member to be added back) or a network ban (the account is active again).

    Raises:
        Forbidden, NotFound; Conflict: there is no such ban to lift.
    """
    _require_moderator(moderator)
    if scope not in SCOPES:
        raise ValidationFailed("scope is 'room' or 'network'.", details={"field": "scope"})
    target = _target(room_id, pseudonym)
    with outbox.atomic():
        if scope == "room":
            n = Membership.objects.filter(room_id=room_id, user_id=target.user_id,
                                          banned=True).update(banned=False)
        else:
            n = User.objects.filter(pk=target.user_id, is_active=False).update(is_active=True)
        if not n:
            raise Conflict("There is no such ban.", details={"pseudonym": pseudonym,
                                                             "scope": scope})
        audit_append(action=f"mod.unban.{scope}", actor=_actor(moderator, room_id),
                     subject=_member_subject(room_id, pseudonym), details={"scope": scope},
                     now=now)


# --- reports ----------------------------------------------------------------------------------

def report_file(*, room_id: str, seq: int, reporter_pseudonym: str, reason: str,
                confirm_phi: bool = False, now: datetime | None = None) -> Report:
    """Any active member reports a message to the moderators. The reason is stored sealed
    (under the reporter's author key too) and the audit entry names the report by id only.

    Raises:
        NotFound: no such room or message.
        Forbidden: the reporter is not an active member of the room.
        Conflict: the same reporter already reported this message.
        ValidationFailed: an empty or over-long reason.
        PhiDetected: the reason looks like it names a patient and ``confirm_phi`` is unset.
    """
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise ValidationFailed("A reason of 1 to 500 characters is required.",
                               details={"field": "reason", "max": 500})
    _room_exists(room_id)
    member = roster.roster(room_id).get(reporter_pseudonym)
    if member is None or not Membership.objects.filter(
            room_id=room_id, user_id=member.user_id, active=True, banned=False).exists():
        raise Forbidden("Only members of the room can report its messages.",
                        details={"room": room_id})
    findings = phi_guard(reason, field="reason", confirmed=confirm_phi)
    subject = _message_subject(room_id, seq)
    with outbox.atomic():
        if not Message.objects.filter(room_id=room_id, seq=seq).exists():
            raise NotFound(f"No message {seq}.", details={"room": room_id, "seq": seq})
        # Lock the room row so two identical reports cannot both pass the check below.
        Room.objects.select_for_update().filter(pk=room_id).first()
        if Report.objects.filter(room_id=room_id, seq=seq, reporter=reporter_pseudonym).exists():
            raise Conflict("You already reported this message.", details={"seq": seq})
        report = Report.objects.create(
            room_id=room_id, seq=seq, reporter=reporter_pseudonym,
            reason_sealed=reasons.reason_seal(
                room_id=room_id, label=reasons.report_label(seq, reporter_pseudonym),
                text=reason, author=reporter_pseudonym))
        if findings:
            phi_confirmation_record(actor=reporter_pseudonym, subject=subject, op="report",
                                    findings=findings)
        audit_append(action="report.file", actor=reporter_pseudonym, subject=subject,
                     details={"report": report.pk}, now=now)
        # The moderators' consoles take it live (after commit, like every event).
        outbox.users_event(user_ids=_moderator_ids(), frame=protocol.event_frame(
            "report.filed", protocol.ReportFiled(report=report.pk), room=room_id))
    return report


def _moderator_ids() -> list[str]:
    """The active moderators and admins: who is told of a new report (a handful of people)."""
    return [str(pk) for pk in User.objects.filter(
        role__in=(Role.MODERATOR, Role.ADMIN), is_active=True).values_list("pk", flat=True)]


RESOLUTIONS = {"resolved": Report.Status.RESOLVED, "dismiss": Report.Status.DISMISSED,
               "dismissed": Report.Status.DISMISSED}


def report_resolve(*, report_id: int, moderator: User, resolution: str,
                   action: str = "resolved", confirm_phi: bool = False,
                   now: datetime | None = None) -> Report:
    """Close an open report as resolved or dismissed, with a note (stored sealed; the audit
    entry names the report and the outcome only).

    Raises:
        Forbidden: not a moderator. NotFound: no such report.
        Conflict: the report is already closed. ValidationFailed: unknown action.
        PhiDetected: the note looks like it names a patient and ``confirm_phi`` is unset.
    """
    _require_moderator(moderator)
    status = RESOLUTIONS.get(action)
    if status is None:
        raise ValidationFailed("action is 'resolved' or 'dismiss'.", details={"field": "action"},
                               fields={"action": "Expected 'resolved' or 'dismiss'."})
    resolution = resolution.strip()[:500]
    findings = phi_guard(resolution, field="resolution", confirmed=confirm_phi)
    now = now or timezone.now()
    with outbox.atomic():
        report = Report.objects.select_for_update().filter(pk=report_id).first()
        if report is None:
            raise NotFound(f"No report {report_id}.", details={"report": report_id})
        if report.status != Report.Status.OPEN:
            raise Conflict("The report is already closed.", details={"status": report.status})
        report.status, report.resolved_at = status, now
        report.resolution_sealed = reasons.reason_seal(
            room_id=report.room_id, label=reasons.resolution_label(report.pk),
            text=resolution) if resolution else None
        report.save(update_fields=["status", "resolution_sealed", "resolved_at"])
        actor = _actor(moderator, report.room_id)
        subject = _message_subject(report.room_id, report.seq)
        if findings:
            phi_confirmation_record(actor=actor, subject=subject, op="report.resolve",
                                    findings=findings)
        audit_append(action=f"report.{status}", actor=actor, subject=subject,
                     details={"report": report.pk}, now=now)
    return report


# --- Reads that are themselves audited ---------------------------------------------------------

def message_revisions(*, room_id: str, seq: int, moderator: User,
                      now: datetime | None = None) -> list[dict]:
    """The earlier bodies of an edited or deleted message, oldest first, each with when it was
    replaced — for moderators only, and audited: reading what an author took back is a
    disclosure, so one ``mod.revisions.read`` entry (codes and ids only) is appended in the
    same transaction as the read. A message never edited or deleted answers ``[]`` (and is
    audited all the same: the moderator looked).

    Raises:
        Forbidden: not a moderator.
        NotFound: no such message.
    """
    if not moderator.is_moderator:
        raise Forbidden("Only moderators may read earlier versions.")
    with outbox.atomic():
        msg = Message.objects.filter(room_id=room_id, seq=seq).first()
        if msg is None:
            raise NotFound(f"No message {seq}.", details={"seq": seq})
        rows = list(msg.revisions.order_by("revision"))
        audit_append(action="mod.revisions.read", actor=_actor(moderator, room_id),
                     subject=_message_subject(room_id, seq), details={"count": len(rows)},
                     now=now)
    return [{"revision": r.revision, "body": selectors.revision_open(msg, r),
             "replaced_at": r.replaced_at.isoformat()} for r in rows]
