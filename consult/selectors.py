"""Reads of cases, with access checks: who may open a case, the feed, the dashboard.

Who may open a case (``case_can_open``): its members (poster, accepting specialist, whoever
they invited, everyone who opened it before) and moderators always; a routine case — or an
urgent one its poster published as a teaching case — every active physician with a verified
licence (``audience: network``) or those whose specialties include the case's
(``audience: specialty``). A withdrawn case stays with its members. Anyone else gets
``not_found``: a case's existence is not revealed.
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from consult.models import Audience, Case, CaseSeen, SeenKind, Urgency, case_id_valid
from consult.states import CaseStatus
from core.errors import NotFound, ValidationFailed
from physicians.models import Physician, User
from physicians.states import LicenceStatus
from rooms.models import Membership


def _verified(user: User) -> Physician | None:
    if not getattr(user, "pk", None) or not user.is_active:
        return None
    physician = (Physician.objects.filter(user_id=user.pk)
                 .select_related("primary_specialty__parent")
                 .prefetch_related("specialties__parent").first())
    return physician if physician and physician.licence_status == LicenceStatus.VERIFIED else None


def physician_verified(user: User) -> Physician | None:
    """``user``'s physician when it is active with a verified licence, else None."""
    return _verified(user)


def specialties_of(physician: Physician) -> set[str]:
    """The physician's specialties and their parents (an electrophysiologist is a
    cardiologist too), by slug."""
    out: set[str] = set()
    for s in [physician.primary_specialty, *physician.specialties.all()]:
        if s is not None:
            out.add(s.slug)
            if s.parent is not None:
                out.add(s.parent.slug)
    return out


def _member(case: Case, user: User) -> bool:
    return Membership.objects.filter(room_id=case.room_id, user=user, active=True).exists()


def case_can_open(case: Case, user: User) -> bool:
    """Whether ``user`` may open ``case`` (see the module docstring)."""
    if user.is_moderator or case.poster_id == user.pk or _member(case, user):
        return True
    if case.status == CaseStatus.WITHDRAWN or not (
            case.urgency == Urgency.ROUTINE or case.published):
        return False
    physician = _verified(user)
    if physician is None:
        return False
    if case.audience == Audience.SPECIALTY:
        return case.specialty.slug in specialties_of(physician)
    return case.audience == Audience.NETWORK


def case_find(case_id: str) -> Case | None:
    if not case_id_valid(case_id):
        return None
    return Case.objects.select_related("specialty").filter(pk=case_id).first()


def case_get(*, case_id: str, user: User) -> Case:
    """The case, for whoever may open it.

    Raises:
        NotFound: no such case, or the caller may not see it.
    """
    case = case_find(case_id)
    if case is None or not case_can_open(case, user):
        raise NotFound("No such case.", details={"case": case_id})
    return case


def case_metrics(case: Case) -> dict:
    """Seconds from posting to first offer, acceptance, first response and resolution (None
    until they happen), and the counts."""
    def since(t):
        return round((t - case.posted_at).total_seconds(), 3) if t else None

    return {"time_to_first_offer_s": since(case.first_offer_at),
            "time_to_accept_s": since(case.accepted_at),
            "time_to_first_response_s": since(case.first_response_at),
            "time_to_resolution_s": since(case.resolved_at),
            "viewers": case.viewers, "participants": case.participants,
            "replies": case.replies}


# --- the feed ---------------------------------------------------------------------------------

FEED_PAGE = 20
FEED_PAGE_MAX = 100


@dataclass(frozen=True)
class FeedFilter:
    specialty: str | None = None
    status: str | None = None
    urgency: str | None = None
    language: str | None = None
    mine: bool = False
    answered_by_me: bool = False


_UNREAD = object()


def cases_visible(user: User, physician: Physician | None | object = _UNREAD) -> QuerySet[Case]:
    """Every case ``user`` may open, as one query (``case_can_open`` in SQL). ``physician``
    is ``user``'s verified physician (None: not verified) when the caller read it already."""
    qs = Case.objects.select_related("specialty")
    if user.is_moderator:
        return qs
    member = Exists(Membership.objects.filter(room_id=OuterRef("room_id"), user=user,
                                              active=True))
    mine = Q(poster=user) | Q(member)
    if physician is _UNREAD:
        physician = _verified(user)
    if physician is None:
        return qs.filter(mine)
    public = (Q(urgency=Urgency.ROUTINE) | Q(published=True)) & ~Q(status=CaseStatus.WITHDRAWN)
    audience = Q(audience=Audience.NETWORK) | Q(audience=Audience.SPECIALTY,
                                                 specialty__slug__in=specialties_of(physician))
    return qs.filter(mine | (public & audience))


def _cursor_encode(case: Case) -> str:
    raw = f"{case.posted_at.isoformat()}|{case.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, str]:
    """Raises: ValidationFailed — not a cursor this feed gave out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, case_id = raw.split("|")
        at = datetime.fromisoformat(stamp)
        if not case_id_valid(case_id) or at.tzinfo is None:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Not a feed cursor.", fields={"cursor": "Use the cursor "
                                                                      "the feed gave."}) from None
    return at, case_id


def case_feed(*, user: User, filters: FeedFilter, cursor: str | None = None,
              limit: int = FEED_PAGE) -> tuple[list[Case], str | None]:
    """A page of the cases ``user`` may open, newest first, and the cursor of the next page
    (None at the end). Stable under inserts: the cursor is the last case's (posted_at, id).

    Raises:
        ValidationFailed: a bad cursor.
    """
    qs = cases_visible(user)
    if filters.specialty:
        qs = qs.filter(specialty__slug=filters.specialty)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.urgency:
        qs = qs.filter(urgency=filters.urgency)
    if filters.language:
        qs = qs.filter(language=filters.language)
    if filters.mine:
        qs = qs.filter(poster=user)
    if filters.answered_by_me:
        qs = qs.filter(Exists(CaseSeen.objects.filter(
            room_id=OuterRef("room_id"), user=user, kind=SeenKind.PARTICIPANT))).exclude(
            poster=user)
    if cursor:
        at, case_id = _cursor_decode(cursor)
        qs = qs.filter(Q(posted_at__lt=at) | Q(posted_at=at, id__lt=case_id))
    limit = max(1, min(limit, FEED_PAGE_MAX))
    page = list(qs.order_by("-posted_at", "-id")[:limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, _cursor_encode(page[-1]) if more else None


# --- the dashboard ---------------------------------------------------------------------------

# SERMO's published figures, beside which the network's own are shown: SERMO's own claims
# for its patient-case consults (sermo.com marketing of case consults, as quoted in issue 12,
# "Cases as crowd consults"): an average first response of 1.5 hours, cases resolved within
# 24 hours. Claims as published, not measured here; SERMO's support page on patient cases
# (support.sermo.com, "Share and solve patient cases") describes the solve flow, not figures.
SERMO = {"first_response_avg_s": 1.5 * 3600, "resolution_within_s": 24 * 3600,
         "source": "SERMO's published claims for patient-case consults (sermo.com; quoted "
                   "in Curbside issue 12): first response 1.5 h on average, resolution within "
                   "24 h. Not measured by Curbside."}
ACCEPT_WITHIN = timedelta(minutes=5)
DASHBOARD_WEEKS = 12


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def dashboard(*, now: datetime | None = None, weeks: int = DASHBOARD_WEEKS) -> dict:
    """Medians per specialty and ISO week over the last ``weeks`` weeks: time to first
    response and to resolution, cases, replies; for urgent cases the share accepted within
    five minutes. Aggregates only: nothing about who posted or answered."""
    now = now or timezone.now()
    rows = (Case.objects.filter(posted_at__gte=now - timedelta(weeks=weeks))
            .exclude(status=CaseStatus.WITHDRAWN)
            .values_list("specialty__slug", "posted_at", "first_response_at", "resolved_at",
                         "urgency", "accepted_at", "replies", "participants"))
    groups: dict[tuple[str, str], list] = {}
    for slug, posted, first, resolved, urgency, accepted, replies, participants in rows:
        year, week, _ = posted.isocalendar()
        groups.setdefault((slug, f"{year}-W{week:02d}"), []).append(
            (posted, first, resolved, urgency, accepted, replies, participants))
    out = []
    for (slug, week), cases in sorted(groups.items()):
        first = [(f - p).total_seconds() for p, f, *_ in cases if f]
        resolved = [(r - p).total_seconds() for p, _, r, *_ in cases if r]
        urgent = [(p, a) for p, _, _, u, a, *_ in cases if u == Urgency.URGENT]
        within = sum(1 for p, a in urgent if a and a - p <= ACCEPT_WITHIN)
        out.append({
            "specialty": slug, "week": week, "cases": len(cases),
            "median_first_response_s": _median(first),
            "median_resolution_s": _median(resolved),
            "resolved_within_24h_share": round(
                sum(1 for r in resolved if r <= SERMO["resolution_within_s"]) / len(cases), 3),
            "median_participants": _median([c[6] for c in cases]),
            "median_replies": _median([c[5] for c in cases]),
            "urgent": len(urgent),
            "urgent_accepted_within_5min_share": round(within / len(urgent), 3)
            if urgent else None,
        })
    return {"weeks": weeks, "generated_at": now.isoformat(), "rows": out, "sermo": SERMO}


def cases_by_room(*, room_ids: list[str]) -> dict[str, Case]:
    """The cases of these case rooms, by room id (rooms without a case are left out)."""
    return {c.room_id: c for c in Case.objects.select_related("specialty").filter(room_id__in=room_ids)}


def cases_of(case_ids: list) -> list[Case]:
    """These cases (no access check: the caller has done it)."""
    return list(Case.objects.select_related("specialty").filter(pk__in=case_ids))
