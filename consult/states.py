"""Licence verification as an explicit state machine with one guard.

    pending ──verify──▶ verified ──suspend──▶ suspended ──reinstate──▶ verified
       └─────reject──▶ rejected

Every other move raises ``IllegalTransition``; the service that calls ``transition`` records
who decided, when and why.
"""

from __future__ import annotations

from django.db import models


class LicenceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"cannot move a licence from {current} to {target}")
        self.current = current
        self.target = target


ALLOWED: dict[str, frozenset[str]] = {
    LicenceStatus.PENDING: frozenset({LicenceStatus.VERIFIED, LicenceStatus.REJECTED}),
    LicenceStatus.VERIFIED: frozenset({LicenceStatus.SUSPENDED}),
    LicenceStatus.SUSPENDED: frozenset({LicenceStatus.VERIFIED}),
    LicenceStatus.REJECTED: frozenset(),
}


def transition(current: str, target: str) -> str:
    """Return ``target`` if the move is legal.

    Raises:
        IllegalTransition: the move is not in ``ALLOWED``.
    """
    if target not in ALLOWED.get(current, frozenset()):
        raise IllegalTransition(current, target)
    return target


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
        raise IllegalTransition(current, target)
    return target
