"""Whom to offer an urgent case to: a pure state machine, time passed in, never read.

A driver (the consult service) calls these functions and carries out the actions they return:
push ``Offer`` to the physician's sockets (and ``store.mark_offered``, and a deadline in the
deadline queue), push ``offer.closed`` for ``CloseOffer``, show ``Escalated`` to the poster,
post ``LoungeCall`` to the specialty lounge. Nothing here does I/O, so every tier, expiry and
race is tested with plain values and a number for ``now``.

Tiers, tried in order; the next tier opens when the current one has nobody left to ask and
no offer still open — or, with ``policy.escalate_after_s``, once the case has waited that long
with an offer slot free (a tier's candidates may still be filled in later if they become
eligible, ranked ahead of the current tier):

1. online, available, on-call specialists of the case's specialty (or its subspecialties);
2. online, available specialists of that specialty who are not on call;
3. online, available physicians of the parent and related specialties (on-call first);
4. a call to the specialty lounge; the case then waits, and each matching specialist who
   comes online is offered it (``route_on_online``).

How many offers are open at once widens with the wait (``policy.widen``): ``k`` when the case
is posted, more at each step nobody has accepted by (``RoutingState.widen_at`` is the next
step, a deadline like an offer's expiry, handled by ``route_on_expiry``). A case answered
quickly disturbs few; one nobody takes is asked of more.

Everyone offered must have free capacity (fewer than ``max_open_consults`` open urgent
consults) and is never the poster. Within a tier: subspecialty match first, then lower load,
then a language match with the case, then fairness (least recently offered first).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

LOUNGE_TIER = 4


class RouteStatus(StrEnum):
    OFFERING = "offering"  # offers are out
    LOUNGE_CALLED = "lounge-called"  # tiers 1-3 exhausted, the lounge was called; waiting
    WAITING = "waiting"  # nobody left to ask and the lounge was already called
    CLAIMED = "claimed"  # someone accepted; final
    WITHDRAWN = "withdrawn"  # the poster withdrew the case; final


# No transition leaves these.
FINAL = frozenset({RouteStatus.CLAIMED, RouteStatus.WITHDRAWN})


class OfferNotOpen(Exception):
    """An accept from someone who holds no open offer for the case (nor a lounge call)."""

    def __init__(self, case_id: str, user_id: str) -> None:
        super().__init__(f"user {user_id!r} holds no open offer for case {case_id!r}")
        self.case_id = case_id
        self.user_id = user_id


class AlreadyClaimed(Exception):
    def __init__(self, case_id: str, winner: str) -> None:
        super().__init__(f"case {case_id!r} was already claimed by {winner!r}")
        self.case_id = case_id
        self.winner = winner


class RoutingClosed(Exception):
    """An accept after the poster withdrew the case."""

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id!r} was withdrawn")
        self.case_id = case_id


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Parents and related specialties by slug (physicians/taxonomy.py's data, without Django)."""

    parents: Mapping[str, str | None]
    related: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_specialties(
        cls,
        rows: Iterable[tuple[str, str | None, str, str]],
        related: Mapping[str, Sequence[str]],
    ) -> Taxonomy:
        """From ``physicians.taxonomy.SPECIALTIES`` and ``RELATED``."""
        return cls(parents={slug: parent for slug, parent, *_ in rows}, related=related)

    def parent(self, slug: str) -> str | None:
        return self.parents.get(slug)

    def children(self, slug: str) -> tuple[str, ...]:
        return tuple(sorted(s for s, p in self.parents.items() if p == slug))

    def wider(self, slug: str) -> tuple[str, ...]:
        """Tier 3: the parent, then related specialties, in that order, without duplicates."""
        out: list[str] = []
        for s in (self.parent(slug), *self.related.get(slug, ())):
            if s is not None and s != slug and s not in out:
                out.append(s)
        return tuple(out)

    def reach(self, slug: str) -> set[str]:
        """Specialties whose physicians may be asked about a case of ``slug`` (tiers 1–3)."""
        return {slug, *self.children(slug), *self.wider(slug)}


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    k: int = 3  # offers open at once when routing starts
    offer_ttl_s: float = 60.0  # an unanswered offer expires after this long (docs/routing.md)
    max_open_consults: int = 2  # a physician with this many open urgent consults is full
    # Within a tier, least recently offered first (off: the same ranking without it, so ties
    # go by user id — the simulator's baseline for what fairness buys, docs/routing.md).
    fairness: bool = True
    # The last tier of direct offers before the lounge call: 1 on-call only, 2 the whole
    # specialty, 3 parent and related specialties too.
    last_tier: int = 3
    # Progressive widening: ``(after_s, n)`` steps — from ``after_s`` seconds after routing
    # started without an accept, up to ``n`` offers are open at once (never fewer than ``k``).
    # Empty: ``k`` throughout.
    widen: tuple[tuple[float, int], ...] = ()
    # From this many seconds after the start without an accept, the tier wall falls: free
    # slots are filled from the next tier while the current tier's offers are still open
    # (tiers stay the ranking). None: a tier opens only when the one before has nobody left
    # to ask and no offer open.
    escalate_after_s: float | None = None

    def __post_init__(self) -> None:
        if (self.k < 1 or self.offer_ttl_s <= 0 or self.max_open_consults < 1
                or self.last_tier not in (1, 2, 3)
                or any(a <= 0 or n < 1 for a, n in self.widen)
                or (self.escalate_after_s is not None and self.escalate_after_s < 0)):
            raise ValueError(f"invalid routing policy {self!r}")

    def limit(self, started_at: float, now: float) -> int:
        """Offers open at once allowed at ``now`` for a routing that started at
        ``started_at`` (times compared as stored, so a step is due exactly at its deadline)."""
        return max([self.k, *(n for a, n in self.widen if started_at + a <= now)])

    def tiers_open(self, started_at: float, now: float) -> bool:
        """Whether free slots may be filled from the next tier while offers are open."""
        return self.escalate_after_s is not None and started_at + self.escalate_after_s <= now

    def steps(self, started_at: float, now: float) -> float | None:
        """The next time after ``now`` a widening step is due, or None."""
        points = [a for a, _ in self.widen]
        if self.escalate_after_s is not None:
            points.append(self.escalate_after_s)
        return min((started_at + a for a in points if started_at + a > now), default=None)


# The production defaults, chosen with the network simulator (docs/routing.md, "Progressive
# widening"): two offers at once, a third after 15 s and a fourth after 100 s without an
# accept; the tier wall falls after 60 s; offers live 75 s. settings.CURBSIDE_ROUTING has the
# same values (with environment overrides); ``RoutingPolicy()`` alone is the plain policy,
# ``k`` offers throughout.
DEFAULT_POLICY = RoutingPolicy(k=2, offer_ttl_s=75.0, widen=((15.0, 3), (100.0, 4)),
                               escalate_after_s=60.0)


@dataclass(frozen=True, slots=True)
class UrgentCase:
    case_id: str
    specialty: str
    poster_id: str
    language: str
    subspecialty: str | None = None
    # Never offered this round: a specialist who handed the case off.
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A physician as the router sees them, built from presence (``candidate_from_presence``)."""

    user_id: str
    specialties: tuple[str, ...]
    languages: tuple[str, ...]
    status: str
    on_call: bool
    open_consults: int
    last_offered_at: float | None


def candidate_from_presence(presence) -> Candidate:  # presence: presence.store.Presence
    return Candidate(
        user_id=presence.user_id,
        specialties=tuple(presence.specialties),
        languages=tuple(presence.languages),
        status=presence.status,
        on_call=presence.on_call,
        open_consults=presence.open_consults,
        last_offered_at=presence.last_offered_at,
    )


@dataclass(frozen=True, slots=True)
class Offer:
    user_id: str
    offer_id: str
    expires_at: float
    tier: int


@dataclass(frozen=True, slots=True)
class CloseOffer:
    user_id: str
    offer_id: str
    reason: str  # "declined" | "expired" | "claimed"


@dataclass(frozen=True, slots=True)
class Escalated:
    tier: int


@dataclass(frozen=True, slots=True)
class LoungeCall:
    specialty: str


@dataclass(frozen=True, slots=True)
class Claimed:
    user_id: str


Action = Offer | CloseOffer | Escalated | LoungeCall | Claimed


@dataclass(frozen=True, slots=True)
class RoutingState:
    case_id: str
    specialty: str
    subspecialty: str | None
    poster_id: str
    language: str
    policy: RoutingPolicy
    family: frozenset[str]  # the specialty and its subspecialties (tiers 1-2)
    wider: tuple[str, ...]  # parent and related specialties (tier 3), in preference order
    tier: int
    status: RouteStatus
    started_at: float
    outstanding: tuple[Offer, ...] = ()
    offered: frozenset[str] = frozenset()  # everyone ever offered; nobody is asked twice
    declined: frozenset[str] = frozenset()
    expired: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()  # handed the case off: never offered, never accept
    lounge_called: bool = False
    offer_seq: int = 0
    claimed_by: str | None = None
    claimed_at: float | None = None
    widen_at: float | None = None  # the next widening step while offers are out (policy.widen)

    def next_deadline(self) -> float | None:
        """When ``route_on_expiry`` next has work (an offer expires, or the routing widens),
        or None."""
        times = [o.expires_at for o in self.outstanding]
        if self.widen_at is not None:
            times.append(self.widen_at)
        return min(times, default=None)

    def offer_for(self, offer_id: str) -> Offer | None:
        return next((o for o in self.outstanding if o.offer_id == offer_id), None)


Step = tuple[RoutingState, list[Action]]


def _tier_of(state: RoutingState, c: Candidate) -> int | None:
    specs = set(c.specialties)
    if specs & state.family:
        return 1 if c.on_call else 2
    if specs & set(state.wider):
        return 3
    return None


def _eligible(state: RoutingState, c: Candidate) -> bool:
    return (
        c.user_id != state.poster_id
        and c.user_id not in state.offered
        and c.status == "available"
        and c.open_consults < state.policy.max_open_consults
    )


def _rank(state: RoutingState, c: Candidate, tier: int) -> tuple:
    specs = set(c.specialties)
    if tier <= 2:
        if state.subspecialty is not None and state.subspecialty in specs:
            match = 0
        else:
            match = 1 if state.specialty in specs else 2
        on_call_rank = 0
    else:
        match = min(i for i, s in enumerate(state.wider) if s in specs)
        on_call_rank = 0 if c.on_call else 1
    if not state.policy.fairness:
        fairness = 0.0
    else:
        fairness = -math.inf if c.last_offered_at is None else c.last_offered_at
    language = 0 if state.language in c.languages else 1
    return (tier, on_call_rank, match, c.open_consults, language, fairness, c.user_id)


def _pool(state: RoutingState, candidates: Iterable[Candidate], up_to_tier: int) -> list[Candidate]:
    ranked = []
    seen: set[str] = set()
    for c in candidates:
        tier = _tier_of(state, c)
        if tier is None or tier > up_to_tier or c.user_id in seen or not _eligible(state, c):
            continue
        seen.add(c.user_id)
        ranked.append((_rank(state, c, tier), tier, c))
    ranked.sort(key=lambda r: r[0])
    return [c for _, _, c in ranked]


def _offer(state: RoutingState, c: Candidate, now: float) -> Step:
    seq = state.offer_seq + 1
    offer = Offer(
        user_id=c.user_id,
        offer_id=f"{state.case_id}:{seq}",
        expires_at=now + state.policy.offer_ttl_s,
        tier=_tier_of(state, c) or state.tier,
    )
    new = replace(
        state,
        offer_seq=seq,
        outstanding=(*state.outstanding, offer),
        offered=state.offered | {c.user_id},
        status=RouteStatus.OFFERING,
    )
    return new, [offer]


def _widening(state: RoutingState, now: float) -> RoutingState:
    """Stamp the next widening step: only while offers are out (without them there is nobody
    to ask, and a newcomer is offered the case at the limit of the moment)."""
    at = state.policy.steps(state.started_at, now) if (
        state.status is RouteStatus.OFFERING and state.outstanding) else None
    return state if at == state.widen_at else replace(state, widen_at=at)


def _fill(state: RoutingState, candidates: Sequence[Candidate], now: float) -> Step:
    """Top up open offers to the policy's limit at ``now``, escalating tier by tier while
    nobody is left to ask (or, once the tier wall has fallen, while slots stay free)."""
    actions: list[Action] = []
    policy = state.policy
    limit = policy.limit(state.started_at, now)
    while True:
        free = limit - len(state.outstanding)
        for c in _pool(state, candidates, min(state.tier, policy.last_tier))[:free]:
            state, made = _offer(state, c, now)
            actions += made
        if state.outstanding:
            if (len(state.outstanding) < limit and state.tier < policy.last_tier
                    and policy.tiers_open(state.started_at, now)):
                state = replace(state, tier=state.tier + 1)
                actions.append(Escalated(state.tier))
                continue
            return _widening(replace(state, status=RouteStatus.OFFERING), now), actions
        if state.tier < state.policy.last_tier:
            state = replace(state, tier=state.tier + 1)
            actions.append(Escalated(state.tier))
            continue
        if not state.lounge_called:
            state = replace(state, tier=LOUNGE_TIER, lounge_called=True,
                            status=RouteStatus.LOUNGE_CALLED, widen_at=None)
            return state, [*actions, Escalated(LOUNGE_TIER), LoungeCall(state.specialty)]
        if state.status is RouteStatus.LOUNGE_CALLED:
            return replace(state, widen_at=None), actions
        return replace(state, status=RouteStatus.WAITING, widen_at=None), actions


def route_start(
    case: UrgentCase,
    candidates: Sequence[Candidate],
    taxonomy: Taxonomy,
    policy: RoutingPolicy,
    now: float,
) -> Step:
    """Open routing for ``case``: offers to the best tier-1 candidates, or escalate."""
    family = frozenset({case.specialty, *taxonomy.children(case.specialty)})
    state = RoutingState(
        case_id=case.case_id,
        specialty=case.specialty,
        subspecialty=case.subspecialty,
        poster_id=case.poster_id,
        language=case.language,
        policy=policy,
        family=family,
        wider=tuple(s for s in taxonomy.wider(case.specialty) if s not in family),
        tier=1,
        status=RouteStatus.OFFERING,
        started_at=now,
        offered=frozenset(case.exclude),
        excluded=frozenset(case.exclude),
    )
    return _fill(state, candidates, now)


def _close(state: RoutingState, user_ids: set[str], reason: str) -> Step:
    closing = [o for o in state.outstanding if o.user_id in user_ids]
    state = replace(state, outstanding=tuple(o for o in state.outstanding if o not in closing))
    return state, [CloseOffer(o.user_id, o.offer_id, reason) for o in closing]


def route_on_decline(state: RoutingState, user_id: str, candidates: Sequence[Candidate], now: float,
                     offer_id: str | None = None) -> Step:
    """``user_id`` declined (``offer_id``, when named); ask the next candidate (or escalate).

    A stale decline — of an offer that closed already, by someone the case was offered
    to — is a no-op.

    Raises:
        OfferNotOpen: ``offer_id`` is another physician's offer, or ``user_id`` was never
            offered this case (nothing changes for anyone).
    """
    if offer_id is not None:
        offer = state.offer_for(offer_id)
        if offer is None:
            if user_id not in state.offered:
                raise OfferNotOpen(state.case_id, user_id)
            return state, []  # stale: never the user's other open offer, if they had one
        if offer.user_id != user_id:
            raise OfferNotOpen(state.case_id, user_id)
    if state.status in FINAL or all(o.user_id != user_id for o in state.outstanding):
        return state, []
    state, closed = _close(state, {user_id}, "declined")
    state = replace(state, declined=state.declined | {user_id})
    state, more = _fill(state, candidates, now)
    return state, [*closed, *more]


def route_on_expiry(state: RoutingState, candidates: Sequence[Candidate], now: float) -> Step:
    """Close every offer due at ``now`` and move on; at a widening step (``widen_at``), top
    the open offers up to the new limit. Early or repeated calls are no-ops."""
    due = {o.user_id for o in state.outstanding if o.expires_at <= now}
    widen = state.widen_at is not None and state.widen_at <= now
    if state.status in FINAL or not (due or widen):
        return state, []
    state, closed = _close(state, due, "expired")
    state = replace(state, expired=state.expired | due)
    state, more = _fill(state, candidates, now)
    return state, [*closed, *more]


def route_on_online(state: RoutingState, candidate: Candidate, now: float) -> Step:
    """A physician came online (or became available): offer if they fit and a slot is free.

    Never escalates: a newcomer who does not fit leaves the case as it was.
    """
    if state.status in FINAL or len(state.outstanding) >= state.policy.limit(
            state.started_at, now):
        return state, []
    if not _pool(state, [candidate], min(state.tier, state.policy.last_tier)):
        return state, []
    state, actions = _offer(state, candidate, now)
    return _widening(state, now), actions


def route_on_accept(state: RoutingState, user_id: str, now: float, *,
                    alerted: bool = False) -> Step:
    """Record the claim won by ``user_id`` (claims.py decided the race); close other offers.

    After a lounge call any lounge member but the poster may accept without an offer. An
    offline on-call specialist alerted by e-mail (``alerted``: the caller checked their
    single-use alert) may accept while the routing is open, like an offer holder.

    Raises:
        AlreadyClaimed: someone else claimed the case first.
        OfferNotOpen: ``user_id`` holds no open offer and no lounge call is out.
        RoutingClosed: the poster withdrew the case.
    """
    if state.status is RouteStatus.WITHDRAWN:
        raise RoutingClosed(state.case_id)
    if state.status is RouteStatus.CLAIMED:
        if state.claimed_by == user_id:
            return state, []
        raise AlreadyClaimed(state.case_id, state.claimed_by or "")
    holds = any(o.user_id == user_id for o in state.outstanding)
    if user_id == state.poster_id or user_id in state.excluded or not (
            holds or alerted or state.lounge_called):
        raise OfferNotOpen(state.case_id, user_id)
    others = {o.user_id for o in state.outstanding if o.user_id != user_id}
    state, closed = _close(state, others, "claimed")
    state = replace(
        state,
        outstanding=(),
        status=RouteStatus.CLAIMED,
        claimed_by=user_id,
        claimed_at=now,
        widen_at=None,
    )
    return state, [Claimed(user_id), *closed]


def route_on_withdraw(state: RoutingState, reason: str = "withdrawn") -> Step:
    """The case left routing (withdrawn, or resolved or closed before anyone accepted —
    ``reason``): close every open offer; nothing moves after this."""
    if state.status in FINAL:
        return state, []
    state, closed = _close(state, {o.user_id for o in state.outstanding}, reason)
    return replace(state, status=RouteStatus.WITHDRAWN, lounge_called=False,
                   widen_at=None), closed
