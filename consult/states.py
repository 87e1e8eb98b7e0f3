"""The case lifecycle as an explicit state machine with one guard.

    open ──claim──▶ claimed ──resolve──▶ resolved
      │                └──withdraw──▶ withdrawn
      ├──resolve──▶ resolved
      └──withdraw──▶ withdrawn

Every other move raises ``IllegalTransition`` (a ``Conflict``: code ``conflict``).
"""

from __future__ import annotations

from django.db import models

from core.errors import IllegalTransition


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    RESOLVED = "resolved", "Resolved"
    WITHDRAWN = "withdrawn", "Withdrawn"


CASE_ALLOWED: dict[str, frozenset[str]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.CLAIMED, CaseStatus.RESOLVED, CaseStatus.WITHDRAWN}),
    CaseStatus.CLAIMED: frozenset({CaseStatus.RESOLVED, CaseStatus.WITHDRAWN}),
    CaseStatus.RESOLVED: frozenset(),
    CaseStatus.WITHDRAWN: frozenset(),
}


def case_transition(current: str, target: str) -> str:
    """The case lifecycle guard.

    Raises:
        IllegalTransition: the move is not in ``CASE_ALLOWED``.
    """
    if target not in CASE_ALLOWED.get(current, frozenset()):
        raise IllegalTransition(current, target, what="case")
    return target
