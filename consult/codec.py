"""RoutingState ⇄ JSON, so the state machine's value can live in a database row."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from consult.triage import Offer, RouteStatus, RoutingPolicy, RoutingState

_SETS = ("family", "offered", "declined", "expired", "excluded")


def state_dump(state: RoutingState) -> dict[str, Any]:
    doc = asdict(state)
    for name in _SETS:
        doc[name] = sorted(getattr(state, name))
    doc["wider"] = list(state.wider)
    doc["status"] = str(state.status)
    doc["outstanding"] = [asdict(o) for o in state.outstanding]
    return doc


def state_load(doc: dict[str, Any]) -> RoutingState:
    doc = dict(doc)
    for name in _SETS:
        doc[name] = frozenset(doc.get(name, ()))  # rows stored before a set existed lack it
    doc["wider"] = tuple(doc["wider"])
    doc["status"] = RouteStatus(doc["status"])
    doc["policy"] = RoutingPolicy(**doc["policy"])
    doc["outstanding"] = tuple(Offer(**o) for o in doc["outstanding"])
    return RoutingState(**doc)
