"""The pure side of a hand-off: a new routing round never offers the case to who handed it
off, and they cannot take it back through a lounge call."""

from __future__ import annotations

import pytest

from consult.triage import (
    Candidate,
    OfferNotOpen,
    RoutingPolicy,
    Taxonomy,
    UrgentCase,
    route_on_accept,
    route_start,
)

TAX = Taxonomy(parents={"cardiology": None})
NOW = 1_000.0


def _doc(user_id: str) -> Candidate:
    return Candidate(user_id=user_id, specialties=("cardiology",), languages=("en",),
                     status="available", on_call=True, open_consults=0, last_offered_at=None)


def test_a_new_round_skips_who_handed_it_off():
    case = UrgentCase(case_id="c", specialty="cardiology", poster_id="p", language="en",
                      exclude=("ana",))
    state, _ = route_start(case, [_doc("ana"), _doc("bo")], TAX, RoutingPolicy(k=3), NOW)
    assert [o.user_id for o in state.outstanding] == ["bo"]
    with pytest.raises(OfferNotOpen):
        route_on_accept(state, "ana", NOW + 1)


def test_who_handed_it_off_cannot_take_it_back_after_a_lounge_call():
    case = UrgentCase(case_id="c", specialty="cardiology", poster_id="p", language="en",
                      exclude=("ana",))
    state, _ = route_start(case, [_doc("ana")], TAX, RoutingPolicy(k=3), NOW)
    assert state.lounge_called and not state.outstanding
    with pytest.raises(OfferNotOpen):
        route_on_accept(state, "ana", NOW + 1)
    claimed, _ = route_on_accept(state, "cy", NOW + 1)  # any other lounge member may
    assert claimed.claimed_by == "cy"
