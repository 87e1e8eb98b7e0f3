"""Opinion polls: a moderator asks a question in a lounge, or network-wide (in the general
lounge, which every verified physician may join), with an open and a close time. Voting,
the hidden results, the one-vote-per-physician blind index and the specialty breakdown are
the diagnosis polls' (consult/polls.py): one ``Poll`` table, ``kind = "opinion"``.

The question and the options are free text a moderator wrote: PHI-checked and sealed under
the lounge's key, like everything written in the lounge. Results are exported as CSV and
drawn as an SVG chart by consult/poll_export.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.utils import timezone

from bus import outbox
from consult import polls
from consult.models import Poll, PollKind
from core.errors import Forbidden, NotFound, ValidationFailed
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.guard import phi_guard
from physicians.models import User
from physicians.services import physician_require_verified
from rooms.lounges import GENERAL_LOUNGE
from rooms.models import Room, RoomKind

QUESTION_MAX_CHARS = 300
# The longest an opinion poll may take votes (SERMO's run for days, not months).
WINDOW_MAX = timedelta(days=90)
# How far ahead a poll may be scheduled to open.
OPENS_AHEAD_MAX = timedelta(days=365)
# Polls listed at once, newest first.
LIST_MAX = 20


def _lounge(room: object) -> str:
    """The lounge's room id; None (or "") is network-wide, held in the general lounge.

    Raises:
        ValidationFailed: not a string, or no such lounge.
    """
    if room is None or room == "":
        return GENERAL_LOUNGE
    if not isinstance(room, str) or not Room.objects.filter(pk=room, kind=RoomKind.LOUNGE).exists():
        raise ValidationFailed("No such lounge.", fields={"room": "A lounge id, or null for "
                                                                  "the whole network."})
    return room


def _window(opens_at: datetime | None, closes_at: datetime | None,
            now: datetime) -> tuple[datetime, datetime]:
    opens_at = opens_at or now
    if closes_at is None:
        raise ValidationFailed("'closes_at' is required.",
                               fields={"closes_at": "This field is required."})
    if closes_at <= opens_at:
        raise ValidationFailed("The poll must close after it opens.",
                               fields={"closes_at": "After opens_at."})
    if closes_at <= now:
        raise ValidationFailed("The close time has passed.",
                               fields={"closes_at": "In the future."})
    if closes_at - opens_at > WINDOW_MAX:
        raise ValidationFailed("A poll runs 90 days at most.",
                               fields={"closes_at": "At most 90 days after opens_at."})
    if opens_at - now > OPENS_AHEAD_MAX:
        raise ValidationFailed("A poll opens within a year.",
                               fields={"opens_at": "Within a year from now."})
    return opens_at, closes_at


def opinion_poll_create(*, user: User, room: object, question: object, options: object,
                        opens_at: datetime | None, closes_at: datetime | None,
                        language: str = "en", confirm_phi: bool = False,
                        now: datetime | None = None) -> Poll:
    """A moderator's poll in a lounge (``room``) or network-wide (``room`` null).

    Raises:
        Forbidden: not a moderator.
        ValidationFailed: no such lounge; a question empty or over 300 characters; 2 to 10
            options of 1 to 200 characters, each once; ``closes_at`` missing, not after
            ``opens_at`` or passed; a window over 90 days; an open time over a year ahead.
        PhiDetected: the question or an option looks like patient data (unless confirmed).
    """
    now = now or timezone.now()
    if not user.is_moderator:
        raise Forbidden("Only moderators make opinion polls.")
    room_id = _lounge(room)
    if not isinstance(question, str) or not question.strip() or len(
            question.strip()) > QUESTION_MAX_CHARS:
        raise ValidationFailed("The question is 1 to 300 characters.",
                               fields={"question": f"1 to {QUESTION_MAX_CHARS} characters."})
    question = question.strip()
    clean = polls.options_check(options)
    opens_at, closes_at = _window(opens_at, closes_at, now)
    lang = language if language in ("en", "es") else None
    findings = phi_guard(question, field="question", confirmed=confirm_phi, lang=lang)
    for i, option in enumerate(clean):
        findings += phi_guard(option, field=f"options.{i}", confirmed=confirm_phi, lang=lang)
    poll_id = uuid.uuid4()
    sealed = polls.poll_seal(room_id, str(poll_id), {"question": question, "options": clean})
    with outbox.atomic():
        poll = Poll.objects.create(
            id=poll_id, kind=PollKind.OPINION, room_id=room_id, options_epoch=sealed.epoch,
            options_key_id=sealed.key_id, options_sealed=sealed.blob, option_count=len(clean),
            created_at=now, opens_at=opens_at, closed_at=closes_at)
        if findings:  # "not patient data", confirmed: audited as for a case or a message
            phi_confirmation_record(actor=pseudonym_id(user_id=str(user.pk), room_id=room_id),
                                    subject=f"poll:{poll.pk}", op="opinion_poll.create",
                                    findings=findings)
        polls.poll_event(poll, None, now)
    return poll


def opinion_polls_list(*, user: User, room: str | None = None) -> list[Poll]:
    """The newest opinion polls (of one lounge, or of every lounge and the network), for a
    verified physician or a moderator.

    Raises:
        Forbidden: neither.
        NotFound: ``room`` is no lounge.
    """
    if not user.is_moderator:
        physician_require_verified(user=user)
    found = Poll.objects.filter(kind=PollKind.OPINION)
    if room:
        if not Room.objects.filter(pk=room, kind=RoomKind.LOUNGE).exists():
            raise NotFound("No such lounge.", details={"room": room[:64]})
        found = found.filter(room_id=room)
    return list(found.order_by("-created_at", "-id")[:LIST_MAX])
