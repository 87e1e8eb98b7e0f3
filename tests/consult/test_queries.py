"""Query counts of one urgent-routing step (regression guards): an expiry and an accept.

Every accept, decline, expiry and start of every process runs ``routing_step`` under the
routing row's lock, so its queries are the lock's hold time. The counts are exact and the
tests run outside a test transaction (``transaction=True``), as the server does.
"""

from __future__ import annotations

import pytest

from consult import driver, services
from consult.triage import Candidate, RoutingPolicy, route_on_expiry, route_start

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 2_000_000_000.0
POLICY = RoutingPolicy(k=1, offer_ttl_s=90.0)


def _candidate(user) -> Candidate:
    return Candidate(user_id=str(user.pk), specialties=("cardiology",), languages=("en",),
                     status="available", on_call=True, open_consults=0, last_offered_at=None)


@pytest.fixture
def offered(make_physician):
    """An urgent cardiology case offered to one of two cardiologists (one offer at a time),
    as ``consult.driver.case_route_start`` leaves it: (case id, offered, next, pool)."""
    poster = make_physician(specialty="emergency-medicine")[0].user
    users = {str(u.pk): u for u in (make_physician()[0].user, make_physician()[0].user)}
    case = services.case_open(poster=poster, specialty="cardiology", urgency="urgent",
                              summary="syncope, QT 520 ms")
    pool = [_candidate(u) for u in users.values()]
    result = services.routing_step(
        case_id=str(case.pk), now=T0, transition=lambda s: (s, []),
        start=lambda: route_start(services.urgent_case(case), pool, driver.taxonomy(), POLICY, T0))
    [offer] = result.state.outstanding
    first = users.pop(offer.user_id)
    [second] = users.values()
    return str(case.pk), first, second, pool


# An expiry that offers the case to the next specialist:
#   1. BEGIN
#   2. SELECT the routing row FOR UPDATE
#   3. UPDATE the routing row (state, next deadline)
#   4. SELECT the case (with its specialty) FOR UPDATE, for the offer's case card (the
#      summary opens with the room's epoch key from this process's key cache)
#   5. INSERT the expired offer's "offer_missed" notification (consult/notifications.py)
#   6. COMMIT
# The first offer's time is kept already; the events leave after commit (no queries).
EXPIRY_QUERIES = 6


def test_an_expiry_that_offers_the_next_specialist(offered, django_assert_num_queries):
    case_id, first, second, pool = offered
    later = T0 + POLICY.offer_ttl_s
    with django_assert_num_queries(EXPIRY_QUERIES):
        result = services.routing_step(case_id=case_id, now=later,
                                       transition=lambda s: route_on_expiry(s, pool, later))
    assert [o.user_id for o in result.state.outstanding] == [str(second.pk)]


# An accept: the claim, and the specialist's entry into the case room (a new member: a new
# key epoch and an escrow record), all under the routing row's lock. The nested atomic
# blocks each cost a SAVEPOINT and a RELEASE.
#    1. BEGIN
#    2. SELECT the routing row FOR UPDATE
#    3. SELECT the case's status (a case resolved, withdrawn or closed takes no accept)
#    4. UPDATE the routing row (claimed: no deadline, inactive)
#    5. SELECT the case (with its specialty) FOR UPDATE
#    6. SELECT the specialist's user
#    7. UPDATE the case: status, accepted_by, accepted_at, claimed_at
#    8. INSERT the audit entry of the claim
#    9. SELECT the case's followers               the "case_state" notification
#   10. SELECT mutes of the case room among those told   (consult/notifications.py)
#   11. INSERT the notification (the poster)
#   12. SELECT the case room (``case.room``)
#   13. SAVEPOINT                                membership_add
#   14. SELECT the membership                      get_or_create …
#   15-17. SAVEPOINT, INSERT the membership, RELEASE
#   18. SAVEPOINT                                  room_epoch_advance
#   19. SELECT the current room key FOR UPDATE
#   20. UPDATE it: no longer current
#   21-23. SAVEPOINT, INSERT the new room key, RELEASE
#   24. RELEASE
#   25. SELECT the escrow record of (room, pseudonym)   escrow_record
#   26-28. SAVEPOINT, INSERT the escrow record, RELEASE
#   29. RELEASE                                  (membership_add)
#   30. SELECT the specialist's physician row    the author card of the "accepted" event
#   31. SELECT their primary specialty
#   32. COMMIT
ACCEPT_QUERIES = 32


def test_an_accept(offered, django_assert_num_queries):
    case_id, first, _, _ = offered
    with django_assert_num_queries(ACCEPT_QUERIES):
        result = services.offer_accept(case_id=case_id, user=first, now=T0 + 10)
    assert result.state.claimed_by == str(first.pk)
