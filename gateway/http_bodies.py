"""The HTTP API's JSON bodies as msgspec structs, for the OpenAPI document (gateway/openapi.py).

Only the bodies no other module types: the socket's wire structs (``bus/protocol.py``) and
``physicians.selectors.Profile`` are used as they are. Each response struct is what its view
sends, field for field (a case is a ``CaseCard`` plus ``status`` and ``metrics``, as
``consult/views.py`` builds it), and forbids anything else: schemathesis fails a response that
carries a field not named here (tests/e2e/test_fuzz_http.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from adverse import codec as acodec
from adverse import report
from bus import protocol
from consult import codec
from physicians.selectors import Profile

# --- Bodies the views send that no other module types -------------------------------------

class Body(msgspec.Struct, forbid_unknown_fields=True):
    """Base of the response bodies below: nothing beyond what the view sends."""


# A case's HTTP shapes are consult/codec.py's structs, as consult/views.py sends them.
CaseCreated = codec.CaseReply
CaseDetail = codec.CaseReply
CaseWithdrawn = codec.MovedReply


class PhysicianBody(Body):
    physician: Profile


class SignUpAnswer(Body):
    message: str  # the same neutral answer for a new and a taken e-mail or licence


class Empty(Body):
    pass


class Ticket(Body):
    ticket: str
    expires_at: str
    url: str


class OtpStatus(Body):
    enabled: bool
    required: bool


class OtpEnrolment(Body):
    otpauth_uri: str
    secret: str
    digits: int
    period: int


class Schedule(Body):
    schedule: list[list[str]]  # [day, "HH:MM", "HH:MM"] per window
    time_zone: str


class Specialty(Body):
    slug: str
    name: str
    parent: str | None


class Specialties(Body):
    specialties: list[Specialty]


class Registry(Body):
    decision: str
    reason: str


class AuditedDecision(Body, rename={"from_": "from"}):
    from_: str
    to: str
    backend: str
    by_verifier: bool
    reason: str
    at: str


class VerificationEntry(Body, kw_only=True):
    """A licence as the verifier console shows it (physicians.selectors.verification_entry):
    the profile, the licence number, the registry's answer and the audit trail."""

    id: str
    email: str
    display_name: str
    first_name: str
    last_name: str
    role: str
    country: str
    jurisdiction: str
    specialty: str
    specialties: list[str]
    languages: list[str]
    licence_status: str
    verified: bool
    on_call: bool = False
    licence_number: str
    registry: Registry | None
    decisions: list[AuditedDecision]


class Pending(Body):
    pending: list[VerificationEntry]


class RecentlyDecided(Body):
    decided: list[VerificationEntry]


class Decision(Body, rename={"from_": "from"}):
    from_: str
    to: str
    at: str
    reason: str


class Decided(Body):
    physician: Profile
    decision: Decision


class ReportRoom(Body):
    id: str
    kind: str
    title: str


class Report(Body):
    id: int
    status: str
    room: ReportRoom
    seq: int
    reporter: str
    reporter_name: str | None  # the reporter's handle in the room, as authors are named
    reason: str
    reason_erased: bool
    created_at: str
    resolved_at: str | None
    resolution: str
    message: dict[str, Any] | None
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]


class Reports(Body):
    reports: list[Report]
    more: bool


class ReportBody(Body):
    report: Report


class Revision(Body):
    revision: int
    body: str  # "" once the author was erased
    replaced_at: str


class Revisions(Body):
    """A message's earlier bodies, oldest first (moderators; every read audited)."""

    room: str
    seq: int
    revisions: list[Revision]


class PhiConfirmation(Body):
    """One PHI-guard confirmation from the audit log: kinds and count, never the text."""

    id: int
    at: str
    actor: str
    subject: str
    op: str
    kinds: list[str]
    count: int


class PhiConfirmations(Body):
    entries: list[PhiConfirmation]
    more: bool


class AttachmentCard(Body):
    id: str
    content_type: str
    width: int
    height: int
    size: int


class AttachmentStored(Body):
    attachment: AttachmentCard


class ErrorBody(Body):
    code: str  # one of ERROR_CODES (an enum in the document)
    message: str
    fields: dict[str, str]
    details: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class Error(Body):
    error: ErrorBody


# --- Adverse events: adverse/codec.py's structs, which adverse/views.py builds and sends ----

AdverseAlertRead = acodec.AdverseAlertRead
AdverseAlerts = acodec.AdverseAlerts
AdversePairs = acodec.AdversePairs
AdverseReportBody = acodec.AdverseReportBody
AdverseReports = acodec.AdverseReports
AdverseSeries = acodec.AdverseSeries
AdverseSignals = acodec.AdverseSignals
AdverseVocabulary = acodec.AdverseVocabulary
AdverseRoute = acodec.AdverseRoute
AdverseOutcome = acodec.AdverseOutcome
AdverseChallenge = acodec.AdverseChallenge


# --- Request bodies (unknown fields are ignored by the views, so not forbidden here) ------

class Registration(msgspec.Struct, kw_only=True):
    email: str
    password: str
    first_name: str
    last_name: str
    country: str
    licence_number: str
    specialty: str
    jurisdiction: str = ""
    display_name: str = ""
    specialties: list[str] = []
    languages: list[str] = []


class Credentials(msgspec.Struct, kw_only=True):
    email: str
    password: str
    otp: str | None = None


class TicketRequest(msgspec.Struct, kw_only=True):
    """Empty with a session; e-mail and password (and a code for staff) without one."""

    email: str | None = None
    password: str | None = None
    otp: str | None = None


class OtpCode(msgspec.Struct, kw_only=True):
    otp: str


class ProfileRequest(msgspec.Struct, kw_only=True):
    """``PATCH /me``: each list given replaces the old one; the primary specialty stays."""

    languages: list[str] | None = None
    specialties: list[str] | None = None


class PasswordChange(msgspec.Struct, kw_only=True):
    current_password: str
    new_password: str


class ScheduleRequest(msgspec.Struct, kw_only=True):
    schedule: list[Any]  # windows: [day, "HH:MM", "HH:MM"] or {day, start, end}
    time_zone: str


class CaseRequest(msgspec.Struct, kw_only=True):
    """The structured template (docs/cases.md); the one-field form (``summary`` as the
    question, routine unless said otherwise) is still accepted."""

    specialty: str
    question: str = ""
    urgency: Literal["routine", "urgent"] = "routine"
    summary: str = ""
    title: str = ""
    age_band: str = ""
    sex: str = ""
    chief_complaint: str = ""
    history: str = ""
    findings: str = ""
    language: str = "en"
    audience: Literal["network", "specialty"] = "network"
    subspecialty: str | None = None
    confirm_phi: bool = False
    # The retry key, as message.send's: a repeat with the same key answers 200 with the
    # first case instead of storing a second (docs/cases.md, "Posting again").
    client_id: protocol.ClientId | None = None


class CaseResolveRequest(msgspec.Struct, kw_only=True):
    outcome: protocol.CaseOutcome
    helpful: list[int] = []
    confirm_phi: bool = False


class CaseInviteRequest(msgspec.Struct, kw_only=True):
    room: str
    pseudonym: str


class SecondSpecialtyRequest(msgspec.Struct, kw_only=True):
    specialty: str


class DecisionRequest(msgspec.Struct, kw_only=True):
    reason: str = ""
    confirm_phi: bool = False


class ResolveRequest(msgspec.Struct, kw_only=True):
    resolution: str
    action: str = "resolved"
    confirm_phi: bool = False


class AdverseDrugRequest(msgspec.Struct, kw_only=True):
    name: str
    dose: str = ""
    route: AdverseRoute = "unknown"
    start_year: int | None = None
    stop_year: int | None = None


class AdverseReactionRequest(msgspec.Struct, kw_only=True):
    term: str
    outcome: AdverseOutcome = "unknown"
    onset_days: int | None = None


class AdverseSeriousnessRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    death: bool = False
    life_threatening: bool = False
    hospitalisation: bool = False
    disability: bool = False
    congenital_anomaly: bool = False
    other_important: bool = False


class AdverseReportRequest(msgspec.Struct, kw_only=True):
    """adverse/report.py ``draft_parse``: country and specialty default to the reporter's."""

    suspect_drugs: list[AdverseDrugRequest]
    reactions: list[AdverseReactionRequest]
    concomitant_drugs: list[AdverseDrugRequest] = []
    seriousness: AdverseSeriousnessRequest | None = None
    dechallenge: AdverseChallenge = "unknown"
    rechallenge: AdverseChallenge = "unknown"
    age_band: Literal[report.AGE_BANDS] = "unknown"
    sex: Literal[report.SEXES] = "unknown"
    country: str | msgspec.UnsetType = msgspec.UNSET  # default: the reporter's own
    reporter_specialty: str | msgspec.UnsetType = msgspec.UNSET  # default: their primary one
    narrative: str = ""
    language: Literal[report.LANGUAGES] = "en"
    case: str | None = None
    confirm_phi: bool = False


# --- Offer alerts and diagnosis polls (consult/alerts.py, consult/polls.py) -------------------

class OfferAlertInfo(Body):
    case: str
    specialty: str
    open: bool
    used: bool


class OfferAlertBody(Body):
    alert: OfferAlertInfo


class OfferAlertAccepted(Body):
    case: str
    room: str


class PollRequest(msgspec.Struct, kw_only=True):
    options: list[str]
    closes_in_s: int | None = None
    confirm_phi: bool = False


class VoteRequest(msgspec.Struct, kw_only=True):
    option: int


class OpinionPollRequest(msgspec.Struct, kw_only=True):
    """consult/opinion_polls.py: a moderator's poll; ``room`` null is network-wide."""

    question: str
    options: list[str]
    closes_at: str  # ISO 8601 with its offset, after opens_at
    opens_at: str | None = None  # default: now
    room: str | None = None  # a lounge id ("lounge-<specialty>")
    language: str = "en"  # the PHI guard's language for the texts
    confirm_phi: bool = False
class SearchRequest(msgspec.Struct, kw_only=True):
    """``POST /api/v1/search`` (consult/search.py): the words, and which kind of hits."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: Literal["cases", "messages"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 20
    offset: Annotated[int, msgspec.Meta(ge=0, le=500)] = 0
