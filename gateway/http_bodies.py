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


# --- Adverse events (adverse/views.py), each as its view builds it ------------------------

AdverseRoute = Literal[report.ROUTES]
AdverseOutcome = Literal[report.OUTCOMES]
AdverseChallenge = Literal[report.CHALLENGE]


class AdverseDrug(Body):
    name: str
    dose: str
    route: AdverseRoute
    start_year: int | None
    stop_year: int | None
    ingredient: str  # normalised (adverse/normalise.py); "unknown" if not in the table


class AdverseReaction(Body):
    term: str
    outcome: AdverseOutcome
    onset_days: int | None
    code: str  # normalised reaction code; "unknown" if not in the table


class AdverseSeriousness(Body):
    death: bool
    life_threatening: bool
    hospitalisation: bool
    disability: bool
    congenital_anomaly: bool
    other_important: bool


class AdverseVersions(Body):
    drugs: str
    reactions: str


class AdverseReport(Body):
    """A report as ``adverse/views.py`` sends it: its id and time, then the sealed document
    (``Draft.as_dict`` plus ``reported_at`` and the normalisation versions; never ``group``)."""

    id: str
    created_at: str
    suspect_drugs: list[AdverseDrug]
    concomitant_drugs: list[AdverseDrug]
    reactions: list[AdverseReaction]
    seriousness: AdverseSeriousness
    dechallenge: AdverseChallenge
    rechallenge: AdverseChallenge
    age_band: Literal[report.AGE_BANDS]
    sex: Literal[report.SEXES]
    country: str
    reporter_specialty: str
    narrative: str
    language: Literal[report.LANGUAGES]
    case: str | None
    serious: bool
    reported_at: str
    normalisation: AdverseVersions


class AdverseReportBody(Body):
    report: AdverseReport


class AdverseReports(Body):
    reports: list[AdverseReport]


class AdverseReactionLabel(Body):
    code: str
    en: str
    es: str


class AdverseVocabulary(Body):
    seriousness: list[str]
    outcomes: list[str]
    challenge: list[str]
    age_bands: list[str]
    sexes: list[str]
    routes: list[str]
    countries: list[str]
    reactions: list[AdverseReactionLabel]
    ingredients: list[str]
    versions: AdverseVersions
    officer: bool
    my_country: str | None


class AdverseStats(Body):
    """``adverse.signals.Stats.as_dict``: the 2×2 table and its statistics."""

    a: int
    b: int
    c: int
    d: int
    prr: float
    chi2: float
    ror: float
    ror_lower: float
    ror_upper: float
    ic: float
    ic025: float
    corrected: bool
    evans: bool


class AdversePair(AdverseStats):
    """A row of ``adverse.selectors.pair_stats``."""

    drug: str
    reaction: str
    unknown: bool
    signal: int | None
    first_week: str | None


class AdversePairs(Body):
    pairs: list[AdversePair]


class AdverseSignal(Body):
    signal: int
    drug: str
    reaction: str
    reaction_label: dict[str, str]  # {"en": ..., "es": ...}; empty for an unlisted code
    first_week: str
    detected_at: str
    at_detection: AdverseStats
    current: AdversePair | None


class AdverseSignals(Body):
    week: str
    signals: list[AdverseSignal]


class AdverseWeek(Body):
    week: str
    reports: int
    serious: int


class AdverseSeries(Body):
    drug: str
    reaction: str
    weeks: list[AdverseWeek]


class AdverseAlert(Body):
    id: int
    signal: int
    drug: str
    reaction: str
    first_week: str
    created_at: str
    read_at: str | None


class AdverseAlerts(Body):
    alerts: list[AdverseAlert]


class AdverseAlertRead(Body):
    alert: int
    read_at: str


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


class SearchRequest(msgspec.Struct, kw_only=True):
    """``POST /api/v1/search`` (consult/search.py): the words, and which kind of hits."""

    q: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: Literal["cases", "messages"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 20
    offset: Annotated[int, msgspec.Meta(ge=0, le=500)] = 0
