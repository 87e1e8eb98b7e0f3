"""The discrete-event engine: a fake clock and a heap of events driving the real routing code.

What runs is production code, called the way ``consult/driver.py`` and ``consult/services.py``
call it:

- ``consult.pool.candidates`` reads who may be asked from a real ``MemoryPresenceStore``
  (presence/store.py): connects, disconnects, activity heartbeats, on-call flags, the
  capacity counters held per case (``consult_started`` / ``consult_finished``) and
  ``mark_offered`` (the fairness clock) are the store's own;
- ``consult.triage`` decides every step: ``route_start``, ``route_on_expiry``,
  ``route_on_decline``, ``route_on_online``, ``route_on_accept``, ``route_on_withdraw``, with
  the policy under test (``RoutingPolicy``) and the real taxonomy (``Taxonomy.reach``);
- ``consult.states`` guards each case move (``case_transition``) and says which capacity a
  move releases or takes (``capacity_moves``);
- ``physicians.oncall`` turns each doctor's weekly schedule in their own time zone into
  on-call flips (``on_call_at``, ``next_change``).

What is stubbed, and why: the database. ``services.routing_step`` loads the routing row
under a lock, runs the transition, saves it and publishes events; here the state lives in a
dict and the step is the same transition call (one process, one event at a time: no lock to
take). Events to sockets are not sent; the sim reads the actions instead. A month of a
PostgreSQL round trip per step would not fit in two minutes.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consult import pool
from consult.states import CaseAction, CaseStatus, capacity_moves, case_transition
from consult.triage import (
    DEFAULT_POLICY,
    FINAL,
    AlreadyClaimed,
    Claimed,
    CloseOffer,
    Escalated,
    LoungeCall,
    Offer,
    OfferNotOpen,
    RouteStatus,
    RoutingClosed,
    RoutingPolicy,
    RoutingState,
    Taxonomy,
    UrgentCase,
    candidate_from_presence,
    route_on_accept,
    route_on_decline,
    route_on_expiry,
    route_on_online,
    route_on_withdraw,
    route_start,
)
from physicians.oncall import next_change, on_call_at
from physicians.taxonomy import RELATED, SPECIALTIES
from presence.store import IDLE_AWAY_S, MemoryPresenceStore, PresenceProfile
from sim import world

HOUR = 3600.0
DAY = 24 * HOUR
# An attended session reports an interaction at least every PING_S, so it stays "available"
# (presence/store.py IDLE_AWAY_S). Only a read of presence can tell when the last one came,
# so the pings are sent lazily: right before the router reads a specialty, every connected
# doctor of it whose last ping is PING_S old gets one (``_attend``) — what the router sees is
# what it would see with a ping every PING_S, at a fraction of the events. Connections end by
# disconnect, so their time-to-live is the run's (the store's expiry sweep is not exercised).
PING_S = IDLE_AWAY_S - 30.0
CONNECTION_TTL_S = 60 * 86400.0
SESSION_MEAN_S = 30 * 60.0
# On call, a doctor keeps the app open and attended for the shift with this probability.
ON_CALL_ONLINE_P = 0.9
# A poster who has no specialist after this long withdraws the urgent case.
PATIENCE_S = 2 * HOUR
# A claimed consult is resolved by the poster after a log-normal time with this median.
CONSULT_MEDIAN_S = 20 * 60.0
HANDOFF_P = 0.02
START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday


@dataclass(frozen=True)
class Burst:
    """Extra urgent cases: ``count`` within ``minutes`` from ``day``/``hour`` (UTC), posted
    from ``country``, of ``specialties`` (weights equal)."""

    day: float
    hour: float
    minutes: float
    count: int
    country: str
    specialties: tuple[str, ...]
    label: str = "burst"


MASS_CASUALTY = Burst(day=9, hour=14, minutes=30, count=80, country="UK",
                      specialties=("emergency-medicine", "trauma-surgery", "critical-care",
                                   "orthopedic-trauma", "neurosurgery"), label="mass-casualty")


@dataclass(frozen=True)
class Config:
    seed: int = 1
    days: float = 30.0
    physicians: int = 5000
    cases_per_year: float = 350_000  # SERMO's ~3,500 a year x 100
    urgent_share: float = 0.10
    policy: RoutingPolicy = DEFAULT_POLICY
    bursts: tuple[Burst, ...] = (MASS_CASUALTY,)
    single_on_call: str | None = None
    # Restrict where (and at what local hours) urgent cases are posted: a failure case.
    post_countries: tuple[str, ...] = ()
    post_local_hours: tuple[int, ...] = ()
    demand: tuple[tuple[str, float], ...] = ()  # replaces world.DEMAND when given


@dataclass(slots=True)
class CaseRec:
    id: str
    specialty: str
    poster: str
    country: str
    language: str
    posted_at: float
    label: str = ""
    status: str = CaseStatus.OPEN
    eligible_at_post: bool = False
    first_offer_at: float | None = None
    accepted_at: float | None = None
    accepted_by: str | None = None
    first_by: str | None = None  # who accepted first (kept across a hand-off)
    tier: int = 1
    offers: int = 0
    claims: int = 0
    rounds: int = 1
    exclude: tuple[str, ...] = ()
    deadline: float | None = None  # the expiry event queued for this case
    ever_offered: set[str] = field(default_factory=set)  # every round


class InvariantBroken(AssertionError):
    pass


class Sim:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.net = world.build(random.Random(cfg.seed * 7919 + 1), physicians=cfg.physicians,
                               single_on_call=cfg.single_on_call)
        self.taxonomy = Taxonomy.from_specialties(SPECIALTIES, RELATED)
        self.store = MemoryPresenceStore(connection_ttl_s=CONNECTION_TTL_S)
        self.connected: dict[str, dict[str, world.Doc]] = {}  # specialty -> connected docs
        self.policy = cfg.policy
        self.now = START
        self.end = START + cfg.days * DAY
        self._heap: list = []
        self._seq = 0
        self.cases: dict[str, CaseRec] = {}
        self.routing: dict[str, RoutingState] = {}  # the active routing rows
        self.states: dict[str, RoutingState] = {}  # every routing row, final ones included
        self.held: dict[str, set[str]] = {}  # the sim's own account of capacity, to check
        self.counts = {"events": 0, "steps": 0, "late_accepts": 0, "lost_races": 0,
                       "accepts_after_close": 0, "declines": 0, "expiries": 0,
                       "withdrawn": 0, "handoffs": 0, "missed_eligible": 0,
                       "stale_declines_refused": 0}
        self.violations: list[str] = []
        self._reach_cache: dict[str, set[str]] = {}
        self._hour_cache: dict[tuple[str, int], tuple[int, bool]] = {}

    # --- the clock ------------------------------------------------------------------------
    def at(self, t: float, kind: str, *args) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, args))

    def local(self, doc_or_zone, t: float) -> tuple[int, bool]:
        zone = doc_or_zone.zone if isinstance(doc_or_zone, world.Doc) else doc_or_zone
        key = (zone.key, int(t // 1800))
        got = self._hour_cache.get(key)
        if got is None:
            d = datetime.fromtimestamp(t, tz=zone)
            got = self._hour_cache[key] = (d.hour, d.weekday() >= 5)
        return got

    def reach(self, specialty: str) -> set[str]:
        if specialty not in self._reach_cache:
            self._reach_cache[specialty] = self.taxonomy.reach(specialty)
        return self._reach_cache[specialty]

    # --- set-up ---------------------------------------------------------------------------
    def _seed_events(self) -> None:
        for doc in self.net.docs:
            self._next_session(doc, self.now)
            if doc.schedule:
                self.at(self.now, "oncall", doc.id)
        self._seed_cases()

    def _rate_max(self, doc: world.Doc) -> float:
        return max(world.ONLINE_BY_HOUR) * doc.activity / (SESSION_MEAN_S / HOUR)

    def _seed_cases(self) -> None:
        """Urgent cases by country and local hour (people post when they work)."""
        cfg, rng = self.cfg, self.rng
        per_hour = cfg.cases_per_year * cfg.urgent_share / (365 * 24)
        countries = cfg.post_countries or tuple(sorted(world.COUNTRIES))
        shares = {c: world.COUNTRIES[c][0] for c in countries}
        total = sum(shares.values())
        mean_shape = sum(world.ONLINE_BY_HOUR) / 24
        demand = cfg.demand or tuple(sorted(world.DEMAND.items()))
        names, weights = [n for n, _ in demand], [w for _, w in demand]
        hours = int(cfg.days * 24)
        for h in range(hours):
            t0 = START + h * HOUR
            for c in countries:
                zone = self.net.by_country[c][0].zone
                hour, weekend = self.local(zone, t0)
                if cfg.post_local_hours and hour not in cfg.post_local_hours:
                    continue
                shape = world.ONLINE_BY_HOUR[hour] / mean_shape
                lam = per_hour * shares[c] / total * shape * (world.WEEKEND if weekend else 1)
                if cfg.post_local_hours:
                    lam = per_hour * shares[c] / total
                for _ in range(_poisson(rng, lam)):
                    spec = rng.choices(names, weights=weights)[0]
                    self._new_case(t0 + rng.random() * HOUR, c, spec, "")
        for b in cfg.bursts:
            for _ in range(b.count):
                t = START + b.day * DAY + b.hour * HOUR + rng.random() * b.minutes * 60
                if t < self.end:
                    self._new_case(t, b.country, rng.choice(b.specialties), b.label)

    def _new_case(self, t: float, country: str, specialty: str, label: str) -> None:
        poster = self.rng.choice(self.net.by_country[country])
        cid = f"c{len(self.cases):07d}"
        self.cases[cid] = CaseRec(cid, specialty, poster.id, country, poster.languages[0], t,
                                  label=label)
        self.at(t, "post", cid)

    # --- the run --------------------------------------------------------------------------
    def run(self) -> dict:
        wall = time.perf_counter()
        asyncio.run(self._loop())
        self.wall_s = time.perf_counter() - wall
        return self.counts

    async def _loop(self) -> None:
        self._seed_events()
        handlers = {"session": self._session, "end": self._end,
                    "oncall": self._oncall, "post": self._post, "expiry": self._expiry,
                    "answer": self._answer, "resolve": self._resolve, "handoff": self._handoff,
                    "patience": self._patience}
        heap = self._heap
        drain_until = self.end + 2 * DAY
        while heap:
            t, _, kind, args = heapq.heappop(heap)
            if t > self.end and kind in ("session", "post", "oncall"):
                continue  # after the horizon: no new sessions or cases; the rest drains
            if t > drain_until:
                break
            self.now = t
            self.counts["events"] += 1
            await handlers[kind](*args)
        await self._final_checks()

    # --- presence -------------------------------------------------------------------------
    def _next_session(self, doc: world.Doc, after: float) -> None:
        """The doctor's next session start: a Poisson process whose rate follows their local
        hour, drawn by thinning (candidates at the peak rate, kept in proportion to the rate
        at their hour). Rejected candidates need no event: nothing else depends on them."""
        rng, rmax, t = self.rng, self._rate_max(doc), after
        while True:
            t += rng.expovariate(rmax) * HOUR
            if t > self.end:
                return
            hour, weekend = self.local(doc, t)
            rate = world.ONLINE_BY_HOUR[hour] * (world.WEEKEND if weekend else 1) * (
                doc.activity / (SESSION_MEAN_S / HOUR))
            if rng.random() < rate / rmax:
                self.at(t, "session", doc.id)
                return

    async def _session(self, doc_id: str) -> None:
        doc = self.net.by_id[doc_id]
        self._next_session(doc, self.now)
        await self._online(doc, self.now + max(120.0, self.rng.expovariate(1 / SESSION_MEAN_S)))

    async def _online(self, doc: world.Doc, until: float) -> None:
        if doc.connected:
            if until > doc.online_until:
                doc.online_until = until
                self.at(until, "end", doc.id)
            return
        doc.connected, doc.online_until = True, until
        await self.store.connect(user_id=doc.id, conn_id="app", process_id="sim",
                                 profile=PresenceProfile(list(doc.specialties),
                                                         list(doc.languages), doc.country),
                                 now=self.now)
        doc.pinged_at = self.now
        for spec in doc.specialties:
            self.connected.setdefault(spec, {})[doc.id] = doc
        if doc.on_call:
            await self.store.set_on_call(user_id=doc.id, on_call=True, now=self.now)
        self.at(until, "end", doc.id)
        await self._came_online(doc)

    async def _end(self, doc_id: str) -> None:
        doc = self.net.by_id[doc_id]
        if doc.connected and self.now >= doc.online_until:
            doc.connected = False
            for spec in doc.specialties:
                self.connected[spec].pop(doc_id, None)
            await self.store.disconnect(user_id=doc_id, conn_id="app", now=self.now)

    async def _attend(self, specialties) -> None:
        """The activity pings due before a read (see PING_S)."""
        for spec in specialties:
            for doc in self.connected.get(spec, {}).values():
                if doc.pinged_at + PING_S <= self.now:
                    await self._ping(doc)

    async def _ping(self, doc: world.Doc) -> None:
        # The last ping due: the earlier ones changed nothing a read could see.
        doc.pinged_at += (self.now - doc.pinged_at) // PING_S * PING_S
        await self.store.heartbeat(user_id=doc.id, conn_id="app", now=doc.pinged_at,
                                   active=True)

    async def _oncall(self, doc_id: str) -> None:
        doc = self.net.by_id[doc_id]
        now_dt = datetime.fromtimestamp(self.now, tz=UTC)
        wanted = on_call_at(doc.schedule, doc.zone, now_dt)
        nxt = next_change(doc.schedule, doc.zone, now_dt)
        if nxt is not None:
            self.at(nxt.timestamp(), "oncall", doc_id)
        if wanted == doc.on_call:
            return
        doc.on_call = wanted
        if wanted and self.rng.random() < ON_CALL_ONLINE_P:
            shift_end = nxt.timestamp() if nxt is not None else self.end
            if doc.connected:  # already online: now on call too (schedules_apply)
                await self.store.set_on_call(user_id=doc_id, on_call=True, now=self.now)
                await self._online(doc, shift_end)
                await self._came_online(doc)
            else:
                await self._online(doc, shift_end)
        elif doc.connected:
            await self.store.set_on_call(user_id=doc_id, on_call=wanted, now=self.now)

    async def _came_online(self, doc: world.Doc) -> None:
        """consult.driver.on_online: offer the newcomer any open routing they fit."""
        if doc.pinged_at + PING_S <= self.now:
            await self._ping(doc)
        presence = await self.store.get(doc.id, now=self.now)
        if presence is None:
            return
        me = candidate_from_presence(presence)
        for cid, state in list(self.routing.items()):
            if state.status is RouteStatus.CLAIMED or doc.id in state.offered:
                continue
            await self._step(cid, route_on_online(state, me, self.now))

    # --- routing --------------------------------------------------------------------------
    async def _pool(self, specialty: str):
        await self._attend(self.reach(specialty))
        return await pool.candidates(self.store, self.reach(specialty), now=self.now)

    async def _post(self, cid: str) -> None:
        case = self.cases[cid]
        self.at(self.now + PATIENCE_S, "patience", cid)
        await self._route(case)

    async def _route(self, case: CaseRec) -> None:
        cands = await self._pool(case.specialty)
        urgent = UrgentCase(case_id=case.id, specialty=case.specialty, poster_id=case.poster,
                            language=case.language, exclude=case.exclude)
        eligible = self._eligible(case, cands, frozenset(case.exclude))
        if case.rounds == 1:
            case.eligible_at_post = bool(eligible)
        step = route_start(urgent, cands, self.taxonomy, self.policy, self.now)
        await self._step(case.id, step, started=True)

    def _eligible(self, case: CaseRec, cands, offered) -> list[str]:
        """The test oracle, written apart from triage: who may be asked right now."""
        family = {case.specialty, *self.taxonomy.children(case.specialty)}
        wider = set(self.taxonomy.wider(case.specialty)) - family
        last = self.policy.last_tier
        out = []
        for c in cands:
            specs = set(c.specialties)
            tier = (1 if c.on_call else 2) if specs & family else (3 if specs & wider else 9)
            if (tier <= last and c.user_id != case.poster and c.user_id not in offered
                    and c.status == "available"
                    and c.open_consults < self.policy.max_open_consults):
                out.append(c.user_id)
        return out

    async def _step(self, cid: str, step, *, started: bool = False) -> None:
        state, actions = step
        before = self.states.get(cid)
        if not actions and not started and (
                before is None or before.next_deadline() == state.next_deadline()):
            return  # a no-op transition: routing_step saves nothing
        case = self.cases[cid]
        self.counts["steps"] += 1
        self.states[cid] = state
        if started or cid in self.routing:
            self.routing[cid] = state
        for a in actions:
            if isinstance(a, Offer):
                # consult.driver._after: the fairness clock
                await self.store.mark_offered(user_id=a.user_id, now=self.now)
                case.offers += 1
                case.ever_offered.add(a.user_id)
                if case.first_offer_at is None:
                    case.first_offer_at = self.now
                case.tier = max(case.tier, a.tier)
                self._respond(case, a)
            elif isinstance(a, Escalated):
                case.tier = max(case.tier, a.tier)
            elif isinstance(a, Claimed):
                await self._claimed(case, a.user_id)
            elif isinstance(a, (CloseOffer, LoungeCall)):
                pass
        if state.status in FINAL:
            self.routing.pop(cid, None)
            return
        deadline = state.next_deadline()
        if deadline is not None and deadline != case.deadline:
            case.deadline = deadline
            self.at(deadline, "expiry", cid)
        if not state.outstanding:
            # Nobody is being asked: there must be nobody left to ask.
            left = self._eligible(case, await self._pool(case.specialty), state.offered)
            if left:
                self.counts["missed_eligible"] += 1
                self.violations.append(f"{cid}: nobody asked while {left[:3]} eligible")

    def _respond(self, case: CaseRec, offer: Offer) -> None:
        doc, rng = self.net.by_id[offer.user_id], self.rng
        doc.offers += 1
        r = rng.random()
        if r >= doc.accept_p + doc.decline_p:
            return  # never answers: the offer expires
        delay = math.exp(rng.gauss(math.log(doc.answer_median_s), 0.8))
        if self.now + delay > doc.online_until:
            return  # left before answering
        self.at(self.now + delay, "answer", case.id, offer.user_id, offer.offer_id,
                r < doc.accept_p)

    async def _expiry(self, cid: str) -> None:
        state = self.routing.get(cid)
        if state is None:
            return
        self.cases[cid].deadline = None
        before = len(state.expired)
        step = route_on_expiry(state, await self._pool(state.specialty), self.now)
        self.counts["expiries"] += len(step[0].expired) - before
        await self._step(cid, step)

    async def _answer(self, cid: str, user_id: str, offer_id: str, accept: bool) -> None:
        case, state = self.cases[cid], self.states.get(cid)
        if not accept:
            if cid not in self.routing:
                return
            self.counts["declines"] += 1
            try:
                step = route_on_decline(state, user_id, await self._pool(state.specialty),
                                        self.now, offer_id=offer_id)
            except OfferNotOpen as exc:
                if user_id not in case.ever_offered:
                    raise InvariantBroken(f"decline of own offer refused: {exc}") from None
                # An offer of an earlier round, declined after a hand-off restarted routing:
                # the new round never offered them, so production answers ``forbidden``.
                self.counts["stale_declines_refused"] += 1
                return
            await self._step(cid, step)
            return
        # consult.services.offer_accept: the case's status is checked under the row lock.
        if case.status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
            self.counts["accepts_after_close"] += 1
            return
        try:
            step = route_on_accept(state, user_id, self.now)
        except AlreadyClaimed:
            self.counts["lost_races"] += 1
            return
        except OfferNotOpen:
            self.counts["late_accepts"] += 1  # the offer expired or closed first
            return
        except RoutingClosed:
            self.counts["accepts_after_close"] += 1
            return
        await self._step(cid, step)

    # --- the case lifecycle ---------------------------------------------------------------
    async def _move(self, case: CaseRec, target: str, action: str) -> None:
        """consult.services._move without the row: guard, then capacity per the shared rule."""
        before = case.status
        case.status = case_transition(before, target, action)
        release, take = capacity_moves(before, target, accepted=case.accepted_by is not None)
        if release:
            await self._capacity(case.accepted_by, case.id, take=False)
        if take:
            await self._capacity(case.accepted_by, case.id, take=True)

    async def _capacity(self, user_id: str, cid: str, *, take: bool) -> None:
        """consult.driver.capacity_apply, and the check that capacity is exact."""
        held = self.held.setdefault(user_id, set())
        if take:
            n = await self.store.consult_started(user_id=user_id, case_id=cid)
            held.add(cid)
        else:
            if cid not in held:
                raise InvariantBroken(f"{cid}: capacity released twice for {user_id}")
            n = await self.store.consult_finished(user_id=user_id, case_id=cid)
            held.discard(cid)
        if n != len(held) or n < 0:
            raise InvariantBroken(f"{user_id}: store counts {n} consults, holds {len(held)}")

    async def _claimed(self, case: CaseRec, user_id: str) -> None:
        case.claims += 1
        if case.claims > case.rounds:
            raise InvariantBroken(f"{case.id} accepted twice in one round")
        case.accepted_by = user_id
        if case.accepted_at is None:
            case.accepted_at, case.first_by = self.now, user_id
        await self._move(case, CaseStatus.CLAIMED, CaseAction.CLAIM)
        await self._capacity(user_id, case.id, take=True)  # the routing step's Capacity
        doc = self.net.by_id[user_id]
        doc.accepted += 1
        duration = math.exp(self.rng.gauss(math.log(CONSULT_MEDIAN_S), 0.7))
        kind = "handoff" if self.rng.random() < HANDOFF_P else "resolve"
        self.at(self.now + (duration / 3 if kind == "handoff" else duration), kind, case.id)

    async def _resolve(self, cid: str) -> None:
        case = self.cases[cid]
        if case.status != CaseStatus.CLAIMED:
            return
        await self._move(case, CaseStatus.RESOLVED, CaseAction.RESOLVE)
        self._routing_close(cid, "resolved")

    def _routing_close(self, cid: str, reason: str) -> None:
        """consult.services._routing_close: every open offer closes; nothing moves after."""
        self.routing.pop(cid, None)
        if cid in self.states:
            self.states[cid], _ = route_on_withdraw(self.states[cid], reason)

    async def _patience(self, cid: str) -> None:
        case = self.cases[cid]
        if case.status != CaseStatus.OPEN or case.rounds > 1:
            return
        await self._move(case, CaseStatus.WITHDRAWN, CaseAction.WITHDRAW)
        self._routing_close(cid, "withdrawn")
        self.counts["withdrawn"] += 1

    async def _handoff(self, cid: str) -> None:
        case = self.cases[cid]
        if case.status != CaseStatus.CLAIMED:
            return
        self.counts["handoffs"] += 1
        await self._move(case, CaseStatus.OPEN, CaseAction.HANDOFF)
        case.exclude = tuple(sorted({*case.exclude, case.accepted_by}))
        case.accepted_by = None
        case.rounds += 1
        await self._route(case)

    async def _final_checks(self) -> None:
        for cid, case in self.cases.items():
            if case.status == CaseStatus.CLAIMED:
                raise InvariantBroken(f"{cid} still claimed after the drain")
        for user_id, held in self.held.items():
            if held or await self.store.consults_open(user_id) != 0:
                raise InvariantBroken(f"{user_id} still holds {held}")


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
