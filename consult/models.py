"""The consultation's tables: posted cases and the durable routing state of urgent ones.

``Routing`` is one row per urgent case being routed. The pure state machine
(consult/triage.py) runs on the row's JSON under the row's lock, so accepts, declines and
expiries from any process are serialized per case: exactly one accept wins, and two drivers
that find the same due deadline cannot both escalate (the second sees an already-advanced
state and does nothing). A restart loses nothing: the deadline is a column every driver polls.
"""

from __future__ import annotations

import uuid

from django.db import models

from consult.states import CaseAction, CaseStatus
from physicians.models import Specialty, User


class Urgency(models.TextChoices):
    ROUTINE = "routine", "Routine"
    URGENT = "urgent", "Urgent"


class Audience(models.TextChoices):
    """Who may open a case that is not private (consult.selectors.case_can_open)."""

    NETWORK = "network", "Every verified physician"
    SPECIALTY = "specialty", "Physicians of the case's specialty"
    PRIVATE = "private", "Its members only (urgent consults until published)"


class Sex(models.TextChoices):
    UNSTATED = "", "Not stated"
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"


# Age bands, never an age: a band is not an identifier.
AGE_BANDS = ("", "0-1", "1-4", "5-12", "13-17", "18-29", "30-44", "45-64", "65-79", "80+")


class Case(models.Model):
    """A posted patient case, the minimal shape urgent routing needs.

    The full case template (a later issue) adds structured fields next to these; the summary
    is stored only sealed under the case room's key (crypto.envelope.blob_seal), like messages.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poster = models.ForeignKey(User, on_delete=models.PROTECT, related_name="cases")
    specialty = models.ForeignKey(Specialty, on_delete=models.PROTECT, related_name="cases")
    subspecialty = models.ForeignKey(Specialty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE)
    language = models.CharField(max_length=8, default="en")
    summary_epoch = models.PositiveIntegerField()
    summary_key_id = models.PositiveBigIntegerField()
    summary_sealed = models.BinaryField()
    room = models.OneToOneField("rooms.Room", on_delete=models.PROTECT, related_name="case")
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="accepted_cases")
    # The figures the network lives by (seconds are derived from these stamps).
    posted_at = models.DateTimeField()
    first_offer_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)  # the first acceptance
    claimed_at = models.DateTimeField(null=True, blank=True)  # the latest move to claimed
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The resolution (consult.services.case_resolve): diagnosis, what was done, notes — a
    # JSON object sealed under the room's key like the summary; NULL until resolved.
    outcome_epoch = models.PositiveIntegerField(null=True, blank=True)
    outcome_key_id = models.PositiveBigIntegerField(null=True, blank=True)
    outcome_sealed = models.BinaryField(null=True, blank=True)
    # Seqs of the case room's messages the poster credited as most helpful.
    helpful = models.JSONField(default=list, blank=True)
    # Messages in the case room (kept by the message writer's transaction).
    replies = models.PositiveIntegerField(default=0)
    # Who may open it (routine cases; urgent ones are private until published).
    audience = models.CharField(max_length=16, choices=Audience.choices,
                                default=Audience.NETWORK)
    published = models.BooleanField(default=False)  # a resolved urgent case, now teaching
    # The structured template's free-text fields (title, chief complaint, history, findings)
    # as one JSON object sealed under the room's key; the question is the summary above.
    template_epoch = models.PositiveIntegerField(null=True, blank=True)
    template_key_id = models.PositiveBigIntegerField(null=True, blank=True)
    template_sealed = models.BinaryField(null=True, blank=True)
    age_band = models.CharField(max_length=8, blank=True, default="")
    sex = models.CharField(max_length=8, choices=Sex.choices, blank=True, default="")
    # Attachment ids (rooms.Attachment in the case room) of the images posted with it.
    images = models.JSONField(default=list, blank=True)
    # Specialists who accepted a second-specialty round (user ids): each holds capacity
    # while the case is open or claimed.
    consultants = models.JSONField(default=list, blank=True)
    # Distinct colleagues who opened it, distinct physicians who wrote in it (poster included).
    viewers = models.PositiveIntegerField(default=0)
    participants = models.PositiveIntegerField(default=0)
    # The poster's retry key (the POST's ``client_id``) as a keyed MAC of poster and key
    # (consult.services.case_post_key), never the key itself; NULL for a post without one.
    post_key = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "urgency"]),
                   models.Index(fields=["-posted_at", "-id"], name="case_feed_order")]
        constraints = [
            # A retried post finds the first case; two racing ones cannot both store one.
            models.UniqueConstraint(fields=["poster", "post_key"], name="case_poster_post_key"),
        ]


class SeenKind(models.TextChoices):
    VIEWER = "viewer", "Opened the case"
    PARTICIPANT = "participant", "Wrote in the case room"


class CaseTerm(models.Model):
    """One search term of a case's texts (title, question, chief complaint, history,
    findings, and the outcome once resolved) as a keyed blind token
    (crypto/search_terms.py; docs/search.md), written in the transaction that writes them."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    term = models.BinaryField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "term"], name="case_term_once")]
        indexes = [models.Index(fields=["term"], name="case_term_lookup")]


class CaseSeen(models.Model):
    """Who opened a case and who wrote in it, once each: the unique viewers and participants
    are counts of these rows (kept in the case row by the same transactions). Keyed by the
    case room, so the message writer's transaction can insert without reading the case."""

    room_id = models.CharField(max_length=64)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=SeenKind.choices)
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room_id", "user", "kind"],
                                               name="case_seen_once")]
        indexes = [models.Index(fields=["user", "kind"])]


class CaseAudit(models.Model):
    """One entry per lifecycle step of a case, written in the transaction that makes it.

    ``actor`` is the actor's pseudonym in the case room (``system`` for the driver's
    expiry), never a user id: the audit shows what happened without linking who did it
    across cases; the escrow (crypto/escrow.py) can unmask it like any pseudonym.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="audit")
    at = models.DateTimeField()
    action = models.CharField(max_length=16, choices=CaseAction.choices)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    actor = models.CharField(max_length=64)
    # Non-identifying facts of the step (capacity released, helpful seqs, specialty asked).
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"])]


class Routing(models.Model):
    case_id = models.CharField(max_length=64, primary_key=True)
    # NULL until routing starts (consult.services.case_open stores the row due at once).
    state = models.JSONField(null=True, blank=True)
    # Epoch seconds of the earliest open offer's expiry; NULL when nothing is due.
    next_deadline = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # User ids never to offer the case to when routing (re)starts: who handed it off.
    exclude = models.JSONField(default=list, blank=True)
    # A second-specialty round (``case_id`` is ``<case>+<n>``): the specialty it routes to.
    specialty = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["active", "next_deadline"])]


# A routing round's id: the case id for the first round, ``<case id>+<n>`` for the n-th
# (a second specialty asked for, consult.services.case_second_specialty).
ROUND_SEPARATOR = "+"


def routing_case_id(routing_id: str) -> str:
    """The case a routing round belongs to."""
    return routing_id.split(ROUND_SEPARATOR, 1)[0]


def routing_id_valid(value: str) -> bool:
    """Whether ``value`` can be a routing round's id."""
    if not isinstance(value, str):
        return False
    case, sep, n = value.partition(ROUND_SEPARATOR)
    return case_id_valid(case) and (not sep or (n.isdigit() and len(n) <= 4))


def case_id_valid(value: str) -> bool:
    """Whether ``value`` can be a case id (a UUID): anything else is no case, and must not
    reach a UUID column (PostgreSQL refuses the cast)."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


class OfferAlert(models.Model):
    """An urgent case offered by e-mail to an on-call specialist with no open socket
    (consult/alerts.py). The mailed link carries this row's id, signed; accepting through it
    stamps ``used_at`` under the row's lock, so the link works once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    routing_id = models.CharField(max_length=64)  # the routing round (case id, or <case>+<n>)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["routing_id", "user"],
                                               name="offer_alert_once")]


class PollKind(models.TextChoices):
    DIAGNOSIS = "diagnosis", "A diagnosis poll in a case"
    OPINION = "opinion", "An opinion poll in a lounge or network-wide"


class Poll(models.Model):
    """A diagnosis poll in a case (consult/polls.py), or an opinion poll a moderator runs in a
    lounge or network-wide (consult/opinion_polls.py). The options (and an opinion poll's
    question) are sealed under the case room's or the lounge's key like the texts written
    there; who made it is not stored (checked when it is made)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=PollKind.choices, default=PollKind.DIAGNOSIS)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="polls")
    # An opinion poll's lounge ("lounge-general" for a network-wide one); "" for a case's.
    room_id = models.CharField(max_length=64, blank=True, default="")
    opens_at = models.DateTimeField(null=True, blank=True)  # opinion polls: votes from then
    options_epoch = models.PositiveIntegerField()
    options_key_id = models.PositiveBigIntegerField()
    options_sealed = models.BinaryField()
    option_count = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    votes = models.PositiveIntegerField(default=0)  # kept by the voting transaction

    class Meta:
        indexes = [models.Index(fields=["case", "created_at"]),
                   models.Index(fields=["kind", "room_id", "created_at"])]


class PollVote(models.Model):
    """One vote, holding NO user id: ``voter`` is HMAC(K_index, "poll-vote", poll ‖ user)
    (crypto.personal.blind_index), unique per poll, so one physician votes once however
    many processes take the votes, and a dump cannot tell who voted (docs/security.md).
    No timestamp either: the order of votes next to socket logs would point at voters."""

    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="+")
    voter = models.CharField(max_length=64)
    option = models.PositiveSmallIntegerField()
    specialty = models.CharField(max_length=64)  # the voter's primary specialty, for breakdowns

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll", "voter"], name="poll_vote_once")]


class NotificationKind(models.TextChoices):
    ANSWER = "answer", "An answer on a case I posted or follow"
    CASE_STATE = "case_state", "A case I posted or follow changed state"
    OFFER_MISSED = "offer_missed", "An urgent offer to me expired unanswered"
    POLL_CLOSED = "poll_closed", "A poll on a case I posted or follow closed: results are out"
    MENTION = "mention", "A message mentioned me"
    REPLY = "reply", "A message replied to one of mine"


class Notification(models.Model):
    """One stored notification (consult/notifications.py): what happened and where, never
    the text of it (no message body, no case text), so the row needs no sealing."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    room_id = models.CharField(max_length=64, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)  # ids, statuses, counts: no free text
    at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # When the digest mail counted it (consult/digest.py): never counted twice.
    mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-id"]),
                   models.Index(fields=["user", "read_at"])]


class CaseFollow(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "case"], name="case_follow_once")]


class RoomMute(models.Model):
    """No notifications from ``room_id`` for ``user`` until ``until`` (a timed mute)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    room_id = models.CharField(max_length=64)
    until = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "room_id"], name="room_mute_once")]
