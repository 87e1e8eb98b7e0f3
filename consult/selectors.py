"""Reads of cases, with access checks."""

from __future__ import annotations

from consult.models import Case, case_id_valid
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
