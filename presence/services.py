"""Durable urgent routing: the pure state machine applied to a locked database row.

``routing_step`` is the one place a case's routing state changes: it locks the ``Routing``
row, runs one pure transition from presence/routing.py, saves the new state and its next
deadline, and carries out the actions' database effects and events after commit. Accepts,
declines and expiries from any process queue on the row lock, so exactly one accept wins
and a deadline found by two drivers escalates once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from consult.errors import Conflict, Forbidden, NotFound
from consult.models import Case, User
from consult.states import CaseStatus, case_transition
from crypto import envelope
from presence import codec
from presence.models import Routing
from presence.routing import (
    Action,
    AlreadyClaimed,
    Claimed,
    CloseOffer,
    Escalated,
    LoungeCall,
    Offer,
    OfferNotOpen,
    RouteStatus,
    RoutingState,
    Step,
)
from rooms import fanout, protocol, roster
from rooms.lounges import lounge_id

# The offer id a lounge call carries: any lounge member but the poster may accept it.
LOUNGE_OFFER = "lounge"


@dataclass(frozen=True)
class StepResult:
    state: RoutingState
    actions: list[Action]


def _stamp(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


def case_card(case: Case) -> protocol.CaseCard:
    summary = envelope.blob_open(
        room_id=case.room_id, attachment_id=f"case-summary:{case.pk}",
        sealed=envelope.Sealed(epoch=case.summary_epoch, key_id=case.summary_key_id,
                               blob=bytes(case.summary_sealed)))
    return protocol.CaseCard(
        id=str(case.pk), specialty=case.specialty.slug, urgency=case.urgency,
        language=case.language, summary=summary.decode(), room=case.room_id,
        posted_at=case.posted_at.isoformat())


def routing_open(*, case_id: str, step: Step, now: float) -> StepResult:
    """Store the first routing state of a case and publish its actions (after commit)."""
    state, actions = step
    with transaction.atomic():
        Routing.objects.create(case_id=case_id, state=codec.state_dump(state),
                               next_deadline=state.next_deadline(), active=True)
        _publish(case_id, state, actions, now)
    return StepResult(state, actions)


def routing_step(*, case_id: str, transition: Callable[[RoutingState], Step],
                 now: float) -> StepResult:
    """Apply one transition to the case's routing state under the row lock.

    Raises:
        NotFound: the case is not being routed.
        (whatever ``transition`` raises, e.g. AlreadyClaimed, OfferNotOpen)
    """
    with transaction.atomic():
        row = Routing.objects.select_for_update().filter(case_id=case_id).first()
        if row is None:
            raise NotFound("This case is not being routed.", details={"case": case_id})
        state, actions = transition(codec.state_load(row.state))
        if actions:
            row.state = codec.state_dump(state)
            row.next_deadline = state.next_deadline()
            row.active = state.status is not RouteStatus.CLAIMED
            row.save(update_fields=["state", "next_deadline", "active", "updated_at"])
            _publish(case_id, state, actions, now)
    return StepResult(state, actions)


def routing_due(*, now: float, limit: int = 100) -> list[str]:
    """Cases with an offer due to expire at ``now``."""
    return list(Routing.objects.filter(active=True, next_deadline__lte=now)
                .order_by("next_deadline").values_list("case_id", flat=True)[:limit])


def routing_get(*, case_id: str) -> RoutingState | None:
    """The routing state of one case still being routed (None when claimed or unknown)."""
    doc = Routing.objects.filter(pk=case_id, active=True).values_list("state", flat=True).first()
    return codec.state_load(doc) if doc is not None else None


def routings_open() -> list[RoutingState]:
    """Every case still looking for a specialist (the on-online path scans these)."""
    return [codec.state_load(doc) for doc in
            Routing.objects.filter(active=True).values_list("state", flat=True)]


def offer_accept(*, case_id: str, user: User, now: float) -> StepResult:
    """Claim the case for ``user``. Exactly one accept wins across every process.

    Raises:
        Conflict: someone else took the case first.
        Forbidden: ``user`` holds no open offer for it (and no lounge call is out).
        NotFound: no such routed case.
    """
    from presence.routing import route_on_accept

    try:
        return routing_step(case_id=case_id, now=now,
                            transition=lambda s: route_on_accept(s, str(user.pk), now))
    except AlreadyClaimed:
        raise Conflict("Another specialist has already taken this case.",
                       details={"case": case_id}) from None
    except OfferNotOpen:
        raise Forbidden("You have no open offer for this case.", details={"case": case_id}) from None


def case_room(*, case_id: str) -> str:
    room = Case.objects.filter(pk=case_id).values_list("room_id", flat=True).first()
    if room is None:
        raise NotFound("No such case.", details={"case": case_id})
    return room


def case_withdraw(*, case_id: str, user: User, now: float) -> None:
    """The poster withdraws the case: every open offer closes on every socket.

    Raises:
        NotFound, Forbidden (not the poster), IllegalTransition (already resolved).
    """
    with transaction.atomic():
        # Lock order everywhere: the Routing row, then the Case row (see routing_step).
        row = Routing.objects.select_for_update().filter(case_id=case_id).first()
        case = Case.objects.select_for_update().filter(pk=case_id).first()
        if case is None:
            raise NotFound("No such case.", details={"case": case_id})
        if case.poster_id != user.pk:
            raise Forbidden("Only the poster may withdraw a case.")
        case.status = case_transition(case.status, CaseStatus.WITHDRAWN)
        case.save(update_fields=["status"])
        if row is not None and row.active:
            state = codec.state_load(row.state)
            for offer in state.outstanding:
                fanout.users_event(user_ids=[offer.user_id], frame=protocol.event_frame(
                    "offer.closed", protocol.OfferClosed(offer=offer.offer_id, case=case_id,
                                                         reason="withdrawn")))
            row.active, row.next_deadline = False, None
            row.save(update_fields=["active", "next_deadline", "updated_at"])
        _poster_event(case, protocol.CaseRouting(case=case_id, step="withdrawn"))


# --- effects of actions -------------------------------------------------------------------------

def _poster_event(case: Case, data: protocol.CaseRouting) -> None:
    fanout.users_event(user_ids=[str(case.poster_id)],
                       frame=protocol.event_frame("case.routing", data))


def _publish(case_id: str, state: RoutingState, actions: list[Action], now: float) -> None:
    """Database effects of ``actions`` and their events, sent after commit. Events to a
    specialist go to every socket they have open (tabs, devices)."""
    case = Case.objects.select_related("specialty").select_for_update().get(pk=case_id)
    offers = [a for a in actions if isinstance(a, Offer)]
    card = case_card(case) if offers or any(isinstance(a, LoungeCall) for a in actions) else None
    for a in offers:
        fanout.users_event(user_ids=[a.user_id], frame=protocol.event_frame(
            "offer.new", protocol.OfferNew(offer=a.offer_id, case=card, tier=a.tier,
                                           expires_at=a.expires_at)))
    if offers:
        if case.first_offer_at is None:
            case.first_offer_at = _stamp(now)
            case.save(update_fields=["first_offer_at"])
        _poster_event(case, protocol.CaseRouting(case=case_id, step="offered",
                                                 count=len(offers), tier=offers[0].tier))
    for a in actions:
        if isinstance(a, CloseOffer):
            fanout.users_event(user_ids=[a.user_id], frame=protocol.event_frame(
                "offer.closed", protocol.OfferClosed(offer=a.offer_id, case=case_id,
                                                     reason=a.reason)))
            if a.reason in ("declined", "expired"):
                _poster_event(case, protocol.CaseRouting(case=case_id, step=a.reason, count=1))
        elif isinstance(a, Escalated):
            _poster_event(case, protocol.CaseRouting(case=case_id, step="escalated", tier=a.tier))
        elif isinstance(a, LoungeCall):
            fanout.room_event(room_id=lounge_id(a.specialty), frame=protocol.event_frame(
                "case.posted", protocol.CasePosted(case=card,
                                                   offer=f"{case_id}:{LOUNGE_OFFER}"),
                room=lounge_id(a.specialty)))
            _poster_event(case, protocol.CaseRouting(case=case_id, step="lounge_called",
                                                     tier=state.tier))
        elif isinstance(a, Claimed):
            _claimed(case, a.user_id, now)
    if state.status is RouteStatus.WAITING and not offers:
        _poster_event(case, protocol.CaseRouting(case=case_id, step="waiting"))


def _claimed(case: Case, user_id: str, now: float) -> None:
    from rooms.services import membership_add

    specialist = User.objects.get(pk=user_id)
    case.status = case_transition(case.status, CaseStatus.CLAIMED)
    case.accepted_by = specialist
    case.accepted_at = _stamp(now)
    case.save(update_fields=["status", "accepted_by", "accepted_at"])
    membership_add(room=case.room, user=specialist)
    physician = getattr(specialist, "physician", None)
    by = roster.author_for(user_id=user_id, room_id=case.room_id, role=specialist.role,
                           specialty=physician.primary_specialty.slug if physician else None,
                           verified=True)
    # The winner's other tabs drop the alert too.
    fanout.users_event(user_ids=[user_id], frame=protocol.event_frame(
        "offer.closed", protocol.OfferClosed(offer=f"{case.pk}:accepted", case=str(case.pk),
                                             reason="accepted")))
    _poster_event(case, protocol.CaseRouting(case=str(case.pk), step="accepted",
                                             by=protocol.AuthorCard(**by.card())))
