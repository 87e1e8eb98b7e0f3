"""Declining an offer: only its holder may, and naming someone else's changes nothing.

The pure state machine (consult/triage.py); tests/e2e/test_hostile_input.py replays the same
over real sockets.
"""

from __future__ import annotations

import pytest

from consult.triage import (
    Candidate,
    CloseOffer,
    OfferNotOpen,
    RoutingPolicy,
    Taxonomy,
    UrgentCase,
    route_on_accept,
    route_on_decline,
    route_start,
)

T0 = 1_780_000_000.0
TAXONOMY = Taxonomy(parents={"nephrology": None, "dermatology": None})
CASE = UrgentCase(case_id="case1", specialty="nephrology", poster_id="poster", language="en")


def _doc(user_id: str, specialty: str = "nephrology") -> Candidate:
    return Candidate(user_id=user_id, specialties=(specialty,), languages=("en",),
                     status="available", on_call=True, open_consults=0, last_offered_at=None)


def _offered():
    pool = [_doc("ana"), _doc("bo"), _doc("dee")]
    state, _ = route_start(CASE, pool[:2], TAXONOMY, RoutingPolicy(k=2), T0)
    offers = {o.user_id: o.offer_id for o in state.outstanding}
    assert set(offers) == {"ana", "bo"}
    return state, offers, pool


@pytest.mark.parametrize("who", ["bo", "cy", "poster"])
def test_declining_someone_elses_offer_raises_and_changes_nothing(who):
    state, offers, pool = _offered()
    with pytest.raises(OfferNotOpen):
        route_on_decline(state, who, pool, T0 + 1, offer_id=offers["ana"])
    # Before: a decline named only the case, so Bo's "decline of Ana's offer" closed his own.
    assert {o.user_id: o.offer_id for o in state.outstanding} == offers


def test_a_stranger_naming_no_open_offer_is_refused_too():
    state, offers, pool = _offered()
    for offer in ("case1:99", "case1:lounge"):
        with pytest.raises(OfferNotOpen):
            route_on_decline(state, "cy", pool, T0 + 1, offer_id=offer)


def test_the_holder_declines_their_own_offer_and_the_slot_is_refilled():
    state, offers, pool = _offered()
    state, actions = route_on_decline(state, "bo", pool, T0 + 1, offer_id=offers["bo"])
    assert CloseOffer("bo", offers["bo"], "declined") in actions
    assert {o.user_id for o in state.outstanding} == {"ana", "dee"}
    # Again, or naming an id that is not open (stale): a no-op that never touches another
    # open offer of the case.
    assert route_on_decline(state, "bo", pool, T0 + 2, offer_id=offers["bo"]) == (state, [])
    assert route_on_decline(state, "ana", pool, T0 + 2, offer_id="case1:99") == (state, [])


def test_after_a_claim_only_those_once_offered_get_a_no_op():
    state, offers, pool = _offered()
    state, _ = route_on_accept(state, "ana", T0 + 1)
    assert route_on_decline(state, "bo", pool, T0 + 2, offer_id=offers["bo"]) == (state, [])
    with pytest.raises(OfferNotOpen):
        route_on_decline(state, "cy", pool, T0 + 2, offer_id=offers["ana"])
