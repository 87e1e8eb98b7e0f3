"""Urgent-case routing as a pure state machine: every tier, with ``now`` as a plain number."""

from __future__ import annotations

import json

import pytest

from consult.triage import (
    AlreadyClaimed,
    Candidate,
    Claimed,
    CloseOffer,
    Escalated,
    LoungeCall,
    Offer,
    OfferNotOpen,
    RouteStatus,
    RoutingPolicy,
    Taxonomy,
    UrgentCase,
    candidate_from_presence,
    route_on_accept,
    route_on_decline,
    route_on_expiry,
    route_on_online,
    route_start,
)
from presence.store import Connection, Presence

T0 = 1_780_000_000.0
TAXONOMY = Taxonomy(
    parents={
        "internal-medicine": None,
        "cardiology": "internal-medicine",
        "electrophysiology": "cardiology",
        "interventional-cardiology": "cardiology",
        "critical-care": None,
        "dermatology": None,
    },
    related={"cardiology": ["critical-care"], "critical-care": ["cardiology"]},
)
POLICY = RoutingPolicy(k=2, offer_ttl_s=90, max_open_consults=2)
CASE = UrgentCase(case_id="case1", specialty="cardiology", poster_id="poster", language="es")


def doc(
    user_id: str,
    *specialties: str,
    on_call: bool = False,
    status: str = "available",
    load: int = 0,
    languages: tuple[str, ...] = ("en",),
    last_offered_at: float | None = None,
) -> Candidate:
    return Candidate(
        user_id=user_id,
        specialties=specialties or ("cardiology",),
        languages=languages,
        status=status,
        on_call=on_call,
        open_consults=load,
        last_offered_at=last_offered_at,
    )


def offered_to(actions) -> list[str]:
    return [a.user_id for a in actions if isinstance(a, Offer)]


def test_tier1_offers_on_call_specialists_with_capacity_top_k_at_once():
    candidates = [
        doc("oncall-a", on_call=True),
        doc("oncall-b", on_call=True),
        doc("oncall-c", on_call=True, load=1),
        doc("offcall", on_call=False),
        doc("busy", on_call=True, status="busy"),
        doc("away", on_call=True, status="away"),
        doc("full", on_call=True, load=2),
        doc("derm", "dermatology", on_call=True),
        doc("poster", on_call=True),
    ]
    state, actions = route_start(CASE, candidates, TAXONOMY, POLICY, T0)
    assert offered_to(actions) == ["oncall-a", "oncall-b"]
    assert all(a.expires_at == T0 + 90 and a.tier == 1 for a in actions)
    assert state.status is RouteStatus.OFFERING and state.tier == 1
    assert state.next_deadline() == T0 + 90
    # Offer ids are distinct, so a late accept of an old offer can be told apart.
    assert len({a.offer_id for a in actions}) == 2


def test_poster_is_never_offered_their_own_case_even_in_the_lounge_phase():
    only_poster = [doc("poster", on_call=True)]
    state, actions = route_start(CASE, only_poster, TAXONOMY, POLICY, T0)
    assert offered_to(actions) == []
    assert LoungeCall("cardiology") in actions
    state, actions = route_on_online(state, doc("poster", on_call=True), T0 + 5)
    assert actions == []
    with pytest.raises(OfferNotOpen):
        route_on_accept(state, "poster", T0 + 6)


def test_ranking_load_then_language_then_fairness():
    candidates = [
        doc("loaded-es", on_call=True, load=1, languages=("es",)),
        doc("idle-en-recent", on_call=True, last_offered_at=T0 - 10),
        doc("idle-en-long-ago", on_call=True, last_offered_at=T0 - 1000),
        doc("idle-es", on_call=True, languages=("en", "es"), last_offered_at=T0 - 5),
    ]
    policy = RoutingPolicy(k=4)
    _, actions = route_start(CASE, candidates, TAXONOMY, policy, T0)
    assert offered_to(actions) == ["idle-es", "idle-en-long-ago", "idle-en-recent", "loaded-es"]


def test_fairness_never_offered_comes_first():
    candidates = [doc("recent", on_call=True, last_offered_at=T0 - 1), doc("never", on_call=True)]
    _, actions = route_start(CASE, candidates, TAXONOMY, RoutingPolicy(k=1), T0)
    assert offered_to(actions) == ["never"]


def test_subspecialty_match_first():
    case = UrgentCase("case2", "cardiology", "poster", "en", subspecialty="electrophysiology")
    candidates = [
        doc("general", "cardiology", on_call=True),
        doc("interventional", "interventional-cardiology", on_call=True),
        doc("ep", "electrophysiology", on_call=True, load=1),
    ]
    _, actions = route_start(case, candidates, TAXONOMY, RoutingPolicy(k=3), T0)
    # The electrophysiologist leads despite a higher load; then the general cardiologist,
    # then another subspecialist of cardiology (still a specialist of the case's specialty).
    assert offered_to(actions) == ["ep", "general", "interventional"]


def test_decline_moves_to_the_next_candidate_and_never_back():
    candidates = [doc(f"d{i}", on_call=True) for i in range(3)]
    state, _ = route_start(CASE, candidates, TAXONOMY, POLICY, T0)
    state, actions = route_on_decline(state, "d0", candidates, T0 + 10)
    assert actions[0] == CloseOffer("d0", "case1:1", "declined")
    assert offered_to(actions) == ["d2"]
    assert "d0" in state.declined
    # d0 coming back online is not asked again.
    assert route_on_online(state, candidates[0], T0 + 11)[1] == []
    # A duplicate or stale decline changes nothing.
    assert route_on_decline(state, "d0", candidates, T0 + 12) == (state, [])


def test_expiry_escalates_through_every_tier_to_the_lounge():
    candidates = [
        doc("tier1", on_call=True),
        doc("tier2", on_call=False),
        doc("parent", "internal-medicine"),
        doc("related", "critical-care", on_call=True),
        doc("unrelated", "dermatology", on_call=True),
    ]
    policy = RoutingPolicy(k=3, offer_ttl_s=90)
    state, actions = route_start(CASE, candidates, TAXONOMY, policy, T0)
    assert offered_to(actions) == ["tier1"]
    # Tier 2 waits while a tier-1 offer is open, even with free slots.
    assert route_on_expiry(state, candidates, T0 + 89) == (state, [])

    state, actions = route_on_expiry(state, candidates, T0 + 90)
    assert actions == [
        CloseOffer("tier1", "case1:1", "expired"),
        Escalated(2),
        Offer("tier2", "case1:2", T0 + 180, 2),
    ]
    state, actions = route_on_expiry(state, candidates, T0 + 180)
    # Tier 3: on-call first, then parent before related.
    assert actions[1] == Escalated(3)
    assert offered_to(actions) == ["related", "parent"]
    assert state.tier == 3

    state, actions = route_on_expiry(state, candidates, T0 + 270)
    assert [a for a in actions if not isinstance(a, CloseOffer)] == [
        Escalated(4),
        LoungeCall("cardiology"),
    ]
    assert state.status is RouteStatus.LOUNGE_CALLED
    assert state.expired == {"tier1", "tier2", "related", "parent"}
    assert state.outstanding == ()
    assert state.next_deadline() is None


def test_nobody_online_goes_straight_to_the_lounge_and_waits():
    state, actions = route_start(CASE, [], TAXONOMY, POLICY, T0)
    assert actions == [Escalated(2), Escalated(3), Escalated(4), LoungeCall("cardiology")]
    assert state.status is RouteStatus.LOUNGE_CALLED


def test_waiting_case_is_offered_to_the_next_matching_specialist_online():
    state, _ = route_start(CASE, [], TAXONOMY, POLICY, T0)
    assert route_on_online(state, doc("derm", "dermatology"), T0 + 100) == (state, [])
    assert route_on_online(state, doc("busy", status="busy"), T0 + 100) == (state, [])

    state, actions = route_on_online(state, doc("late", on_call=False), T0 + 200)
    assert actions == [Offer("late", "case1:1", T0 + 290, 2)]
    assert state.status is RouteStatus.OFFERING

    # They let it expire: the lounge was already called, so the case just waits.
    state, actions = route_on_expiry(state, [], T0 + 290)
    assert actions == [CloseOffer("late", "case1:1", "expired")]
    assert state.status is RouteStatus.WAITING


def test_newcomer_while_offers_are_full_is_not_offered():
    candidates = [doc("a", on_call=True), doc("b", on_call=True)]
    state, _ = route_start(CASE, candidates, TAXONOMY, POLICY, T0)
    assert route_on_online(state, doc("c", on_call=True), T0 + 1) == (state, [])
    # ...but it is picked up at the next refill.
    state, actions = route_on_decline(state, "a", [*candidates, doc("c", on_call=True)], T0 + 2)
    assert offered_to(actions) == ["c"]


def test_capacity_frees_up_between_calls():
    full = doc("x", on_call=True, load=2)
    state, actions = route_start(CASE, [full], TAXONOMY, POLICY, T0)
    assert offered_to(actions) == []
    freed = doc("x", on_call=True, load=1)
    state, actions = route_on_online(state, freed, T0 + 30)
    assert offered_to(actions) == ["x"]


def test_accept_claims_and_closes_the_other_offers():
    candidates = [doc("a", on_call=True), doc("b", on_call=True)]
    state, _ = route_start(CASE, candidates, TAXONOMY, POLICY, T0)
    state, actions = route_on_accept(state, "b", T0 + 20)
    assert actions == [Claimed("b"), CloseOffer("a", "case1:1", "claimed")]
    assert state.status is RouteStatus.CLAIMED and state.claimed_by == "b"
    assert state.claimed_at == T0 + 20
    # Late events after the claim change nothing.
    assert route_on_expiry(state, candidates, T0 + 500) == (state, [])
    assert route_on_decline(state, "a", candidates, T0 + 21) == (state, [])
    assert route_on_online(state, doc("c", on_call=True), T0 + 22) == (state, [])
    assert route_on_accept(state, "b", T0 + 23) == (state, [])
    with pytest.raises(AlreadyClaimed):
        route_on_accept(state, "a", T0 + 24)


def test_accept_without_an_open_offer_is_refused():
    candidates = [doc("a", on_call=True), doc("b", on_call=True), doc("c", on_call=True)]
    state, _ = route_start(CASE, candidates, TAXONOMY, POLICY, T0)
    with pytest.raises(OfferNotOpen):
        route_on_accept(state, "c", T0 + 1)
    state, _ = route_on_expiry(state, candidates, T0 + 90)
    with pytest.raises(OfferNotOpen):
        route_on_accept(state, "a", T0 + 91)


def test_after_a_lounge_call_any_lounge_member_may_accept():
    state, _ = route_start(CASE, [], TAXONOMY, POLICY, T0)
    state, actions = route_on_accept(state, "someone", T0 + 60)
    assert actions == [Claimed("someone")]


def test_candidate_from_presence_carries_the_router_counters():
    p = Presence(
        user_id="u",
        status="available",
        chosen_status="available",
        on_call=True,
        specialties=("cardiology",),
        languages=("es",),
        country="ES",
        last_active_at=T0,
        connections=(Connection("c", "p", T0 + 75),),
        open_consults=1,
        last_offered_at=T0 - 5,
    )
    c = candidate_from_presence(p)
    assert (c.user_id, c.on_call, c.open_consults, c.last_offered_at) == ("u", True, 1, T0 - 5)


def test_policy_validation():
    with pytest.raises(ValueError):
        RoutingPolicy(k=0)
    with pytest.raises(ValueError):
        RoutingPolicy(offer_ttl_s=0)


def test_taxonomy_from_consult_rows():
    rows = [("cardiology", "internal-medicine", "Cardiology", "Cardiología")]
    t = Taxonomy.from_specialties(rows, {"cardiology": ["critical-care"]})
    assert t.wider("cardiology") == ("internal-medicine", "critical-care")


def test_taxonomy_from_the_real_consult_taxonomy():
    from physicians.taxonomy import RELATED, SPECIALTIES

    t = Taxonomy.from_specialties(SPECIALTIES, RELATED)
    assert t.wider("cardiology")[0] == "internal-medicine"
    assert "critical-care" in t.wider("cardiology")
    assert "electrophysiology" in t.children("cardiology")


def test_fairness_off_ranks_ties_by_user_id_however_recently_offered():
    candidates = [doc("a", on_call=True, last_offered_at=T0 - 1),
                  doc("b", on_call=True, last_offered_at=None),
                  doc("c", on_call=True, last_offered_at=T0 - 500)]
    _, fair = route_start(CASE, candidates, TAXONOMY, POLICY, now=T0)
    assert offered_to(fair) == ["b", "c"]
    unfair = RoutingPolicy(k=2, offer_ttl_s=90, max_open_consults=2, fairness=False)
    _, actions = route_start(CASE, candidates, TAXONOMY, unfair, now=T0)
    assert offered_to(actions) == ["a", "b"]


def test_last_tier_one_calls_the_lounge_instead_of_offering_off_call_or_related():
    candidates = [doc("offcall"), doc("icu", "critical-care", on_call=True)]
    only_on_call = RoutingPolicy(k=2, offer_ttl_s=90, max_open_consults=2, last_tier=1)
    state, actions = route_start(CASE, candidates, TAXONOMY, only_on_call, now=T0)
    assert offered_to(actions) == []
    assert state.status is RouteStatus.LOUNGE_CALLED
    assert LoungeCall("cardiology") in actions
    # A newcomer off call is not offered either; one on call is.
    state, actions = route_on_online(state, doc("late"), now=T0 + 5)
    assert offered_to(actions) == []
    state, actions = route_on_online(state, doc("late-oncall", on_call=True), now=T0 + 6)
    assert offered_to(actions) == ["late-oncall"]
    # Two tiers: the off-call cardiologist, never the intensivist.
    two = RoutingPolicy(k=2, offer_ttl_s=90, max_open_consults=2, last_tier=2)
    _, actions = route_start(CASE, candidates, TAXONOMY, two, now=T0)
    assert offered_to(actions) == ["offcall"]


def test_last_tier_must_be_a_direct_tier():
    for bad in (0, 4):
        with pytest.raises(ValueError):
            RoutingPolicy(last_tier=bad)


def test_reach_is_the_family_and_the_wider_specialties():
    assert TAXONOMY.reach("cardiology") == {"cardiology", "electrophysiology",
                                            "interventional-cardiology", "internal-medicine",
                                            "critical-care"}
    assert TAXONOMY.reach("dermatology") == {"dermatology"}


# --- progressive widening (policy.widen, policy.escalate_after_s; docs/routing.md) ----------

WIDEN = RoutingPolicy(k=2, offer_ttl_s=60, widen=((20, 3),))


def test_widening_offers_two_first_and_a_third_only_if_nobody_accepted_by_its_step():
    candidates = [doc(f"oncall-{n}", on_call=True) for n in "abcd"]
    state, actions = route_start(CASE, candidates, TAXONOMY, WIDEN, T0)
    assert offered_to(actions) == ["oncall-a", "oncall-b"]
    assert state.next_deadline() == T0 + 20  # the step, before any offer expires
    early, nothing = route_on_expiry(state, candidates, T0 + 19.9)
    assert (early, nothing) == (state, [])
    state, actions = route_on_expiry(state, candidates, T0 + 20)
    assert offered_to(actions) == ["oncall-c"]
    assert [o.expires_at for o in state.outstanding] == [T0 + 60, T0 + 60, T0 + 80]
    assert state.widen_at is None and state.next_deadline() == T0 + 60
    # A decline after the step is replaced up to three open offers, not two.
    state, actions = route_on_decline(state, "oncall-a", candidates, T0 + 30)
    assert offered_to(actions) == ["oncall-d"] and len(state.outstanding) == 3


def test_an_accept_before_the_step_widens_nothing():
    candidates = [doc(f"oncall-{n}", on_call=True) for n in "abc"]
    state, _ = route_start(CASE, candidates, TAXONOMY, WIDEN, T0)
    state, actions = route_on_accept(state, "oncall-b", T0 + 8)
    assert actions[0] == Claimed("oncall-b") and state.next_deadline() is None
    assert route_on_expiry(state, candidates, T0 + 20) == (state, [])
    assert "oncall-c" not in state.offered


def test_a_newcomer_is_offered_up_to_the_limit_of_the_moment():
    state, _ = route_start(CASE, [doc("oncall-a", on_call=True), doc("oncall-b", on_call=True)],
                           TAXONOMY, WIDEN, T0)
    assert route_on_online(state, doc("oncall-c", on_call=True), T0 + 5) == (state, [])
    state, actions = route_on_online(state, doc("oncall-c", on_call=True), T0 + 25)
    assert offered_to(actions) == ["oncall-c"]


def test_the_tier_wall_falls_after_escalate_after_s_while_the_on_call_offer_stays_open():
    policy = RoutingPolicy(k=3, offer_ttl_s=60, escalate_after_s=30)
    candidates = [doc("oncall", on_call=True), doc("off-a"), doc("off-b"), doc("off-c")]
    state, actions = route_start(CASE, candidates, TAXONOMY, policy, T0)
    assert offered_to(actions) == ["oncall"]  # tier 1 alone first, one slot of three used
    assert state.next_deadline() == T0 + 30
    state, actions = route_on_expiry(state, candidates, T0 + 30)
    assert Escalated(2) in actions and offered_to(actions) == ["off-a", "off-b"]
    assert [o.user_id for o in state.outstanding] == ["oncall", "off-a", "off-b"]
    assert state.tier == 2
    # Without the knob, the same case waits for the on-call offer to expire first.
    plain = RoutingPolicy(k=3, offer_ttl_s=60)
    state, _ = route_start(CASE, candidates, TAXONOMY, plain, T0)
    assert state.next_deadline() == T0 + 60


def test_a_widening_policy_survives_the_database_round_trip():
    from consult import codec
    policy = RoutingPolicy(k=2, widen=((20, 3), (90, 4)), escalate_after_s=60)
    state, _ = route_start(CASE, [doc("oncall-a", on_call=True)], TAXONOMY, policy, T0)
    assert state.widen_at == T0 + 20
    assert codec.state_load(json.loads(json.dumps(codec.state_dump(state)))) == state


@pytest.mark.parametrize("bad", [{"widen": ((0, 3),)}, {"widen": ((20, 0),)},
                                 {"escalate_after_s": -1}])
def test_widening_policy_validation(bad):
    with pytest.raises(ValueError):
        RoutingPolicy(**bad)
