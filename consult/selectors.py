"""Reads of cases, with access checks."""

from __future__ import annotations

from bus import protocol
from consult import codec
from consult.models import Case, Routing, case_id_valid
from consult.services import case_card
from core.errors import NotFound
from physicians.models import User
from rooms.models import Membership


def case_get(*, case_id: str, user: User) -> Case:
    """The case, for its poster, its accepting specialist, members of its room, moderators.

    Raises:
        NotFound: no such case, or the caller may not see it.
    """
    case = Case.objects.select_related("specialty").filter(pk=case_id).first() if case_id_valid(
        case_id) else None
    if case is None or not (user.is_moderator or Membership.objects.filter(
            room_id=case.room_id, user=user, active=True).exists()):
        raise NotFound("No such case.", details={"case": case_id})
    return case


def case_metrics(case: Case) -> dict:
    """Seconds from posting to first offer and to acceptance (None until they happen)."""
    def since(t):
        return round((t - case.posted_at).total_seconds(), 3) if t else None

    return {"time_to_first_offer_s": since(case.first_offer_at),
            "time_to_accept_s": since(case.accepted_at),
            "time_to_first_response_s": since(case.first_response_at),
            "time_to_resolution_s": since(case.resolved_at)}


def cases_by_room(*, room_ids: list[str]) -> dict[str, Case]:
    """The cases of these case rooms, by room id (rooms without a case are left out)."""
    return {c.room_id: c for c in Case.objects.select_related("specialty").filter(room_id__in=room_ids)}


def offers_open(*, user_id: str, now: float) -> list[protocol.OfferNew]:
    """The urgent offers still open to ``user_id`` at ``now``, as the ``offer.new`` events that
    announced them: a client that reconnects (or reloads) shows them again."""
    out: list[tuple[object, int, float, str]] = []
    for doc in Routing.objects.filter(active=True, state__isnull=False).values_list("state", flat=True):
        state = codec.state_load(doc)
        for offer in state.outstanding:
            if offer.user_id == user_id and offer.expires_at > now:
                out.append((state.case_id, offer.tier, offer.expires_at, offer.offer_id))
    cases = {str(c.pk): c for c in Case.objects.select_related("specialty").filter(
        pk__in=[case_id for case_id, *_ in out])}
    return [protocol.OfferNew(offer=offer_id, case=case_card(cases[case_id]), tier=tier,
                              expires_at=expires_at)
            for case_id, tier, expires_at, offer_id in sorted(out, key=lambda o: o[2])
            if case_id in cases]
