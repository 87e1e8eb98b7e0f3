"""The case lifecycle as an explicit state machine with one guard.

    open ──claim──▶ claimed ──resolve──▶ resolved ──close──▶ closed
      │  ◀─hand-off─┘  │                    │                  │
      │                ├──withdraw──▶ withdrawn                  │
      │                └──close──▶ closed                        │
      ├──resolve──▶ resolved                                     │
      ├──withdraw──▶ withdrawn                                   │
      └──close──▶ closed                                         │
    resolved | closed ──reopen──▶ open (or claimed, when a specialist had accepted it)

``claimed`` is the only state in which a specialist holds capacity (an open urgent consult,
counted in the presence store): every move out of it releases that capacity, once — the moves
are serialized by the case row's lock, and the store releases a case it holds only once.

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
    CLOSED = "closed", "Closed"


class CaseAction(models.TextChoices):
    """What moved a case: one audit entry per step (``consult.models.CaseAudit``)."""

    POST = "post", "Post"
    CLAIM = "claim", "Claim"
    RESOLVE = "resolve", "Resolve"
    WITHDRAW = "withdraw", "Withdraw"
    CLOSE = "close", "Close"
    EXPIRE = "expire", "Expire"
    REOPEN = "reopen", "Reopen"
    HANDOFF = "handoff", "Hand off"
    INVITE = "invite", "Invite"
    PUBLISH = "publish", "Publish"
    SECOND_OPINION = "second", "Second specialty"


CASE_ALLOWED: dict[str, frozenset[str]] = {
    CaseStatus.OPEN: frozenset({CaseStatus.CLAIMED, CaseStatus.RESOLVED, CaseStatus.WITHDRAWN,
                                CaseStatus.CLOSED}),
    CaseStatus.CLAIMED: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED, CaseStatus.WITHDRAWN,
                                   CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLAIMED, CaseStatus.CLOSED}),
    CaseStatus.WITHDRAWN: frozenset(),
    CaseStatus.CLOSED: frozenset({CaseStatus.OPEN, CaseStatus.CLAIMED}),
}

# Which actions may make which move (the guard checks both the move and its name).
ACTION_MOVES: dict[str, frozenset[tuple[str, str]]] = {
    CaseAction.CLAIM: frozenset({(CaseStatus.OPEN, CaseStatus.CLAIMED)}),
    CaseAction.RESOLVE: frozenset({(CaseStatus.OPEN, CaseStatus.RESOLVED),
                                   (CaseStatus.CLAIMED, CaseStatus.RESOLVED)}),
    CaseAction.WITHDRAW: frozenset({(CaseStatus.OPEN, CaseStatus.WITHDRAWN),
                                    (CaseStatus.CLAIMED, CaseStatus.WITHDRAWN)}),
    CaseAction.CLOSE: frozenset({(s, CaseStatus.CLOSED) for s in (
        CaseStatus.OPEN, CaseStatus.CLAIMED, CaseStatus.RESOLVED)}),
    CaseAction.EXPIRE: frozenset({(CaseStatus.OPEN, CaseStatus.CLOSED),
                                  (CaseStatus.CLAIMED, CaseStatus.CLOSED)}),
    CaseAction.REOPEN: frozenset({(s, t) for s in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
                                  for t in (CaseStatus.OPEN, CaseStatus.CLAIMED)}),
    CaseAction.HANDOFF: frozenset({(CaseStatus.CLAIMED, CaseStatus.OPEN)}),
}

# Moves that end a specialist's consult: capacity comes back.
RELEASES = frozenset((CaseStatus.CLAIMED, t) for t in CASE_ALLOWED[CaseStatus.CLAIMED])


def case_transition(current: str, target: str, action: str | None = None) -> str:
    """The case lifecycle guard: ``target`` when the move (and, named, ``action``'s right to
    make it) is allowed.

    Raises:
        IllegalTransition: the move is not in ``CASE_ALLOWED`` (or not ``action``'s).
    """
    if target not in CASE_ALLOWED.get(current, frozenset()) or (
            action is not None and (current, target) not in ACTION_MOVES.get(action, ())):
        raise IllegalTransition(current, target, what="case")
    return target


def releases_capacity(current: str, target: str) -> bool:
    return (current, target) in RELEASES


def capacity_moves(current: str, target: str, *, accepted: bool) -> tuple[bool, bool]:
    """What a move does to the accepting specialist's capacity: ``(release, take)``.
    Leaving ``claimed`` releases it; coming back to ``claimed`` from anywhere but ``open``
    (a reopen) takes it again — from ``open`` the claim's routing step takes it. Nothing
    without an accepting specialist (``accepted``). The simulator (sim/) follows this rule;
    consult.services._move computes the same for the accepting specialist from who holds
    capacity before and after the move (``_holders``, which also counts second-specialty
    consultants, whom the simulator does not model; the stores hold capacity per case, so
    the claim's own take and _move's are one)."""
    if not accepted:
        return False, False
    return (releases_capacity(current, target),
            target == CaseStatus.CLAIMED and current != CaseStatus.OPEN)
