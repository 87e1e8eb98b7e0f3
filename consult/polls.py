"""Diagnosis polls in a case: the poster or the accepting specialist lists options; every
physician who may open the case votes once; results stay hidden until you voted or the poll
closed, then come with a breakdown by specialty that hides small groups.

One vote per physician across processes is the database's job: ``PollVote`` holds no user id
but ``voter = HMAC(K_index, "poll-vote" ‖ poll ‖ user)`` (crypto.personal.blind_index, the
keyring's ``index`` key, as the e-mail login index), unique per poll; the second insert of
the same voter fails on the constraint whichever process takes it (``conflict``). Without the
key a dump cannot link a vote to a physician, nor two votes of one physician in two polls
(the poll id is in the MAC). The server, holding the key, can recompute a given physician's
MAC — which is how it knows you voted — so it is unlinkability at rest, not a secret ballot
against the running server (docs/security.md).

The same machinery counts the opinion polls moderators run in the lounges and network-wide
(consult/opinion_polls.py makes them): one ``Poll`` table with a ``kind``; an opinion poll
has no case but a lounge (``room_id``), a question sealed with its options, and a window
(``opens_at`` .. ``closed_at``) outside which it takes no vote.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from bus import outbox, protocol
from consult import notifications, selectors
from consult.models import Case, Poll, PollKind, PollVote, case_id_valid
from consult.states import CaseStatus
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crypto import envelope
from crypto.personal import blind_index
from phi.guard import phi_guard
from physicians.models import User
from physicians.services import physician_require_verified

# A poll lists 2 to 10 options (differential diagnoses), each a short line.
OPTIONS_MIN, OPTIONS_MAX, OPTION_MAX_CHARS = 2, 10, 200
# A specialty's votes are shown apart only from this many on: fewer would unmask voters
# (a specialty with one voter shows that voter's choice).
BREAKDOWN_MIN_VOTES = 5
# Longest a poll may be set to stay open for (it may be closed earlier).
CLOSES_IN_MAX_S = 30 * 24 * 3600
# Case states in which a poll takes votes (and a new poll may be made).
_LIVE = (CaseStatus.OPEN, CaseStatus.CLAIMED)


@dataclass(frozen=True)
class Results:
    counts: list[int]
    # (specialty, votes, counts per option), specialties with at least BREAKDOWN_MIN_VOTES.
    by_specialty: list[tuple[str, int, list[int]]]
    hidden_votes: int  # votes of the specialties not shown apart


def _voter(poll_id: str, user: User) -> str:
    return blind_index("poll-vote", f"{poll_id}\x00{user.pk}")


def poll_seal(room_id: str, poll_id: str, texts: list[str] | dict):
    """Options (a diagnosis poll) or ``{question, options}`` (an opinion poll), sealed under
    the room's key and bound to the poll's id."""
    return envelope.blob_seal(room_id=room_id, attachment_id=f"poll:{poll_id}",
                              body=json.dumps(texts).encode())


def poll_room(poll: Poll, case: Case | None) -> str:
    """The room whose members hear of the poll and whose key seals its texts."""
    return case.room_id if case is not None else poll.room_id


def _texts(poll: Poll, case: Case | None) -> list[str] | dict:
    return json.loads(envelope.blob_open(
        room_id=poll_room(poll, case), attachment_id=f"poll:{poll.pk}",
        sealed=envelope.Sealed(epoch=poll.options_epoch, key_id=poll.options_key_id,
                               blob=bytes(poll.options_sealed))))


def poll_options(poll: Poll, case: Case | None) -> list[str]:
    texts = _texts(poll, case)
    return texts["options"] if isinstance(texts, dict) else texts


def poll_question(poll: Poll, case: Case | None) -> str | None:
    """An opinion poll's question; None for a diagnosis poll (the case's question is it)."""
    texts = _texts(poll, case)
    return texts["question"] if isinstance(texts, dict) else None


def poll_closed(poll: Poll, now: datetime) -> bool:
    return poll.closed_at is not None and poll.closed_at <= now


def poll_opened(poll: Poll, now: datetime) -> bool:
    return poll.opens_at is None or poll.opens_at <= now


def poll_event(poll: Poll, case: Case | None, now: datetime) -> None:
    room = poll_room(poll, case)
    outbox.room_event(room_id=room, frame=protocol.event_frame(
        "poll.updated", protocol.PollUpdated(
            poll=str(poll.pk), case=str(case.pk) if case is not None else None,
            kind=poll.kind, votes=poll.votes, closed=poll_closed(poll, now),
            opened=poll_opened(poll, now)),
        room=room))


def _owner(case: Case, user: User) -> None:
    if user.pk not in (case.poster_id, case.accepted_by_id):
        raise Forbidden("Only the poster or the accepting specialist may do this.")


def options_check(options: object) -> list[str]:
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValidationFailed("List the options as strings.",
                               fields={"options": "A list of strings."})
    clean = [o.strip() for o in options]
    if not OPTIONS_MIN <= len(clean) <= OPTIONS_MAX:
        raise ValidationFailed(f"List {OPTIONS_MIN} to {OPTIONS_MAX} options.",
                               fields={"options": f"{OPTIONS_MIN} to {OPTIONS_MAX} options."})
    if any(not o or len(o) > OPTION_MAX_CHARS for o in clean):
        raise ValidationFailed("Each option is 1 to 200 characters.",
                               fields={"options": f"1 to {OPTION_MAX_CHARS} characters each."})
    if len(set(clean)) != len(clean):
        raise ValidationFailed("The options repeat.", fields={"options": "Each option once."})
    return clean


def poll_create(*, case_id: str, user: User, options: object, closes_in_s: int | None = None,
                confirm_phi: bool = False, now: datetime | None = None) -> tuple[Poll, Case]:
    """A poll in the case; its options are PHI-checked and sealed like the case's texts.

    Raises:
        NotFound: no such case for the caller. Forbidden: not its poster or accepting
            specialist. Conflict: the case is not open or claimed.
        ValidationFailed, PhiDetected: bad options or ``closes_in_s``.
    """
    now = now or timezone.now()
    case = selectors.case_get(case_id=case_id, user=user)
    _owner(case, user)
    clean = options_check(options)
    if closes_in_s is not None and not (isinstance(closes_in_s, int)
                                        and 60 <= closes_in_s <= CLOSES_IN_MAX_S):
        raise ValidationFailed("closes_in_s is 60 s to 30 days.",
                               fields={"closes_in_s": "60 to 2592000 seconds."})
    for i, option in enumerate(clean):
        phi_guard(option, field=f"options.{i}", confirmed=confirm_phi, lang=case.language)
    if case.status not in _LIVE:
        raise Conflict("Polls are for open and claimed cases.", details={"case": str(case.pk)})
    poll_id = uuid.uuid4()
    sealed = poll_seal(case.room_id, str(poll_id), clean)
    with outbox.atomic():
        poll = Poll.objects.create(
            id=poll_id, case=case, options_epoch=sealed.epoch, options_key_id=sealed.key_id,
            options_sealed=sealed.blob, option_count=len(clean), created_at=now,
            closed_at=now + timedelta(seconds=closes_in_s) if closes_in_s else None)
        poll_event(poll, case, now)
    return poll, case


def _poll_for(poll_id: str, user: User) -> tuple[Poll, Case | None]:
    """The poll, for whoever may open its case; an opinion poll, for every verified physician
    and every moderator (lounges are open to them all).

    Raises:
        NotFound: no such poll, or the caller may not open its case.
        Forbidden: an opinion poll, and the caller is no verified physician nor moderator.
    """
    poll = Poll.objects.filter(pk=poll_id).first() if case_id_valid(poll_id) else None
    if poll is None:
        raise NotFound("No such poll.", details={"poll": poll_id})
    if poll.kind == PollKind.OPINION:
        if not user.is_moderator:
            physician_require_verified(user=user)
        return poll, None
    try:
        case = selectors.case_get(case_id=str(poll.case_id), user=user)
    except NotFound:
        raise NotFound("No such poll.", details={"poll": poll_id}) from None
    return poll, case


def poll_vote(*, poll_id: str, user: User, option: object,
              now: datetime | None = None) -> tuple[Poll, Case | None]:
    """One vote for option ``option`` (0-based). Safe from any number of processes at once:
    the unique voter MAC lets exactly one vote per physician in.

    Raises:
        NotFound: no such poll for the caller. Forbidden: not a verified physician.
        Conflict: ``details.reason`` ``voted`` (voted already), ``closed`` (the poll or its
            case is closed) or ``not_open`` (an opinion poll before its open time).
        ValidationFailed: no such option.
    """
    now = now or timezone.now()
    poll, case = _poll_for(poll_id, user)
    physician = physician_require_verified(user=user)
    if not isinstance(option, int) or isinstance(option, bool) or not (
            0 <= option < poll.option_count):
        raise ValidationFailed("No such option.", fields={"option": "An option's index."})
    if poll_closed(poll, now) or (case is not None and case.status not in _LIVE):
        raise Conflict("This poll is closed.", details={"poll": str(poll.pk), "reason": "closed"})
    if not poll_opened(poll, now):
        raise Conflict("This poll is not open yet.",
                       details={"poll": str(poll.pk), "reason": "not_open",
                                "opens_at": poll.opens_at.isoformat()})
    try:
        with outbox.atomic():
            with transaction.atomic():  # the failed insert must not poison the outer one
                PollVote.objects.create(poll=poll, voter=_voter(str(poll.pk), user),
                                        option=option,
                                        specialty=physician.primary_specialty.slug)
            Poll.objects.filter(pk=poll.pk).update(votes=F("votes") + 1)
            poll.refresh_from_db(fields=["votes", "closed_at"])
            poll_event(poll, case, now)
    except IntegrityError:
        raise Conflict("You voted in this poll already.",
                       details={"poll": str(poll.pk), "reason": "voted"}) from None
    return poll, case


def poll_close(*, poll_id: str, user: User,
               now: datetime | None = None) -> tuple[Poll, Case | None]:
    """Close the poll now: its results show to every member.

    Raises:
        NotFound: no such poll for the caller. Forbidden: not the poster or the accepting
            specialist (an opinion poll: not a moderator). Conflict: closed already (two
            closes at once: one closes it, the other is this conflict).
    """
    poll, case = _poll_for(poll_id, user)
    if case is None:
        if not user.is_moderator:
            raise Forbidden("Only moderators close opinion polls.")
    else:
        _owner(case, user)
    with outbox.atomic():
        # The clock is read once the row is ours: a close that committed while this one
        # waited stamped ``closed_at`` no later than this clock, so it reads as closed. (Read
        # before the lock, a later stamp by the other close looked like a closing time still
        # to come, and the poll was closed, and announced, twice.)
        poll = Poll.objects.select_for_update().get(pk=poll.pk)
        now = now or timezone.now()
        if poll_closed(poll, now):
            raise Conflict("This poll is closed already.", details={"poll": str(poll.pk)})
        poll.closed_at = now
        poll.save(update_fields=["closed_at"])
        poll_event(poll, case, now)
        if case is not None:
            notifications.poll_closed(case=case, poll_id=str(poll.pk), votes=poll.votes,
                                      actor=user, now=now)
    return poll, case


def poll_get(*, poll_id: str, user: User) -> tuple[Poll, Case | None]:
    return _poll_for(poll_id, user)


def polls_of_case(*, case_id: str, user: User) -> tuple[list[Poll], Case]:
    case = selectors.case_get(case_id=case_id, user=user)
    return list(Poll.objects.filter(case=case).order_by("created_at", "id")), case


def poll_voted(poll: Poll, user: User) -> bool:
    return PollVote.objects.filter(poll=poll, voter=_voter(str(poll.pk), user)).exists()


def results_visible(poll: Poll, user: User, *, voted: bool, now: datetime) -> bool:
    """Results show once you voted or the poll closed; to moderators at any time (they may
    export them as CSV whenever they like: docs/polls.md)."""
    return voted or poll_closed(poll, now) or user.is_moderator


def results_chart_check(poll: Poll, user: User, now: datetime) -> None:
    """The chart shows what the poll's view shows: after your vote, the close, or to
    moderators.

    Raises:
        Conflict: ``details.reason: "hidden"``, the results are not shown to the caller yet.
    """
    if not results_visible(poll, user, voted=poll_voted(poll, user), now=now):
        raise Conflict("Vote first, or wait for the poll to close.",
                       details={"poll": str(poll.pk), "reason": "hidden"})


def results_export_check(poll: Poll, user: User, now: datetime) -> None:
    """The CSV export and the chart: moderators at any time, everyone else once it closed.

    Raises:
        Conflict: ``details.reason: "open"``, the poll is still open and the caller is not a
            moderator.
    """
    if not (user.is_moderator or poll_closed(poll, now)):
        raise Conflict("The results are published when the poll closes.",
                       details={"poll": str(poll.pk), "reason": "open"})


def poll_results(poll: Poll) -> Results:
    """Counts per option, and per specialty for those with enough votes to hide voters.

    Small specialties are left out; and when what is left out adds up to fewer than
    ``BREAKDOWN_MIN_VOTES`` votes (it could be one small specialty, readable by subtracting
    the shown groups from the totals), the smallest shown groups are left out too until the
    hidden remainder is at least that many votes or nothing is shown apart.
    """
    rows = (PollVote.objects.filter(poll=poll).values("specialty", "option")
            .annotate(n=Count("id")))
    return tally([(r["specialty"], r["option"], r["n"]) for r in rows], poll.option_count)


def tally(rows: list[tuple[str, int, int]], option_count: int) -> Results:
    """``poll_results`` on ``(specialty, option, votes)`` rows: a pure function."""
    counts = [0] * option_count
    groups: dict[str, list[int]] = {}
    for specialty, option, n in rows:
        counts[option] += n
        groups.setdefault(specialty, [0] * option_count)[option] += n
    shown = {s: c for s, c in groups.items() if sum(c) >= BREAKDOWN_MIN_VOTES}
    hidden = sum(counts) - sum(sum(c) for c in shown.values())
    while 0 < hidden < BREAKDOWN_MIN_VOTES and shown:
        smallest = min(shown, key=lambda s: (sum(shown[s]), s))
        hidden += sum(shown.pop(smallest))
    return Results(counts=counts, by_specialty=[(s, sum(c), c) for s, c in sorted(shown.items())],
                   hidden_votes=hidden)
