"""Posting a patient case (the minimal shape urgent routing needs; the full template extends
it). The summary is sealed under the case room's key; the poster is the room's first member.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from consult.errors import NotFound, ValidationFailed
from consult.models import Case, Specialty, Urgency, User
from consult.phi import phi_guard
from consult.phi_audit import phi_confirmation_record
from crypto import envelope
from crypto.pseudonyms import pseudonym_id
from rooms import fanout, protocol
from rooms.lounges import lounge_id

# Longest accepted summary: a de-identified vignette, not a chart.
SUMMARY_MAX_CHARS = 2000
LANGUAGES = ("en", "es", "fr", "pt", "de", "it")


def case_post(*, poster: User, specialty: str, summary: str, urgency: str = Urgency.ROUTINE,
              language: str = "en", subspecialty: str | None = None, confirm_phi: bool = False,
              now: datetime | None = None) -> Case:
    """Create the case and its room, and announce it in the specialty lounge (after commit).
    Routing an urgent case is the caller's next step (presence.dispatch.case_route_start).

    The summary passes the PHI guard first (consult/phi.py). With ``confirm_phi`` the poster
    says its findings are not patient data: the case is stored and the confirmation audited
    (the poster's pseudonym in the new case room, the finding kinds; never the text).

    Raises:
        ValidationFailed: unknown specialty, empty or over-long summary, bad urgency/language.
        PhiDetected: the summary looks like it carries patient identifiers (spans in details).
    """
    from rooms.services import case_room_create

    fields = {}
    summary = summary.strip()
    if not summary:
        fields["summary"] = "This field is required."
    elif len(summary) > SUMMARY_MAX_CHARS:
        fields["summary"] = f"At most {SUMMARY_MAX_CHARS} characters."
    if urgency not in Urgency.values:
        fields["urgency"] = f"One of {', '.join(Urgency.values)}."
    if language not in LANGUAGES:
        fields["language"] = f"One of {', '.join(LANGUAGES)}."
    spec = Specialty.objects.filter(slug=specialty).first()
    if spec is None:
        fields["specialty"] = f"Unknown specialty '{specialty}'."
    sub = None
    if subspecialty:
        sub = Specialty.objects.filter(slug=subspecialty, parent__slug=specialty).first()
        if sub is None:
            fields["subspecialty"] = f"'{subspecialty}' is not a subspecialty of '{specialty}'."
    if fields:
        raise ValidationFailed("Some fields are invalid.", fields=fields)
    # Both languages' patterns, whatever the case language: a Spanish case may quote an
    # English date, and scanning both costs microseconds.
    findings = phi_guard(summary, field="summary", confirmed=confirm_phi)
    now = now or timezone.now()
    with transaction.atomic():
        room = case_room_create(title=f"{spec.name_en} case", specialty_id=spec.pk,
                                members=[poster])
        case = Case(poster=poster, specialty=spec, subspecialty=sub, urgency=urgency,
                    language=language, room=room, posted_at=now,
                    summary_epoch=0, summary_key_id=0, summary_sealed=b"")
        sealed = envelope.blob_seal(room_id=room.id, attachment_id=f"case-summary:{case.pk}",
                                    body=summary.encode())
        case.summary_epoch, case.summary_key_id, case.summary_sealed = (
            sealed.epoch, sealed.key_id, sealed.blob)
        case.save(force_insert=True)
        if findings:
            phi_confirmation_record(actor=pseudonym_id(user_id=str(poster.pk), room_id=room.id),
                                    subject=f"case:{case.pk}", op="case.post",
                                    findings=findings)
        if urgency == Urgency.ROUTINE:
            card = protocol.CaseCard(id=str(case.pk), specialty=spec.slug, urgency=urgency,
                                     language=language, summary=summary, room=room.id,
                                     posted_at=now.isoformat())
            fanout.room_event(room_id=lounge_id(spec.slug), frame=protocol.event_frame(
                "case.posted", protocol.CasePosted(case=card), room=lounge_id(spec.slug)))
    return case


def case_get(*, case_id: str, user: User) -> Case:
    """The case, for its poster, its accepting specialist, members of its room, moderators.

    Raises:
        NotFound: no such case, or the caller may not see it.
    """
    from rooms.models import Membership

    case = Case.objects.select_related("specialty").filter(pk=case_id).first() if _uuid(
        case_id) else None
    if case is None or not (user.is_moderator or Membership.objects.filter(
            room_id=case.room_id, user=user, active=True).exists()):
        raise NotFound("No such case.", details={"case": case_id})
    return case


def case_metrics(case: Case) -> dict:
    """Seconds from posting to first offer and to acceptance (None until they happen)."""
    def since(t):
        return round((t - case.posted_at).total_seconds(), 3) if t else None

    return {"time_to_first_offer_s": since(case.first_offer_at),
            "time_to_accept_s": since(case.accepted_at),
            "time_to_first_response_s": since(case.first_response_at),
            "time_to_resolution_s": since(case.resolved_at)}


def _uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
