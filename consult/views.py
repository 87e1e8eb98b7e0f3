"""HTTP JSON API of cases under /api/v1/cases: thin views that parse, check access, call one
service."""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from django.http import HttpRequest, JsonResponse

from consult import driver, selectors, services
from core.http import api, field

log = logging.getLogger(__name__)


@api(("POST",), auth="user")
def case_create(request: HttpRequest) -> JsonResponse:
    """Post a case; an urgent one is routed to online specialists at once."""
    body = request.json
    case = services.case_open(
        poster=request.user, specialty=field(body, "specialty"), summary=field(body, "summary"),
        urgency=field(body, "urgency", required=False, default="routine"),
        language=field(body, "language", required=False, default="en"),
        subspecialty=field(body, "subspecialty", required=False, default=None),
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False),
    )
    out = {"case": _case_json(case)}
    if case.urgency == "urgent":
        # The case is stored and due for routing; starting it here is the fast path. If this
        # fails, every process's routing driver starts it on its next tick.
        try:
            state = async_to_sync(driver.case_route_start)(services.urgent_case(case))
        except Exception:
            log.exception("starting the routing of case %s failed; the driver will", case.pk)
            out["routing"] = {"status": "pending", "tier": 0, "offered": 0}
        else:
            out["routing"] = {"status": str(state.status), "tier": state.tier,
                              "offered": len(state.outstanding)}
    return JsonResponse(out, status=201)


def _case_json(case) -> dict:
    card = services.case_card(case)
    return {**{f: getattr(card, f) for f in card.__struct_fields__}, "status": case.status,
            "metrics": selectors.case_metrics(case)}


@api(("GET",), auth="user")
def case_detail(request: HttpRequest, case_id: str) -> JsonResponse:
    return JsonResponse({"case": _case_json(selectors.case_get(case_id=case_id,
                                                               user=request.user))})


def _moved(moved: services.Moved) -> JsonResponse:
    """A lifecycle step committed: give back (or take) capacity, answer the new status."""
    async_to_sync(driver.case_moved)(moved)
    return JsonResponse({"case": moved.case_id, "status": moved.status})


@api(("POST",), auth="user")
def case_withdraw(request: HttpRequest, case_id: str) -> JsonResponse:
    return _moved(services.case_withdraw(case_id=case_id, user=request.user, now=time.time()))


@api(("POST",), auth="user")
def case_resolve(request: HttpRequest, case_id: str) -> JsonResponse:
    """The poster resolves the case: ``outcome`` {diagnosis, done, notes}, ``helpful`` seqs."""
    body = request.json
    return _moved(services.case_resolve(
        case_id=case_id, user=request.user, outcome=field(body, "outcome", dict),
        helpful=body.get("helpful") or [],
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False)))


@api(("POST",), auth="user")
def case_close(request: HttpRequest, case_id: str) -> JsonResponse:
    return _moved(services.case_close(case_id=case_id, user=request.user))


@api(("POST",), auth="user")
def case_handoff(request: HttpRequest, case_id: str) -> JsonResponse:
    """The accepting specialist hands the consult off: routed anew, never to them."""
    moved = services.case_handoff(case_id=case_id, user=request.user)
    response = _moved(moved)
    pending = services.routing_pending(case_id=case_id)
    if pending is not None:  # the fast path; the driver starts it otherwise
        try:
            async_to_sync(driver.case_route_start)(pending)
        except Exception:
            log.exception("restarting the routing of case %s failed; the driver will", case_id)
    return response


@api(("POST",), auth="user")
def case_reopen(request: HttpRequest, case_id: str) -> JsonResponse:
    return _moved(services.case_reopen(case_id=case_id, user=request.user))
