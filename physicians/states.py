"""Licence verification as an explicit state machine with one guard.

    pending ──verify──▶ verified ──suspend──▶ suspended ──reinstate──▶ verified
       └─────reject──▶ rejected

Every other move raises ``IllegalTransition``; the service that calls ``transition`` records
who decided, when and why.
"""

from __future__ import annotations

from django.db import models

from core.errors import IllegalTransition


class LicenceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


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
        raise IllegalTransition(current, target, what="licence")
    return target
