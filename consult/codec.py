"""RoutingState ⇄ JSON, so the state machine's value can live in a database row; and the
HTTP JSON shapes of the case API."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

import msgspec

from bus import protocol
from consult.triage import Offer, RouteStatus, RoutingPolicy, RoutingState

_SETS = ("family", "offered", "declined", "expired", "excluded")


def state_dump(state: RoutingState) -> dict[str, Any]:
    doc = asdict(state)
    for name in _SETS:
        doc[name] = sorted(getattr(state, name))
    doc["wider"] = list(state.wider)
    doc["status"] = str(state.status)
    doc["outstanding"] = [asdict(o) for o in state.outstanding]
    return doc


def state_load(doc: dict[str, Any]) -> RoutingState:
    doc = dict(doc)
    for name in _SETS:
        doc[name] = frozenset(doc.get(name, ()))  # rows stored before a set existed lack it
    doc["wider"] = tuple(doc["wider"])
    doc["status"] = RouteStatus(doc["status"])
    policy = dict(doc["policy"])
    policy["widen"] = tuple((float(a), int(n)) for a, n in policy.get("widen", ()))
    doc["policy"] = RoutingPolicy(**policy)
    doc["outstanding"] = tuple(Offer(**o) for o in doc["outstanding"])
    return RoutingState(**doc)


# --- HTTP JSON shapes of the case API (consult/views.py), as structs so they can be described
# (gateway/openapi.py) and every answer is checked against them when built ---------------------

class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CaseMetrics(_Shape):
    time_to_first_offer_s: float | None
    time_to_accept_s: float | None
    time_to_first_response_s: float | None
    time_to_resolution_s: float | None
    viewers: int
    participants: int
    replies: int


class CaseView(_Shape):
    """A case as ``GET /api/v1/cases/<id>`` shows it to whoever may open it. Nothing in it
    says who posted or answered; ``mine`` is only the caller's own relation to it."""

    id: str
    specialty: str
    urgency: str
    language: str
    summary: str  # the question
    room: str
    posted_at: str
    title: str
    audience: str
    images: list[str]
    status: str
    published: bool
    age_band: str
    sex: str
    chief_complaint: str
    history: str
    findings: str
    mine: bool
    metrics: CaseMetrics
    helpful: list[int]
    outcome: protocol.CaseOutcome | None = None
    following: bool = False  # the caller follows the case (case.follow): its news in the inbox


class RoutingSummary(_Shape):
    status: str
    tier: int
    offered: int


class CaseReply(_Shape):
    case: CaseView
    routing: RoutingSummary | None = None


class FeedItem(_Shape):
    """A case card in the feed: the question, never who posted or answered."""

    id: str
    specialty: str
    urgency: str
    language: str
    summary: str
    room: str
    posted_at: str
    title: str
    audience: str
    images: list[str]
    status: str
    published: bool
    metrics: CaseMetrics


class FeedPage(_Shape):
    cases: list[FeedItem]
    next: str | None


class RoundReply(_Shape):
    """A second-specialty round: its id (offers name it: ``<round>:<n>``) and how it
    started."""

    case: str
    round: str
    routing: RoutingSummary


class MovedReply(_Shape):
    case: str
    status: str


class ImageReply(_Shape):
    case: str
    attachment: str


class DashboardRow(_Shape):
    specialty: str
    week: str  # ISO week, e.g. 2026-W49
    cases: int
    median_first_response_s: float | None
    median_resolution_s: float | None
    resolved_within_24h_share: float
    median_participants: float | None
    median_replies: float | None
    urgent: int
    urgent_accepted_within_5min_share: float | None


class SermoFigures(_Shape):
    first_response_avg_s: float
    resolution_within_s: float
    source: str


class Dashboard(_Shape):
    weeks: int
    generated_at: str
    rows: list[DashboardRow]
    sermo: SermoFigures


def shape(value: msgspec.Struct) -> dict:
    """A struct as the plain dict JsonResponse sends."""
    return msgspec.to_builtins(value)


# --- Diagnosis polls (consult/polls.py) -------------------------------------------------------


class SpecialtyResults(_Shape):
    specialty: str
    votes: int
    counts: list[int]


class PollResults(_Shape):
    counts: list[int]  # per option, in the options' order
    by_specialty: list[SpecialtyResults]  # only specialties with at least 5 votes
    hidden_votes: int  # votes of the specialties not shown apart


class PollView(_Shape):
    id: str
    case: str | None  # null for an opinion poll
    kind: Literal["diagnosis", "opinion"]
    room: str  # the case room, or the opinion poll's lounge ("lounge-general": network-wide)
    question: str | None  # an opinion poll's question (a diagnosis poll's is the case's)
    options: list[str]
    votes: int
    closed: bool
    opened: bool  # false before an opinion poll's open time
    opens_at: str | None
    closes_at: str | None
    voted: bool
    # null until the caller voted or the poll closed (moderators: always shown)
    results: PollResults | None


class PollReply(_Shape):
    poll: PollView


class PollList(_Shape):
    polls: list[PollView]
    can_create: bool = False  # the caller may make a poll here (POST to the same path)


# --- Search (consult/search.py, docs/search.md) ----------------------------------------------


class SearchHit(_Shape):
    kind: str  # case | message
    room: str
    case: str | None
    seq: int | None
    title: str
    snippet: str
    at: str
    matched: int


class SearchPage(_Shape):
    hits: list[SearchHit]
    next: int | None  # ``offset`` of the next page; null at the end
