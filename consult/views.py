"""HTTP JSON API of cases under /api/v1/cases: thin views that parse, check access, call one
service. Every answer's shape is a struct of consult/codec.py."""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from consult import (
    alerts,
    codec,
    driver,
    notifications,
    opinion_polls,
    poll_export,
    polls,
    search,
    selectors,
    services,
)
from consult.models import Case, routing_case_id
from core.errors import DomainError, ValidationFailed
from core.http import api, error, field, int_param
from rooms.attachment_views import confirm_phi_requested, upload_body

log = logging.getLogger(__name__)

# The structured template's fields in a POST body (all optional but the question).
_TEMPLATE_TEXT = ("title", "age_band", "sex", "chief_complaint", "history", "findings")


@api(("POST", "GET"), auth="user")
def cases(request: HttpRequest) -> JsonResponse:
    return case_feed(request) if request.method == "GET" else case_create(request)


def case_create(request: HttpRequest) -> JsonResponse:
    """Post a case; an urgent one is routed to online specialists at once.

    The structured template: ``question``, ``specialty`` and ``urgency`` required; ``title``,
    ``age_band``, ``sex``, ``chief_complaint``, ``history``, ``findings``, ``language``,
    ``audience`` optional. The one-field form (``summary`` as the question, routine unless
    said otherwise) is still accepted.

    ``client_id`` (optional, as in ``message.send``) makes the post safe to retry: a repeat
    with the same key answers ``200`` with the first case instead of ``201`` with a new one."""
    body = request.json
    template = None
    if "question" in body or "summary" not in body:
        template = services.CaseTemplate(
            question=field(body, "question"),
            **{name: field(body, name, required=False, default="") for name in _TEMPLATE_TEXT})
        urgency = field(body, "urgency")
    else:
        # The one-field form stores only ``summary``: a template field beside it would be
        # dropped without a word.
        stray = {name: "A template field: send 'question' to use the template."
                 for name in _TEMPLATE_TEXT if name in body}
        if stray:
            raise ValidationFailed("Template fields need 'question' (the one-field form "
                                   "takes 'summary' alone).", fields=stray)
        urgency = field(body, "urgency", required=False, default="routine")
    # The retry key: any JSON value is checked by case_post (a number or a bool is refused,
    # not turned into a string).
    client_id = body.get("client_id")
    posted = services.case_post(
        poster=request.user, client_id=client_id, specialty=field(body, "specialty"),
        summary=field(body, "summary", required=False, default=""), template=template,
        urgency=urgency, language=field(body, "language", required=False, default="en"),
        subspecialty=field(body, "subspecialty", required=False, default=None),
        audience=field(body, "audience", required=False, default="network"),
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False),
    )
    case = posted.case
    if not posted.created:
        # A retry: the first case, as it is now; its routing was started by the first post.
        return JsonResponse(codec.shape(codec.CaseReply(
            case=_case_view(case, request.user), routing=_routing_now(case))), status=200)
    routing = None
    if case.urgency == "urgent":
        # The case is stored and due for routing; starting it here is the fast path. If this
        # fails, every process's routing driver starts it on its next tick.
        try:
            state = async_to_sync(driver.case_route_start)(services.urgent_case(case))
        except Exception:
            log.exception("starting the routing of case %s failed; the driver will", case.pk)
            routing = codec.RoutingSummary(status="pending", tier=0, offered=0)
        else:
            routing = codec.RoutingSummary(status=str(state.status), tier=state.tier,
                                           offered=len(state.outstanding))
    return JsonResponse(codec.shape(codec.CaseReply(case=_case_view(case, request.user),
                                                    routing=routing)), status=201)


def _routing_now(case: Case) -> codec.RoutingSummary | None:
    """An urgent case's routing as it stands (a retried post's answer)."""
    if case.urgency != "urgent":
        return None
    state = services.routing_get(case_id=str(case.pk))
    if state is None:  # not started yet, or over (claimed, withdrawn, resolved …)
        return codec.RoutingSummary(status="pending" if case.status == "open" else case.status,
                                    tier=0, offered=0)
    return codec.RoutingSummary(status=str(state.status), tier=state.tier,
                                offered=len(state.outstanding))


def _metrics(case: Case) -> codec.CaseMetrics:
    return codec.CaseMetrics(**selectors.case_metrics(case))


def _case_view(case: Case, user) -> codec.CaseView:
    texts = services.case_texts(case)
    card = services.case_card(case, texts)
    return codec.CaseView(
        **{f: getattr(card, f) for f in card.__struct_fields__}, status=case.status,
        published=case.published, age_band=case.age_band, sex=case.sex,
        chief_complaint=texts["chief_complaint"], history=texts["history"],
        findings=texts["findings"], mine=case.poster_id == user.pk, metrics=_metrics(case),
        helpful=list(case.helpful or []), outcome=services.case_outcome(case),
        following=notifications.following(case=case, user=user))


def _flag(request: HttpRequest, name: str) -> bool:
    value = request.GET.get(name, "")
    if value not in ("", "0", "1", "true", "false"):
        raise ValidationFailed(f"'{name}' must be 1 or 0.", fields={name: "1 or 0."})
    return value in ("1", "true")


def case_feed(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/cases``: the cases the caller may open, newest first, by cursor."""
    try:
        filters = selectors.FeedFilter(
            specialty=request.GET.get("specialty") or None,
            status=request.GET.get("status") or None,
            urgency=request.GET.get("urgency") or None,
            language=request.GET.get("language") or None,
            mine=_flag(request, "mine"), answered_by_me=_flag(request, "answered_by_me"))
        page, cursor = selectors.case_feed(
            user=request.user, filters=filters, cursor=request.GET.get("cursor") or None,
            limit=int_param(request, "limit", selectors.FEED_PAGE))
    except DomainError as exc:
        return error(exc.http_status, exc.code, exc.message, exc.fields, exc.details)
    items = []
    for case in page:
        card = services.case_card(case)
        items.append(codec.FeedItem(**{f: getattr(card, f) for f in card.__struct_fields__},
                                    status=case.status, published=case.published,
                                    metrics=_metrics(case)))
    return JsonResponse(codec.shape(codec.FeedPage(cases=items, next=cursor)))


@api(("GET",), auth="user")
def case_detail(request: HttpRequest, case_id: str) -> JsonResponse:
    """Open a case: whoever may open it joins its room and counts as a viewer."""
    case = services.case_view(case_id=case_id, user=request.user)
    return JsonResponse(codec.shape(codec.CaseReply(case=_case_view(case, request.user))))


def _moved(moved: services.Moved) -> JsonResponse:
    """A lifecycle step committed: give back (or take) capacity, answer the new status."""
    async_to_sync(driver.case_moved)(moved)
    return JsonResponse(codec.shape(codec.MovedReply(case=moved.case_id, status=moved.status)))


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
def case_second(request: HttpRequest, case_id: str) -> JsonResponse:
    """The poster or the accepting specialist asks for a second specialty: a new round."""
    round_id = services.case_second_specialty(case_id=case_id, user=request.user,
                                              specialty=field(request.json, "specialty"))
    pending = services.routing_pending(case_id=round_id)
    routing = codec.RoutingSummary(status="pending", tier=0, offered=0)
    if pending is not None:  # the fast path; the driver starts it otherwise
        try:
            state = async_to_sync(driver.case_route_start)(pending)
        except Exception:
            log.exception("starting round %s failed; the driver will", round_id)
        else:
            routing = codec.RoutingSummary(status=str(state.status), tier=state.tier,
                                           offered=len(state.outstanding))
    return JsonResponse(codec.shape(codec.RoundReply(case=case_id, round=round_id,
                                                     routing=routing)), status=201)


@api(("POST",), auth="user")
def case_reopen(request: HttpRequest, case_id: str) -> JsonResponse:
    return _moved(services.case_reopen(case_id=case_id, user=request.user))


@api(("POST",), auth="user")
def case_invite(request: HttpRequest, case_id: str) -> JsonResponse:
    """Bring a colleague in by their pseudonym in a room the inviter is in."""
    body = request.json
    return _moved(services.case_invite(case_id=case_id, user=request.user,
                                       room_id=field(body, "room"),
                                       pseudonym=field(body, "pseudonym")))


@api(("POST",), auth="user")
def case_publish(request: HttpRequest, case_id: str) -> JsonResponse:
    """The poster publishes a resolved urgent case as a teaching case."""
    return _moved(services.case_publish(case_id=case_id, user=request.user))


@csrf_exempt  # upload_body runs the CSRF check itself (core.http.csrf_refusal)
def case_image(request: HttpRequest, case_id: str) -> HttpResponse:
    """``POST cases/<id>/images``: an image of the case (raw ``image/*`` body or the ``file``
    field of a form), through the attachment path (metadata stripped); the poster only."""
    if request.method != "POST":
        return error(405, "bad_request", "Use POST.")
    if not request.user.is_authenticated:
        return error(401, "unauthorized", "Log in first.")
    try:
        data, _ = upload_body(request)  # the client's file name is never kept
        attachment = services.case_image_add(case_id=case_id, user=request.user, data=data,
                                             confirm_phi=confirm_phi_requested(request))
    except DomainError as exc:
        # 422 phi_detected: OCR read patient data in the image (kinds only in details);
        # confirm_phi=1 stores it, audited (docs/phi.md).
        refused = error(exc.http_status, exc.code, exc.message, exc.fields, exc.details)
        refused["Cache-Control"] = "no-store"
        return refused
    response = JsonResponse(codec.shape(codec.ImageReply(case=case_id, attachment=attachment)),
                            status=201)
    response["Cache-Control"] = "no-store"
    return response


@api(("GET",), auth="user")
def dashboard(request: HttpRequest) -> JsonResponse:
    """Network figures per specialty and week beside SERMO's published ones."""
    weeks = int_param(request, "weeks", selectors.DASHBOARD_WEEKS)
    if not 1 <= weeks <= 104:
        raise ValidationFailed("'weeks' must be 1 to 104.", fields={"weeks": "1 to 104."})
    return JsonResponse(codec.shape(codec.Dashboard(**selectors.dashboard(weeks=weeks))))


@api(("POST",), auth="user")
def search_view(request: HttpRequest) -> JsonResponse:
    """``POST /api/v1/search {q, kind?, limit?, offset?}``: what the caller may read that
    matches, best first (consult/search.py). A POST body, not a query string: the words a
    physician searches for would otherwise land in every access log on the way (daphne's,
    the proxy's) and in the browser's history (docs/search.md)."""
    body = request.json
    hits, nxt = search.search(
        user=request.user, q=field(body, "q"), kind=field(body, "kind", required=False),
        limit=field(body, "limit", int, required=False, default=search.PAGE),
        offset=field(body, "offset", int, required=False, default=0))
    return JsonResponse(codec.shape(codec.SearchPage(hits=[codec.SearchHit(
        kind=h.kind, room=h.room, case=h.case, seq=h.seq, title=h.title, snippet=h.snippet,
        at=h.at.isoformat(), matched=h.matched) for h in hits], next=nxt)))


@api(("GET",), auth="user")
def offer_alert(request: HttpRequest, token: str) -> JsonResponse:
    """What a mailed alert link offers (consult/alerts.py), for the link's page."""
    return JsonResponse({"alert": alerts.offer_alert_get(token=token, user=request.user)})


@api(("POST",), auth="user")
def offer_alert_accept(request: HttpRequest, token: str) -> JsonResponse:
    """Take the case through a mailed alert link: once, by its addressee, while it is open;
    afterwards a ``conflict`` with ``details.reason`` (used, expired, closed)."""
    state = async_to_sync(driver.offer_alert_accept)(token=token, user=request.user)
    case_id = routing_case_id(state.case_id)
    room = services.case_room(case_id=state.case_id)
    return JsonResponse({"case": case_id, "room": room})


def _poll_view(poll, case, user) -> codec.PollView:
    now = timezone.now()
    closed = polls.poll_closed(poll, now)
    voted = polls.poll_voted(poll, user)
    results = None
    if polls.results_visible(poll, user, voted=voted, now=now):
        r = polls.poll_results(poll)
        results = codec.PollResults(
            counts=r.counts, hidden_votes=r.hidden_votes,
            by_specialty=[codec.SpecialtyResults(specialty=s, votes=n, counts=c)
                          for s, n, c in r.by_specialty])
    return codec.PollView(
        id=str(poll.pk), case=str(case.pk) if case is not None else None, kind=poll.kind,
        room=polls.poll_room(poll, case), question=polls.poll_question(poll, case),
        options=polls.poll_options(poll, case), votes=poll.votes, closed=closed,
        opened=polls.poll_opened(poll, now), voted=voted, results=results,
        opens_at=poll.opens_at.isoformat() if poll.opens_at else None,
        closes_at=poll.closed_at.isoformat() if poll.closed_at else None)


def _poll_reply(pair, user, status: int = 200) -> JsonResponse:
    poll, case = pair
    return JsonResponse(codec.shape(codec.PollReply(poll=_poll_view(poll, case, user))),
                        status=status)


@api(("POST", "GET"), auth="user")
def case_polls(request: HttpRequest, case_id: str) -> JsonResponse:
    """GET: the case's polls. POST ``{options: [str], closes_in_s?, confirm_phi?}``: a new
    poll, by the poster or the accepting specialist."""
    if request.method == "GET":
        found, case = polls.polls_of_case(case_id=case_id, user=request.user)
        return JsonResponse(codec.shape(codec.PollList(
            polls=[_poll_view(p, case, request.user) for p in found],
            can_create=request.user.pk in (case.poster_id, case.accepted_by_id))))
    body = request.json
    return _poll_reply(polls.poll_create(
        case_id=case_id, user=request.user, options=body.get("options"),
        closes_in_s=field(body, "closes_in_s", int, required=False, default=None),
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False)),
        request.user, status=201)


@api(("GET",), auth="user")
def poll_detail(request: HttpRequest, poll_id: str) -> JsonResponse:
    return _poll_reply(polls.poll_get(poll_id=poll_id, user=request.user), request.user)


@api(("POST",), auth="user")
def poll_vote(request: HttpRequest, poll_id: str) -> JsonResponse:
    """``{option}`` (0-based): one vote per physician; a second is ``conflict``."""
    return _poll_reply(polls.poll_vote(poll_id=poll_id, user=request.user,
                                       option=request.json.get("option")), request.user)


@api(("POST",), auth="user")
def poll_close(request: HttpRequest, poll_id: str) -> JsonResponse:
    return _poll_reply(polls.poll_close(poll_id=poll_id, user=request.user), request.user)


def _when(body: dict, name: str, *, required: bool):
    """An ISO 8601 time with its offset (``2026-12-02T17:00:00Z``).

    Raises:
        ValidationFailed: missing (when required), not a string, or not such a time.
    """
    raw = field(body, name, str, required=required, default=None)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationFailed(f"'{name}' is an ISO 8601 time with its offset.",
                               fields={name: "e.g. 2026-12-02T17:00:00Z"})
    return value


@api(("POST", "GET"), auth="user")
def opinion_poll_collection(request: HttpRequest) -> JsonResponse:
    """GET ``?room=<lounge>``: the newest opinion polls (of that lounge, or all). POST
    ``{room?, question, options, opens_at?, closes_at, language?, confirm_phi?}``:
    a moderator's new poll (``room`` null: network-wide)."""
    if request.method == "GET":
        found = opinion_polls.opinion_polls_list(user=request.user,
                                                 room=request.GET.get("room") or None)
        return JsonResponse(codec.shape(codec.PollList(
            polls=[_poll_view(p, None, request.user) for p in found],
            can_create=request.user.is_moderator)))
    body = request.json
    poll = opinion_polls.opinion_poll_create(
        user=request.user, room=body.get("room"), question=body.get("question"),
        options=body.get("options"), opens_at=_when(body, "opens_at", required=False),
        closes_at=_when(body, "closes_at", required=True),
        language=field(body, "language", str, required=False, default="en"),
        confirm_phi=field(body, "confirm_phi", bool, required=False, default=False))
    return _poll_reply((poll, None), request.user, status=201)


def _exported(request: HttpRequest, poll_id: str, *, chart: bool = False):
    """The texts and results for the CSV (moderators at any time, others once closed) or the
    chart (whoever sees the results in the poll's view: voted, closed, or a moderator)."""
    poll, case = polls.poll_get(poll_id=poll_id, user=request.user)
    now = timezone.now()
    if chart:
        polls.results_chart_check(poll, request.user, now)
    else:
        polls.results_export_check(poll, request.user, now)
    return dict(question=polls.poll_question(poll, case), options=polls.poll_options(poll, case),
                results=polls.poll_results(poll)), poll


@api(("GET",), auth="user")
def poll_results_csv(request: HttpRequest, poll_id: str) -> HttpResponse:
    """The results as CSV: moderators at any time, everyone who may see the poll once it
    closed (before: 409 ``conflict``, ``details.reason: "open"``)."""
    texts, poll = _exported(request, poll_id)
    response = HttpResponse(poll_export.results_csv(**texts),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="poll-{poll.pk}.csv"'
    return response


@api(("GET",), auth="user")
def poll_results_chart(request: HttpRequest, poll_id: str) -> HttpResponse:
    """The results as an SVG bar chart (``?lang=en|es`` for its own words), for whoever
    sees the results (before: 409 ``conflict``, ``details.reason: "hidden"``)."""
    texts, _ = _exported(request, poll_id, chart=True)
    lang = request.GET.get("lang", "en")
    response = HttpResponse(poll_export.results_svg(**texts, lang=lang),
                            content_type="image/svg+xml")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
