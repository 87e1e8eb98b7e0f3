"""Every state change of a consultation: open a case (post and route it, one transaction),
step its urgent routing, accept, withdraw.

``case_open`` stores the case, its room and — for an urgent case — a ``Routing`` row that is
due at once, in one transaction: whatever happens after the commit (the process dies, the
presence store is down), some process's routing driver finds the due row and starts routing
(``consult.driver``). The view starts it at once as the fast path.

``routing_step`` is the one place a case's routing state changes: it locks the ``Routing``
row, runs one pure transition from consult/triage.py, saves the new state and its next
deadline, and carries out the actions' database effects and events after commit. Accepts,
declines, expiries and withdrawals from any process queue on the row lock, so exactly one
accept wins, a deadline found by two drivers escalates once, and nothing is accepted after
a withdrawal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Case as CaseWhen
from django.db.models import Count, DateTimeField, F, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from bus import outbox, protocol
from consult import codec, notifications, search_index, selectors
from consult.models import (
    AGE_BANDS,
    ROUND_SEPARATOR,
    Audience,
    Case,
    CaseAudit,
    CaseSeen,
    Routing,
    SeenKind,
    Sex,
    Urgency,
    case_id_valid,
    routing_case_id,
    routing_id_valid,
)
from consult.states import CaseAction, CaseStatus, case_transition
from consult.triage import (
    Action,
    AlreadyClaimed,
    Candidate,
    Claimed,
    CloseOffer,
    Escalated,
    LoungeCall,
    Offer,
    OfferNotOpen,
    RouteStatus,
    RoutingClosed,
    RoutingState,
    Step,
    UrgentCase,
    route_on_accept,
    route_on_decline,
    route_on_withdraw,
)
from core import metrics, text
from core.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from crypto import envelope
from crypto.personal import blind_index
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.guard import phi_guard
from physicians.models import Physician, Specialty, User
from physicians.services import physician_require_verified
from physicians.states import LicenceStatus
from rooms import roster
from rooms.attachments import attachment_store
from rooms.lounges import lounge_id
from rooms.models import Membership, Message
from rooms.services import case_room_create, membership_add

# How long the posting process has to start an urgent case's routing before every driver
# may: a few driver ticks, so the fast path wins and drivers do not race it.
START_GRACE_S = 2.0
# The window of the per-poster case limits (settings.CURBSIDE_CASE_LIMITS).
CASE_RATE_WINDOW = timedelta(hours=1)
# Longest accepted summary: a de-identified vignette, not a chart.
SUMMARY_MAX_CHARS = 2000
LANGUAGES = ("en", "es", "fr", "pt", "de", "it")


def _case_rate_check(*, poster: User, urgency: str, now: datetime) -> None:
    """At most ``per_hour`` cases and ``urgent_per_hour`` urgent ones per poster in any
    hour (settings.CURBSIDE_CASE_LIMITS): an urgent case pages on-call specialists, so its
    cap is strict. Counted in the database, so every process agrees; the poster's physician
    row is locked first, so two posts at once cannot both slip under the cap.

    Raises:
        RateLimited: with ``retry_after_s`` until the oldest counted case leaves the hour.
    """
    limits = settings.CURBSIDE_CASE_LIMITS
    Physician.objects.select_for_update().filter(user_id=poster.pk).values_list("pk").first()
    since = now - CASE_RATE_WINDOW
    recent = list(Case.objects.filter(poster=poster, posted_at__gte=since)
                  .order_by("posted_at").values_list("urgency", "posted_at"))
    urgent = [t for u, t in recent if u == Urgency.URGENT]
    for stamps, cap, what in ((urgent, limits["urgent_per_hour"], "urgent cases"),
                              ([t for _, t in recent], limits["per_hour"], "cases")):
        if (what == "cases" or urgency == Urgency.URGENT) and len(stamps) >= cap:
            wait = (stamps[len(stamps) - cap] + CASE_RATE_WINDOW - now).total_seconds()
            raise RateLimited(f"You may post at most {cap} {what} an hour.",
                              details={"retry_after_s": round(max(wait, 1.0), 3)})


# The structured template's free-text fields besides the question, with their limits.
TEMPLATE_FIELDS = {"title": 120, "chief_complaint": 300, "history": SUMMARY_MAX_CHARS,
                   "findings": SUMMARY_MAX_CHARS}


@dataclass(frozen=True)
class CaseTemplate:
    """A case as the poster fills it in (``case_open``); ``question`` is mandatory."""

    question: str
    title: str = ""
    age_band: str = ""
    sex: str = ""
    chief_complaint: str = ""
    history: str = ""
    findings: str = ""

    def texts(self) -> dict[str, str]:
        return {"title": self.title, "chief_complaint": self.chief_complaint,
                "history": self.history, "findings": self.findings}


def _template_check(t: CaseTemplate) -> tuple[CaseTemplate, dict[str, str]]:
    """The template trimmed, and what is wrong with it by field."""
    t = CaseTemplate(question=t.question.strip(), age_band=t.age_band, sex=t.sex,
                     **{k: v.strip() for k, v in t.texts().items()})
    fields = {}
    if not t.question:
        fields["question"] = "This field is required."
    elif len(t.question) > SUMMARY_MAX_CHARS:
        fields["question"] = f"At most {SUMMARY_MAX_CHARS} characters."
    for name, limit in TEMPLATE_FIELDS.items():
        if len(getattr(t, name)) > limit:
            fields[name] = f"At most {limit} characters."
    if t.age_band not in AGE_BANDS:
        fields["age_band"] = f"One of {', '.join(b for b in AGE_BANDS if b)}, or empty."
    if t.sex not in Sex.values:
        fields["sex"] = f"One of {', '.join(v for v in Sex.values if v)}, or empty."
    return t, fields


# A post's retry key: the same rules as message.send's client_id (bus/protocol.py ClientId).
CLIENT_ID_MAX_CHARS = 64


def case_post_key(*, poster: User, client_id: str) -> str:
    """What the case row keeps of a post's ``client_id``: a keyed MAC (the keyring's index
    key, like the e-mail blind index) of the poster and the key, so the database never holds
    what a client sent there, and one poster's key can never name another poster's case."""
    return blind_index("case-post", f"{poster.pk}\x00{client_id}")


def _client_id_check(client_id: object) -> str:
    if (not isinstance(client_id, str) or not 1 <= len(client_id) <= CLIENT_ID_MAX_CHARS
            or not text.identifier_ok(client_id)):
        raise ValidationFailed(
            "'client_id' must be 1 to 64 characters and "
            f"{text.IDENTIFIER_RULE}.",
            fields={"client_id": f"1 to {CLIENT_ID_MAX_CHARS} characters; it "
                                 f"{text.IDENTIFIER_RULE}."})
    return client_id


@dataclass(frozen=True)
class CasePosted:
    case: Case
    created: bool  # False: a retry of an earlier post with the same client_id


class _AlreadyPosted(Exception):
    def __init__(self, case: Case) -> None:
        self.case = case


def _posted_case(poster: User, post_key: str) -> Case | None:
    return (Case.objects.select_related("specialty", "subspecialty", "room")
            .filter(poster=poster, post_key=post_key).first())


def case_post(*, poster: User, client_id: str | None = None, **kwargs) -> CasePosted:
    """``case_open`` made safe to retry: with a ``client_id``, a post that repeats one this
    poster already made stores nothing and answers the first case (``created`` False) —
    whatever the retry's body says, as ``message.send`` does. A retry is not held to the
    hourly cap (it posts nothing). Two identical posts at once store one case: both take the
    poster's physician row lock before looking (``case_open``), and the unique
    ``(poster, post_key)`` constraint stands behind that.

    Raises:
        ValidationFailed: a malformed ``client_id`` (empty, over 64 characters, control or
            invisible characters), or what ``case_open`` raises.
    """
    if client_id is None:
        return CasePosted(case_open(poster=poster, **kwargs), True)
    key = case_post_key(poster=poster, client_id=_client_id_check(client_id))
    physician_require_verified(user=poster)
    prior = _posted_case(poster, key)
    if prior is not None:
        return CasePosted(prior, False)
    try:
        return CasePosted(case_open(poster=poster, post_key=key, **kwargs), True)
    except _AlreadyPosted as seen:
        return CasePosted(seen.case, False)
    except IntegrityError:
        prior = _posted_case(poster, key)
        if prior is None:
            raise
        return CasePosted(prior, False)


def case_open(*, poster: User, specialty: str, summary: str = "",
              urgency: str = Urgency.ROUTINE, language: str = "en",
              subspecialty: str | None = None, confirm_phi: bool = False,
              audience: str = Audience.NETWORK, template: CaseTemplate | None = None,
              now: datetime | None = None, post_key: str | None = None) -> Case:
    """Create the case and its room; announce a routine case in the specialty lounge and make
    an urgent one due for routing — all in one transaction. Starting the routing (reading
    live presence, sending offers) is ``consult.driver.case_route_start``; if nobody calls it,
    every process's driver starts it on its next tick.

    ``template`` is the structured case (its question is the case's summary); without it,
    ``summary`` is the question. ``audience`` says who may open a routine case: every verified
    physician (``network``) or those of its specialty; an urgent case is private.
    ``post_key`` (``case_post``) is the retry key's MAC: a case of this poster already stored
    under it, found under the poster's row lock, is answered instead of a new one.

    Every text passes the PHI guard first (phi/guard.py). With ``confirm_phi`` the poster
    says its findings are not patient data: the case is stored and the confirmation audited
    (the poster's pseudonym in the new case room, the finding kinds; never the text). The
    texts are sealed under the case room's key.

    Raises:
        Forbidden: the poster is not an active physician with a verified licence.
        RateLimited: too many cases (or urgent cases) in the last hour (``retry_after_s``).
        ValidationFailed: unknown specialty, empty or over-long text, bad urgency, language,
            audience, age band or sex.
        PhiDetected: a text looks like it carries patient identifiers (field and spans).
    """
    physician_require_verified(user=poster)
    # The one-field form (``summary``) names its own field in errors and PHI findings.
    question_field = "question" if template is not None else "summary"
    template, fields = _template_check(template or CaseTemplate(question=summary))
    if "question" in fields:
        fields[question_field] = fields.pop("question")
    if urgency not in Urgency.values:
        fields["urgency"] = f"One of {', '.join(Urgency.values)}."
    if language not in LANGUAGES:
        fields["language"] = f"One of {', '.join(LANGUAGES)}."
    if audience not in (Audience.NETWORK, Audience.SPECIALTY):
        fields["audience"] = "One of network, specialty."
    spec = Specialty.objects.filter(slug=specialty).first()
    if spec is None:
        fields["specialty"] = f"Unknown specialty '{specialty}'."
    sub = None
    if subspecialty:
        sub = Specialty.objects.filter(slug=subspecialty, parent__slug=specialty).first()
        if sub is None:
            fields["subspecialty"] = f"'{subspecialty}' is not a subspecialty of '{specialty}'."
    if fields:
        raise ValidationFailed("Some fields are invalid.", fields=fields)
    # Both languages' patterns, whatever the case language: a Spanish case may quote an
    # English date, and scanning both costs microseconds.
    findings = phi_guard(template.question, field=question_field, confirmed=confirm_phi)
    for name, value in template.texts().items():
        if value:
            findings += phi_guard(value, field=name, confirmed=confirm_phi)
    now = now or timezone.now()
    if urgency == Urgency.URGENT:
        audience = Audience.PRIVATE
    with outbox.atomic():
        if post_key is not None:
            # Under the poster's row lock, so a racing post with the same key, committed
            # while this one waited, is seen here (READ COMMITTED: a fresh snapshot).
            Physician.objects.select_for_update().filter(user_id=poster.pk).values_list(
                "pk").first()
            prior = _posted_case(poster, post_key)
            if prior is not None:
                raise _AlreadyPosted(prior)
        _case_rate_check(poster=poster, urgency=urgency, now=now)
        room = case_room_create(title=template.title or f"{spec.name_en} case",
                                specialty_id=spec.pk, members=[poster])
        case = Case(poster=poster, specialty=spec, subspecialty=sub, urgency=urgency,
                    language=language, room=room, posted_at=now, audience=audience,
                    age_band=template.age_band, sex=template.sex, participants=1,
                    summary_epoch=0, summary_key_id=0, summary_sealed=b"", post_key=post_key)
        sealed = envelope.blob_seal(room_id=room.id, attachment_id=f"case-summary:{case.pk}",
                                    body=template.question.encode())
        case.summary_epoch, case.summary_key_id, case.summary_sealed = (
            sealed.epoch, sealed.key_id, sealed.blob)
        texts = {k: v for k, v in template.texts().items() if v}
        if texts:
            sealed = envelope.blob_seal(room_id=room.id,
                                        attachment_id=f"case-template:{case.pk}",
                                        body=json.dumps(texts).encode())
            case.template_epoch, case.template_key_id, case.template_sealed = (
                sealed.epoch, sealed.key_id, sealed.blob)
        case.save(force_insert=True)
        search_index.case_terms_write(case.pk, [template.question, *texts.values()])
        CaseSeen.objects.create(room_id=room.id, user=poster, kind=SeenKind.PARTICIPANT, at=now)
        _audit(case, action=CaseAction.POST, before="", after=CaseStatus.OPEN, actor=poster,
               now=now, detail={"audience": audience})
        if findings:
            phi_confirmation_record(actor=pseudonym_id(user_id=str(poster.pk), room_id=room.id),
                                    subject=f"case:{case.pk}", op="case.post",
                                    findings=findings)
        if urgency == Urgency.URGENT:
            # The poster's process starts it in a moment (the view's fast path); should that
            # never happen, any process's driver finds the row due a little later.
            Routing.objects.create(case_id=str(case.pk), state=None,
                                   next_deadline=now.timestamp() + START_GRACE_S, active=True)
        else:
            _announce(case)
    return case


def _announce(case: Case) -> None:
    """The case card in its specialty's lounge (``case.posted``); the lounge's earlier cards
    are the feed's (``GET /api/v1/cases?specialty=``)."""
    slug = case.specialty.slug
    card = case_card(case)
    outbox.room_event(room_id=lounge_id(slug), frame=protocol.event_frame(
        "case.posted", protocol.CasePosted(case=card), room=lounge_id(slug)))


# The offer id a lounge call carries: any lounge member but the poster may accept it.
LOUNGE_OFFER = "lounge"


@dataclass(frozen=True)
class Capacity:
    """A change of a specialist's open consults, for the presence store after commit
    (``consult.driver.capacity_apply``): held per case, so a replay changes nothing."""

    user_id: str
    case_id: str
    take: bool  # True: the consult starts; False: it ends and the capacity comes back


@dataclass(frozen=True)
class StepResult:
    state: RoutingState
    actions: list[Action]
    capacity: list[Capacity] = field(default_factory=list)


def _stamp(now: float) -> datetime:
    return datetime.fromtimestamp(now, tz=UTC)


def case_texts(case: Case) -> dict[str, str]:
    """The template's free-text fields, opened (empty strings for those not given)."""
    texts = dict.fromkeys(TEMPLATE_FIELDS, "")
    if case.template_sealed is not None:
        texts.update(json.loads(envelope.blob_open(
            room_id=case.room_id, attachment_id=f"case-template:{case.pk}",
            sealed=envelope.Sealed(epoch=case.template_epoch, key_id=case.template_key_id,
                                   blob=bytes(case.template_sealed)))))
    return texts


def case_question(case: Case) -> str:
    return envelope.blob_open(
        room_id=case.room_id, attachment_id=f"case-summary:{case.pk}",
        sealed=envelope.Sealed(epoch=case.summary_epoch, key_id=case.summary_key_id,
                               blob=bytes(case.summary_sealed))).decode()


def case_search_texts(case: Case) -> list[str]:
    """Every text of the case the search index holds (its outcome too, once resolved)."""
    texts = [case_question(case), *case_texts(case).values()]
    outcome = case_outcome(case)
    if outcome is not None:
        texts += [outcome.diagnosis, outcome.done, outcome.notes]
    return texts


def case_card(case: Case, texts: dict[str, str] | None = None) -> protocol.CaseCard:
    summary = envelope.blob_open(
        room_id=case.room_id, attachment_id=f"case-summary:{case.pk}",
        sealed=envelope.Sealed(epoch=case.summary_epoch, key_id=case.summary_key_id,
                               blob=bytes(case.summary_sealed)))
    title = (texts if texts is not None else case_texts(case))["title"]
    return protocol.CaseCard(
        id=str(case.pk), specialty=case.specialty.slug, urgency=case.urgency,
        language=case.language, summary=summary.decode(), room=case.room_id,
        posted_at=case.posted_at.isoformat(), title=title, audience=case.audience,
        images=list(case.images or []))


def routing_step(*, case_id: str, transition: Callable[[RoutingState], Step],
                 now: float, start: Callable[[], Step] | None = None) -> StepResult:
    """Apply one transition to the case's routing state under the row lock. A row whose
    routing has not started yet (``case_open``) is started by ``start`` — or, without one,
    is treated as not routed yet; one withdrawn before it started is never started.

    Raises:
        NotFound: the case is not being routed (or not yet).
        (whatever ``transition`` raises, e.g. AlreadyClaimed, OfferNotOpen, RoutingClosed)
    """
    with outbox.atomic():
        row = Routing.objects.select_for_update().filter(case_id=case_id).first()
        # A row not started yet that is no longer active was withdrawn: nothing starts it.
        if row is None or (row.state is None and (start is None or not row.active)):
            raise NotFound("This case is not being routed.", details={"case": case_id})
        state, actions = start() if row.state is None else transition(
            codec.state_load(row.state))
        if row.state is None:
            row.state = codec.state_dump(state)  # saved below even when nobody was offered
            actions = actions or []
        if actions or row.next_deadline != state.next_deadline():
            row.state = codec.state_dump(state)
            row.next_deadline = state.next_deadline()
            row.active = state.status not in (RouteStatus.CLAIMED, RouteStatus.WITHDRAWN)
            row.save(update_fields=["state", "next_deadline", "active", "updated_at"])
            _publish(case_id, state, actions, now)
    return StepResult(state, actions, [Capacity(a.user_id, routing_case_id(case_id), True)
                                       for a in actions if isinstance(a, Claimed)])


def routing_due(*, now: float, limit: int = 100) -> list[str]:
    """Cases with an offer due to expire at ``now``, or whose routing has yet to start."""
    return list(Routing.objects.filter(active=True, next_deadline__lte=now)
                .order_by("next_deadline").values_list("case_id", flat=True)[:limit])


def routing_get(*, case_id: str) -> RoutingState | None:
    """The routing state of one case still being routed (None when claimed, withdrawn,
    unknown or not started yet)."""
    doc = Routing.objects.filter(pk=case_id, active=True).values_list("state", flat=True).first()
    return codec.state_load(doc) if doc is not None else None


def routing_pending(*, case_id: str) -> UrgentCase | None:
    """The round to start routing for, when its row is due and not started yet
    (``case_id`` is a routing round's id: the case's, or ``<case>+<n>``)."""
    row = Routing.objects.filter(pk=case_id, active=True, state__isnull=True).values_list(
        "exclude", "specialty").first()
    if row is None:
        return None
    exclude, specialty = row
    case = Case.objects.select_related("specialty", "subspecialty").filter(
        pk=routing_case_id(case_id)).first()
    if case is None:
        return None
    return urgent_case(case, exclude=exclude, round_id=case_id, specialty=specialty or None)


def urgent_case(case: Case, *, exclude: list[str] | tuple[str, ...] = (),
                round_id: str | None = None, specialty: str | None = None) -> UrgentCase:
    """The routing input of ``case`` — of a second-specialty round when ``specialty``."""
    return UrgentCase(case_id=round_id or str(case.pk), specialty=specialty or case.specialty.slug,
                      poster_id=str(case.poster_id), language=case.language,
                      subspecialty=None if specialty else (
                          case.subspecialty.slug if case.subspecialty_id else None),
                      exclude=tuple(exclude))


def routings_open() -> list[RoutingState]:
    """Every case still looking for a specialist (the on-online path scans these)."""
    return [codec.state_load(doc) for doc in
            Routing.objects.filter(active=True, state__isnull=False)
            .values_list("state", flat=True)]


def offer_accept(*, case_id: str, user: User, now: float) -> StepResult:
    """Claim the case for ``user``. Exactly one accept wins across every process.

    Raises:
        Conflict: someone else took the case first.
        Forbidden: ``user`` holds no open offer for it (and no lounge call is out).
        NotFound: no such routed case.
    """
    real = routing_case_id(case_id)

    def accept(s: RoutingState) -> Step:
        # Under the routing row's lock, which every lifecycle step takes first: a case
        # resolved, withdrawn or closed meanwhile is final here too.
        status = Case.objects.filter(pk=real).values_list("status", flat=True).first()
        if status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
            raise RoutingClosed(case_id)
        return route_on_accept(s, str(user.pk), now)

    try:
        return routing_step(case_id=case_id, now=now, transition=accept)
    except AlreadyClaimed:
        raise Conflict("Another specialist has already taken this case.",
                       details={"case": real}) from None
    except OfferNotOpen:
        raise Forbidden("You have no open offer for this case.", details={"case": real}) from None
    except RoutingClosed:
        status = Case.objects.filter(pk=real).values_list("status", flat=True).first()
        raise Conflict(f"This case was {status or 'withdrawn'} and takes no more offers.",
                       details={"case": real}) from None


def offer_decline(*, case_id: str, offer_id: str, user_id: str, candidates: list[Candidate],
                  now: float) -> StepResult:
    """``user_id`` declines their offer ``offer_id``: it closes and the case moves on to the
    next of ``candidates``. Declining an offer that closed already is a no-op.

    Raises:
        NotFound: no such routed case.
        Forbidden: ``offer_id`` is someone else's offer, or ``user_id`` was never offered the
            case: nothing changes for anyone.
    """
    if not routing_id_valid(case_id):
        raise NotFound("No such offer.", details={"offer": offer_id})
    try:
        return routing_step(case_id=case_id, now=now, transition=lambda s: route_on_decline(
            s, user_id, candidates, now, offer_id=offer_id))
    except OfferNotOpen:
        raise Forbidden("This is not your offer.", details={"offer": offer_id}) from None


def case_room(*, case_id: str) -> str:
    """The room of the case ``case_id`` (or of the case a routing round belongs to)."""
    case_id = routing_case_id(case_id)
    room = Case.objects.filter(pk=case_id).values_list("room_id", flat=True).first() if (
        case_id_valid(case_id)) else None
    if room is None:
        raise NotFound("No such case.", details={"case": case_id})
    return room


# --- the lifecycle --------------------------------------------------------------------------
# Every step: lock the routing row (if any) then the case row — the order every writer of a
# case uses — check the move with the guard (consult/states.py), write the case, one audit
# entry and the ``case.updated`` event in one transaction, and say which capacity to give
# back (``Capacity``); the caller hands that to the presence store after commit.

# An urgent consult still claimed this long after its acceptance closes itself (the driver),
# so a forgotten consult cannot hold a specialist's capacity forever.
CLAIM_EXPIRES_AFTER = timedelta(hours=24)
OUTCOME_FIELDS = ("diagnosis", "done", "notes")
OUTCOME_MAX_CHARS = 2000
HELPFUL_MAX = 10


@dataclass(frozen=True)
class Moved:
    case_id: str
    status: str
    capacity: list[Capacity]


def _audit(case: Case, *, action: str, before: str, after: str, actor: User | None,
           now: datetime, detail: dict | None = None) -> None:
    CaseAudit.objects.create(
        case=case, at=now, action=action, from_status=before, to_status=after,
        actor=pseudonym_id(user_id=str(actor.pk), room_id=case.room_id) if actor else "system",
        detail=detail or {})


def _locked(case_id: str) -> tuple[Routing | None, Case]:
    """The case's routing row and case row, locked in that order.

    Raises:
        NotFound: no such case.
    """
    if not case_id_valid(case_id):
        raise NotFound("No such case.", details={"case": case_id})
    row = Routing.objects.select_for_update().filter(case_id=case_id).first()
    # Second-specialty rounds too, before the case row: a round's own step locks its row
    # and then the case, so this order never waits in a cycle with it.
    rounds = list(Routing.objects.select_for_update().filter(
        case_id__startswith=f"{case_id}{ROUND_SEPARATOR}", active=True).order_by("case_id"))
    case = Case.objects.select_for_update().select_related("specialty").filter(
        pk=case_id).first()
    if case is None:
        raise NotFound("No such case.", details={"case": case_id})
    case.rounds = rounds
    return row, case


def _routing_close(row: Routing | None, case: Case, reason: str) -> None:
    """Stop routing: every open offer closes (``reason``) on every socket; an accept after
    this answers ``conflict``. Second-specialty rounds (locked by ``_locked``) close too."""
    for extra in getattr(case, "rounds", []):
        _routing_close_one(extra, str(case.pk), reason)
    _routing_close_one(row, str(case.pk), reason)


def _routing_close_one(row: Routing | None, case_id: str, reason: str) -> None:
    if row is None or not row.active:
        return
    if row.state is not None:
        state, actions = route_on_withdraw(codec.state_load(row.state), reason)
        row.state = codec.state_dump(state)
        for a in actions:
            outbox.users_event(user_ids=[a.user_id], frame=protocol.event_frame(
                "offer.closed", protocol.OfferClosed(offer=a.offer_id, case=case_id,
                                                     reason=a.reason)))
    row.active, row.next_deadline = False, None
    row.save(update_fields=["state", "active", "next_deadline", "updated_at"])


def _move(case: Case, target: str, *, action: str, actor: User | None, now: datetime,
          detail: dict | None = None, outcome: protocol.CaseOutcome | None = None,
          fields: tuple[str, ...] = ()) -> list[Capacity]:
    """One guarded step of a locked case: status, stamps, audit, event; the capacity it
    releases (leaving ``claimed``) or takes (back to ``claimed``).

    Raises:
        IllegalTransition: the guard refuses the move (``conflict``).
    """
    before = case.status
    case.status = case_transition(before, target, action)
    held, holding = _holders(case, before), _holders(case, target)
    capacity = [Capacity(u, str(case.pk), take=False) for u in sorted(held - holding)] + [
        Capacity(u, str(case.pk), take=True) for u in sorted(holding - held)]
    if target == CaseStatus.CLAIMED:
        case.claimed_at = now
    if target == CaseStatus.RESOLVED:
        case.resolved_at = now
    elif before == CaseStatus.RESOLVED:
        case.resolved_at = None
    case.save(update_fields=["status", "resolved_at", "claimed_at", *fields])
    _audit(case, action=action, before=before, after=target, actor=actor, now=now,
           detail={**(detail or {}), **({"released": True} if any(
               not c.take for c in capacity) else {})})
    outbox.room_event(room_id=case.room_id, frame=protocol.event_frame(
        "case.updated", protocol.CaseUpdated(
            case=str(case.pk), room=case.room_id, status=case.status, action=action,
            at=now.isoformat(), helpful=list(case.helpful or []), outcome=outcome),
        room=case.room_id))
    notifications.case_moved(case, action=action, actor=actor, now=now)
    return capacity


def _holders(case: Case, status: str) -> set[str]:
    """Who holds capacity for ``case`` in ``status``: the accepting specialist while it is
    claimed, second-specialty consultants while it is open or claimed."""
    out = {str(case.accepted_by_id)} if status == CaseStatus.CLAIMED and case.accepted_by_id \
        else set()
    if status in (CaseStatus.OPEN, CaseStatus.CLAIMED):
        out |= set(case.consultants or [])
    return out


def capacity_holders() -> dict[str, set[str]]:
    """Who holds capacity for which case, as the database says (``_holders`` over every open
    or claimed case): the truth the presence store's copy is reconciled with."""
    out: dict[str, set[str]] = {}
    cases = Case.objects.filter(status__in=(CaseStatus.OPEN, CaseStatus.CLAIMED)).only(
        "pk", "status", "accepted_by_id", "consultants")
    for case in cases.iterator(chunk_size=1000):
        for user_id in _holders(case, case.status):
            out.setdefault(user_id, set()).add(str(case.pk))
    return out


def _poster_only(case: Case, user: User) -> None:
    """Raises: NotFound — a case's existence is not revealed to others."""
    if case.poster_id != user.pk:
        raise NotFound("No such case.", details={"case": str(case.pk)})


def case_withdraw(*, case_id: str, user: User, now: float) -> Moved:
    """The poster withdraws the case: routing closes (an accept after this answers
    ``conflict``) and every open offer closes on every socket; a specialist who had accepted
    gets the capacity back.

    Raises:
        NotFound: no such case, or the caller is not its poster.
        IllegalTransition: the case is already resolved, withdrawn or closed (``conflict``).
    """
    with outbox.atomic():
        row, case = _locked(case_id)
        _poster_only(case, user)
        capacity = _move(case, CaseStatus.WITHDRAWN, action=CaseAction.WITHDRAW, actor=user,
                         now=_stamp(now))
        _routing_close(row, case, case.status)
        _poster_event(case, protocol.CaseRouting(case=case_id, step="withdrawn"))
    return Moved(case_id, case.status, capacity)


def _outcome_clean(outcome: dict, *, confirm_phi: bool) -> tuple[dict[str, str], list]:
    """The outcome's three text fields, trimmed, each through the PHI guard.

    Raises:
        ValidationFailed: not an object, no diagnosis, a field too long or not text.
        PhiDetected: a field looks like it carries patient identifiers.
    """
    if not isinstance(outcome, dict):
        raise ValidationFailed("The outcome must be an object.",
                               fields={"outcome": "An object with diagnosis, done, notes."})
    clean, errors, findings = {}, {}, []
    for name in OUTCOME_FIELDS:
        value = outcome.get(name, "")
        if not isinstance(value, str):
            errors[f"outcome.{name}"] = "Text expected."
            continue
        value = value.strip()
        if not text.text_ok(value, multiline=True):
            errors[f"outcome.{name}"] = f"It {text.TEXT_RULE}."
        elif len(value) > OUTCOME_MAX_CHARS:
            errors[f"outcome.{name}"] = f"At most {OUTCOME_MAX_CHARS} characters."
        clean[name] = value
    if unknown := sorted(set(outcome) - set(OUTCOME_FIELDS)):
        errors["outcome"] = f"Unknown fields: {', '.join(unknown)[:200]}."
    if not errors and not clean.get("diagnosis"):
        errors["outcome.diagnosis"] = "This field is required."
    if errors:
        raise ValidationFailed("Some fields are invalid.", fields=errors)
    for name in OUTCOME_FIELDS:
        if clean[name]:
            findings += phi_guard(clean[name], field=f"outcome.{name}", confirmed=confirm_phi)
    return clean, findings


def _helpful_check(case: Case, seqs: list) -> list[int]:
    """The credited answers: messages of the case room, not the poster's own, not deleted.

    Raises:
        ValidationFailed: not a list of seqs, too many, or not answers in this case.
    """
    if not isinstance(seqs, list) or not all(
            isinstance(q, int) and not isinstance(q, bool) for q in seqs):
        raise ValidationFailed("helpful must be a list of message seqs.",
                               fields={"helpful": "A list of integers."})
    seqs = sorted(set(seqs))
    if len(seqs) > HELPFUL_MAX:
        raise ValidationFailed(f"At most {HELPFUL_MAX} helpful answers.",
                               fields={"helpful": f"At most {HELPFUL_MAX}."})
    poster = pseudonym_id(user_id=str(case.poster_id), room_id=case.room_id)
    found = set(Message.objects.filter(room_id=case.room_id, seq__in=seqs,
                                       deleted_at__isnull=True).exclude(author=poster)
                .values_list("seq", flat=True))
    if missing := [q for q in seqs if q not in found]:
        raise ValidationFailed("Only answers in this case can be credited.",
                               fields={"helpful": f"Not an answer here: {missing[:10]}."})
    return seqs


def case_outcome(case: Case) -> protocol.CaseOutcome | None:
    if case.outcome_sealed is None:
        return None
    doc = json.loads(envelope.blob_open(
        room_id=case.room_id, attachment_id=f"case-outcome:{case.pk}",
        sealed=envelope.Sealed(epoch=case.outcome_epoch, key_id=case.outcome_key_id,
                               blob=bytes(case.outcome_sealed))))
    return protocol.CaseOutcome(**doc)


def case_resolve(*, case_id: str, user: User, outcome: dict, helpful: list | None = None,
                 confirm_phi: bool = False, now: datetime | None = None) -> Moved:
    """The poster resolves the case with its outcome (final diagnosis, what was done, notes —
    each PHI-checked, sealed under the room's key) and credits the most helpful answers.
    Routing stops; an accepting specialist gets the capacity back.

    Raises:
        NotFound: no such case, or the caller is not its poster.
        ValidationFailed: a bad outcome or helpful list. PhiDetected: see ``phi_guard``.
        IllegalTransition: the case is not open or claimed (``conflict``).
    """
    now = now or timezone.now()
    clean, findings = _outcome_clean(outcome, confirm_phi=confirm_phi)
    with outbox.atomic():
        row, case = _locked(case_id)
        _poster_only(case, user)
        case.helpful = _helpful_check(case, helpful or [])
        sealed = envelope.blob_seal(room_id=case.room_id, attachment_id=f"case-outcome:{case.pk}",
                                    body=json.dumps(clean).encode())
        case.outcome_epoch, case.outcome_key_id, case.outcome_sealed = (
            sealed.epoch, sealed.key_id, sealed.blob)
        capacity = _move(case, CaseStatus.RESOLVED, action=CaseAction.RESOLVE, actor=user,
                         now=now, detail={"helpful": case.helpful},
                         outcome=protocol.CaseOutcome(**clean),
                         fields=("helpful", "outcome_epoch", "outcome_key_id", "outcome_sealed"))
        _routing_close(row, case, case.status)
        search_index.case_terms_write(case.pk, case_search_texts(case))
        if findings:
            phi_confirmation_record(actor=pseudonym_id(user_id=str(user.pk), room_id=case.room_id),
                                    subject=f"case:{case.pk}", op="case.resolve",
                                    findings=findings)
    return Moved(case_id, case.status, capacity)


def case_close(*, case_id: str, user: User, now: datetime | None = None) -> Moved:
    """The poster or a moderator closes the case (open, claimed or resolved): no more
    routing; capacity comes back if a specialist still held it.

    Raises:
        NotFound: no such case, or the caller is neither its poster nor a moderator.
        IllegalTransition: already closed or withdrawn (``conflict``).
    """
    now = now or timezone.now()
    with outbox.atomic():
        row, case = _locked(case_id)
        if not user.is_moderator:
            _poster_only(case, user)
        capacity = _move(case, CaseStatus.CLOSED, action=CaseAction.CLOSE, actor=user, now=now)
        _routing_close(row, case, case.status)
    return Moved(case_id, case.status, capacity)


def case_reopen(*, case_id: str, user: User, now: datetime | None = None) -> Moved:
    """The poster (or a moderator) reopens a resolved or closed case: back to ``claimed``
    with the same specialist when one had accepted it (who holds capacity again), else
    ``open`` for more answers. The outcome stays until the case is resolved again.

    Raises:
        NotFound: no such case, or the caller is neither its poster nor a moderator.
        IllegalTransition: the case is not resolved or closed (``conflict``).
    """
    now = now or timezone.now()
    with outbox.atomic():
        _, case = _locked(case_id)
        if not user.is_moderator:
            _poster_only(case, user)
        target = CaseStatus.CLAIMED if case.accepted_by_id else CaseStatus.OPEN
        capacity = _move(case, target, action=CaseAction.REOPEN, actor=user, now=now)
    return Moved(case_id, case.status, capacity)


def case_handoff(*, case_id: str, user: User, now: datetime | None = None) -> Moved:
    """The accepting specialist hands the consult off: the case is open again and routed
    anew to its specialty, never to them (nor to anyone who handed it off before); their
    capacity comes back. They stay in the case room with what they wrote.

    Raises:
        NotFound: no such case, or the caller is not its accepting specialist.
        IllegalTransition: the case is not claimed (``conflict``).
    """
    now = now or timezone.now()
    with outbox.atomic():
        row, case = _locked(case_id)
        if case.accepted_by_id != user.pk:
            raise NotFound("No such case.", details={"case": case_id})
        capacity = _move(case, CaseStatus.OPEN, action=CaseAction.HANDOFF, actor=user,
                         now=now)
        case.accepted_by = None
        case.save(update_fields=["accepted_by"])
        exclude = sorted({*(row.exclude if row else []), str(user.pk)})
        # Due at once: the view starts the new round (the fast path), else any driver does.
        Routing.objects.update_or_create(case_id=case_id, defaults={
            "state": None, "active": True, "exclude": exclude,
            "next_deadline": now.timestamp() + START_GRACE_S})
        _poster_event(case, protocol.CaseRouting(case=case_id, step="handed_off"))
    return Moved(case_id, case.status, capacity)


ROUNDS_MAX = 5


def case_second_specialty(*, case_id: str, user: User, specialty: str,
                          now: datetime | None = None) -> str:
    """The poster or the accepting specialist asks for a second specialty on the same case:
    a new routing round for ``specialty`` (offers, tiers, lounge call, accept) whose
    specialist joins the same room and holds capacity while the case is open or claimed.
    Returns the round's id (``<case>+<n>``); the view starts it at once, else any driver.

    Raises:
        NotFound: no such case, or the caller is neither its poster nor its specialist.
        ValidationFailed: unknown specialty, or too many rounds.
        Conflict: the case is not open or claimed.
    """
    now = now or timezone.now()
    with outbox.atomic():
        row, case = _locked(case_id)
        if user.pk not in (case.poster_id, case.accepted_by_id):
            raise NotFound("No such case.", details={"case": case_id})
        if case.status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
            raise Conflict(f"The case is {case.status}.", details={"case": case_id})
        if not Specialty.objects.filter(slug=specialty).exists():
            raise ValidationFailed("Unknown specialty.",
                                   fields={"specialty": f"Unknown specialty '{specialty}'."})
        n = Routing.objects.filter(case_id__startswith=f"{case_id}{ROUND_SEPARATOR}").count() + 2
        if n > ROUNDS_MAX + 1:
            raise ValidationFailed(f"At most {ROUNDS_MAX} more specialties per case.",
                                   fields={"specialty": f"At most {ROUNDS_MAX}."})
        round_id = f"{case_id}{ROUND_SEPARATOR}{n}"
        exclude = sorted({str(case.poster_id), *case.consultants,
                          *([str(case.accepted_by_id)] if case.accepted_by_id else [])})
        Routing.objects.create(case_id=round_id, state=None, active=True, exclude=exclude,
                               specialty=specialty,
                               next_deadline=now.timestamp() + START_GRACE_S)
        _audit(case, action=CaseAction.SECOND_OPINION, before=case.status, after=case.status,
               actor=user, now=now, detail={"specialty": specialty, "round": round_id})
        _poster_event(case, protocol.CaseRouting(case=case_id, step="second_specialty"))
    return round_id


def cases_expire(*, now: datetime, limit: int = 100) -> list[Moved]:
    """Close urgent consults still claimed ``CLAIM_EXPIRES_AFTER`` after they were claimed
    (the driver calls this every tick): each gives its specialist's capacity back, once."""
    due = list(Case.objects.filter(status=CaseStatus.CLAIMED,
                                   claimed_at__lte=now - CLAIM_EXPIRES_AFTER)
               .order_by("claimed_at").values_list("pk", flat=True)[:limit])
    moved = []
    for case_id in due:
        with outbox.atomic():
            row, case = _locked(str(case_id))
            if case.status != CaseStatus.CLAIMED or case.claimed_at > now - CLAIM_EXPIRES_AFTER:
                continue  # another process got there first, or it was reopened since
            capacity = _move(case, CaseStatus.CLOSED, action=CaseAction.EXPIRE, actor=None,
                             now=now)
            _routing_close(row, case, case.status)
        moved.append(Moved(str(case_id), case.status, capacity))
    return moved


def case_messages_counted(sender, *, authors: dict[str, list[str]], now: datetime,
                          **_) -> None:
    """Receiver of ``rooms.messages.case_messages_stored``, inside the writer's transaction:
    the authors become participants (one INSERT, duplicates ignored), then one conditional
    UPDATE per case room in the batch counts the replies (messages by anyone but the
    poster), stamps ``first_response_at`` on the first of them and recounts participants."""
    CaseSeen.objects.bulk_create(
        [CaseSeen(room_id=room_id, user_id=u, kind=SeenKind.PARTICIPANT, at=now)
         for room_id, users in authors.items() for u in dict.fromkeys(users)],
        ignore_conflicts=True)
    for room_id, users in authors.items():
        counts: dict[str, int] = {}
        for u in users:
            counts[u] = counts.get(u, 0) + 1
        by_others = [CaseWhen(When(~Q(poster_id=u), then=Value(n)), default=Value(0))
                     for u, n in counts.items()]
        stamp = Value(now, output_field=DateTimeField())
        replied = CaseWhen(When(~Q(poster_id__in=list(counts)), then=stamp), default=None,
                           output_field=DateTimeField()) if len(counts) == 1 else stamp
        Case.objects.filter(room_id=room_id).update(
            replies=sum(by_others, F("replies")),
            first_response_at=Coalesce(F("first_response_at"), replied),
            participants=Subquery(CaseSeen.objects.filter(
                room_id=room_id, kind=SeenKind.PARTICIPANT).values("room_id")
                .annotate(n=Count("id")).values("n")))


# --- opening, inviting, publishing ------------------------------------------------------------

def _viewed(case: Case, user: User, now: datetime) -> None:
    """Count ``user`` as a viewer of ``case`` once (the poster is not a viewer)."""
    if user.pk == case.poster_id:
        return
    _, created = CaseSeen.objects.get_or_create(room_id=case.room_id, user=user,
                                                kind=SeenKind.VIEWER, defaults={"at": now})
    if created:
        Case.objects.filter(pk=case.pk).update(viewers=F("viewers") + 1)


def case_view(*, case_id: str, user: User, now: datetime | None = None) -> Case:
    """Open a case: whoever may (``selectors.case_can_open``) joins its room — under a
    pseudonym of that room alone — and is counted once as a viewer.

    Raises:
        NotFound: no such case, or the caller may not open it.
    """
    now = now or timezone.now()
    with outbox.atomic():
        case = selectors.case_get(case_id=case_id, user=user)
        if not user.is_moderator and not Membership.objects.filter(
                room_id=case.room_id, user=user, active=True).exists():
            membership_add(room=case.room, user=user)
        _viewed(case, user, now)
    case.refresh_from_db()
    return case


def case_room_admits(room, user: User) -> bool:
    """The room-admission policy of case rooms (rooms.services.room_join): whoever may open
    the case may join its room, and is counted as a viewer."""
    case = Case.objects.select_related("specialty").filter(room_id=room.pk).first()
    if case is None or not selectors.case_can_open(case, user):
        return False
    _viewed(case, user, timezone.now())
    return True


def case_invite(*, case_id: str, user: User, room_id: str, pseudonym: str,
                now: datetime | None = None) -> Moved:
    """Bring a colleague into a case: the poster, the accepting specialist or a moderator
    names them by their pseudonym in a room the inviter is in (a lounge where they spoke,
    say). The invitee joins the case room under a new pseudonym of that room.

    Raises:
        NotFound: no such case (or the caller may not invite to it), or no such member of
            ``room_id`` (or the caller is not in that room).
        ValidationFailed: the invitee is not a verified physician.
        Conflict: the case is withdrawn or closed.
    """
    now = now or timezone.now()
    with outbox.atomic():
        _, case = _locked(case_id)
        if not (user.is_moderator or user.pk in (case.poster_id, case.accepted_by_id)):
            raise NotFound("No such case.", details={"case": case_id})
        if case.status in (CaseStatus.WITHDRAWN, CaseStatus.CLOSED):
            raise Conflict(f"The case is {case.status}.", details={"case": case_id})
        if not Membership.objects.filter(room_id=room_id, user=user, active=True).exists():
            raise NotFound("No such member.", details={"room": room_id[:64]})
        member = roster.roster(room_id).get(pseudonym)
        if member is None:
            raise NotFound("No such member.", details={"room": room_id[:64]})
        invitee = User.objects.filter(pk=member.user_id).first()
        if invitee is None or Physician.objects.filter(
                user_id=invitee.pk, licence_status=LicenceStatus.VERIFIED).first() is None:
            raise ValidationFailed("Only verified physicians can be invited.",
                                   fields={"pseudonym": "Not a verified physician."})
        membership_add(room=case.room, user=invitee)
        _audit(case, action=CaseAction.INVITE, before=case.status, after=case.status,
               actor=user, now=now)
        outbox.room_event(room_id=case.room_id, frame=protocol.event_frame(
            "case.updated", protocol.CaseUpdated(
                case=str(case.pk), room=case.room_id, status=case.status,
                action=CaseAction.INVITE, at=now.isoformat(), helpful=list(case.helpful)),
            room=case.room_id))
    return Moved(case_id, case.status, [])


def case_publish(*, case_id: str, user: User, now: datetime | None = None) -> Moved:
    """The poster publishes a resolved urgent case as a teaching case: from now on it is
    open to the whole network like a routine one, and its card goes to the lounge.

    Raises:
        NotFound: no such case, or the caller is not its poster.
        IllegalTransition: not a resolved urgent case, or already published (``conflict``).
    """
    now = now or timezone.now()
    with outbox.atomic():
        _, case = _locked(case_id)
        _poster_only(case, user)
        if case.urgency != Urgency.URGENT or case.status != CaseStatus.RESOLVED or case.published:
            raise IllegalTransition(case.status, "published", what="case")
        case.published, case.audience = True, Audience.NETWORK
        case.save(update_fields=["published", "audience"])
        _audit(case, action=CaseAction.PUBLISH, before=case.status, after=case.status,
               actor=user, now=now)
        outbox.room_event(room_id=case.room_id, frame=protocol.event_frame(
            "case.updated", protocol.CaseUpdated(
                case=str(case.pk), room=case.room_id, status=case.status,
                action=CaseAction.PUBLISH, at=now.isoformat(), helpful=list(case.helpful),
                outcome=case_outcome(case)), room=case.room_id))
        _announce(case)
    return Moved(case_id, case.status, [])


IMAGES_MAX = 6


def case_image_add(*, case_id: str, user: User, data: bytes, confirm_phi: bool = False) -> str:
    """An image of the case, posted with it: cleaned, stripped of metadata and sealed by the
    attachment path (rooms/attachments.py) in the case room, and referenced from the case.
    Only the poster, while the case is open or claimed.

    Raises:
        NotFound: no such case, or the caller is not its poster.
        ValidationFailed: more than ``IMAGES_MAX`` images. Conflict: the case is not open.
        (and the attachment path's: too_large, unsupported_image, phi_detected — text read
        in the image by OCR, unless ``confirm_phi``)
    """
    case = selectors.case_find(case_id)
    if case is None or case.poster_id != user.pk:
        raise NotFound("No such case.", details={"case": case_id})
    if len(case.images) >= IMAGES_MAX:  # checked again under the lock below
        raise ValidationFailed(f"At most {IMAGES_MAX} images per case.",
                               fields={"images": f"At most {IMAGES_MAX}."})
    attachment = attachment_store(room_id=case.room_id, user=user, data=data,
                                  confirm_phi=confirm_phi)
    with outbox.atomic():
        _, case = _locked(case_id)
        if case.status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
            raise Conflict(f"The case is {case.status}.", details={"case": case_id})
        if len(case.images) >= IMAGES_MAX:
            raise ValidationFailed(f"At most {IMAGES_MAX} images per case.",
                                   fields={"images": f"At most {IMAGES_MAX}."})
        case.images = [*case.images, str(attachment.pk)]
        case.save(update_fields=["images"])
    return str(attachment.pk)


# --- effects of actions -------------------------------------------------------------------------

def _poster_event(case: Case, data: protocol.CaseRouting) -> None:
    outbox.users_event(user_ids=[str(case.poster_id)],
                       frame=protocol.event_frame("case.routing", data))


def _publish(case_id: str, state: RoutingState, actions: list[Action], now: float) -> None:
    """Database effects of ``actions`` and their events, sent after commit. Events to a
    specialist go to every socket they have open (tabs, devices)."""
    case = Case.objects.select_related("specialty").select_for_update().get(
        pk=routing_case_id(case_id))
    real = str(case.pk)
    offers = [a for a in actions if isinstance(a, Offer)]
    card = case_card(case) if offers or any(isinstance(a, LoungeCall) for a in actions) else None
    for a in offers:
        outbox.users_event(user_ids=[a.user_id], frame=protocol.event_frame(
            "offer.new", protocol.OfferNew(offer=a.offer_id, case=card, tier=a.tier,
                                           expires_at=a.expires_at)))
    if offers:
        if case.first_offer_at is None:
            case.first_offer_at = _stamp(now)
            case.save(update_fields=["first_offer_at"])
            metrics.observe_after_commit(metrics.ROUTING_FIRST_OFFER_SECONDS,
                                         (case.first_offer_at - case.posted_at).total_seconds())
        _poster_event(case, protocol.CaseRouting(case=real, step="offered",
                                                 count=len(offers), tier=offers[0].tier))
    for a in actions:
        if isinstance(a, CloseOffer):
            outbox.users_event(user_ids=[a.user_id], frame=protocol.event_frame(
                "offer.closed", protocol.OfferClosed(offer=a.offer_id, case=real,
                                                     reason=a.reason)))
            if a.reason in ("declined", "expired"):
                _poster_event(case, protocol.CaseRouting(case=real, step=a.reason, count=1))
            if a.reason == "expired":
                notifications.offer_missed(case=case, user_id=a.user_id, offer_id=a.offer_id,
                                           now=_stamp(now))
        elif isinstance(a, Escalated):
            _poster_event(case, protocol.CaseRouting(case=real, step="escalated", tier=a.tier))
        elif isinstance(a, LoungeCall):
            outbox.room_event(room_id=lounge_id(a.specialty), frame=protocol.event_frame(
                "case.posted", protocol.CasePosted(case=card,
                                                   offer=f"{case_id}:{LOUNGE_OFFER}"),
                room=lounge_id(a.specialty)))
            _poster_event(case, protocol.CaseRouting(case=real, step="lounge_called",
                                                     tier=state.tier))
        elif isinstance(a, Claimed):
            _claimed(case, a.user_id, now, round_id=case_id)
    if state.status is RouteStatus.WAITING and not offers:
        _poster_event(case, protocol.CaseRouting(case=real, step="waiting"))


def _claimed(case: Case, user_id: str, now: float, round_id: str) -> None:
    specialist = User.objects.get(pk=user_id)
    if round_id != str(case.pk):
        # A second-specialty round: the case keeps its status; the specialist joins it.
        if case.status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
            raise IllegalTransition(case.status, CaseStatus.CLAIMED, what="case")
        case.consultants = sorted({*case.consultants, user_id})
        case.save(update_fields=["consultants"])
        _audit(case, action=CaseAction.SECOND_OPINION, before=case.status, after=case.status,
               actor=specialist, now=_stamp(now), detail={"round": round_id})
        outbox.room_event(room_id=case.room_id, frame=protocol.event_frame(
            "case.updated", protocol.CaseUpdated(
                case=str(case.pk), room=case.room_id, status=case.status,
                action=CaseAction.SECOND_OPINION, at=_stamp(now).isoformat(),
                helpful=list(case.helpful or [])), room=case.room_id))
    else:
        case.accepted_by = specialist
        if case.accepted_at is None:
            case.accepted_at = _stamp(now)
        # The capacity it takes is the caller's (StepResult.capacity), not _move's.
        _move(case, CaseStatus.CLAIMED, action=CaseAction.CLAIM, actor=specialist,
              now=_stamp(now), fields=("accepted_by", "accepted_at"))
        metrics.observe_after_commit(metrics.ROUTING_ACCEPT_SECONDS,
                                     (case.accepted_at - case.posted_at).total_seconds())
    membership_add(room=case.room, user=specialist)
    physician = getattr(specialist, "physician", None)
    by = roster.author_for(user_id=user_id, room_id=case.room_id, role=specialist.role,
                           specialty=physician.primary_specialty.slug if physician else None,
                           verified=True)
    # The winner's other tabs drop the alert too.
    outbox.users_event(user_ids=[user_id], frame=protocol.event_frame(
        "offer.closed", protocol.OfferClosed(offer=f"{case.pk}:accepted", case=str(case.pk),
                                             reason="accepted")))
    _poster_event(case, protocol.CaseRouting(case=str(case.pk), step="accepted",
                                             by=protocol.AuthorCard(**by.card())))


# --- reads that need a case card (selectors cannot import this module) -------------------

def offers_open(*, user_id: str, now: float) -> list[protocol.OfferNew]:
    """The urgent offers still open to ``user_id`` at ``now``, as the ``offer.new`` events that
    announced them: a client that reconnects (or reloads) shows them again."""
    out: list[tuple[object, int, float, str]] = []
    for doc in Routing.objects.filter(active=True, state__isnull=False).values_list("state", flat=True):
        state = codec.state_load(doc)
        for offer in state.outstanding:
            if offer.user_id == user_id and offer.expires_at > now:
                out.append((routing_case_id(state.case_id), offer.tier, offer.expires_at, offer.offer_id))
    cases = {str(c.pk): c for c in Case.objects.select_related("specialty").filter(
        pk__in=[case_id for case_id, *_ in out])}
    return [protocol.OfferNew(offer=offer_id, case=case_card(cases[case_id]), tier=tier,
                              expires_at=expires_at)
            for case_id, tier, expires_at, offer_id in sorted(out, key=lambda o: o[2])
            if case_id in cases]
