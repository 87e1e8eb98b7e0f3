"""Offline alerts: an urgent case reaches on-call specialists who have no open socket by
e-mail, with a single-use accept link that needs their login.

Who: physicians of the round's specialty (or its subspecialties) whose on-call flag is on
(``Physician.on_call``, kept across sessions), verified, not the poster, not excluded, and
not online (the driver passes who the presence store shows online: those get socket
offers). One ``OfferAlert`` row per (round, specialist), so two processes that start the
same routing mail once. The link carries the row's id signed with Django's signing module
(HMAC with SECRET_KEY, a timestamp checked against ``CURBSIDE_OFFER_ALERT_TTL_S``); accepting
locks the row, checks it is the logged-in user's and unused, and claims the case through the
same routing step as a socket accept, so exactly one accept wins across sockets and links.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q

from consult.models import Case, OfferAlert, routing_case_id
from consult.services import StepResult, routing_step
from consult.states import CaseStatus
from consult.triage import AlreadyClaimed, OfferNotOpen, RoutingClosed, route_on_accept
from core.errors import Conflict, Forbidden, NotFound
from physicians.models import Physician, User
from physicians.selectors import physician_profile
from physicians.states import LicenceStatus

log = logging.getLogger(__name__)

# Separates these signatures from any other use of SECRET_KEY (django.core.signing salt).
SIGNING_SALT = "curbside.consult.offer-alert"
# The web client's page for an alert link (frontend/alert_views.py).
LINK_PATH = "/alerts/"


def token_for(alert_id: str) -> str:
    return signing.TimestampSigner(salt=SIGNING_SALT).sign(alert_id)


def link_for(alert_id: str) -> str:
    return f"{settings.CURBSIDE_PUBLIC_URL}{LINK_PATH}{token_for(alert_id)}"


def offer_alerts_send(*, routing_id: str, specialties: set[str], online: set[str],
                      exclude: set[str], now: float) -> list[str]:
    """Mail the round ``routing_id`` to on-call specialists of ``specialties`` who are not
    ``online``; returns the user ids newly alerted (a second call alerts nobody twice).
    A mail server that is down loses that mail (logged), never the routing."""
    case = Case.objects.select_related("specialty").get(pk=routing_case_id(routing_id))
    if case.status != CaseStatus.OPEN:
        return []
    skip = {*online, *exclude, str(case.poster_id)}
    wanted = sorted(specialties)
    targets = (Physician.objects.select_related("user")
               .filter(Q(primary_specialty__slug__in=wanted) | Q(specialties__slug__in=wanted),
                       on_call=True, licence_status=LicenceStatus.VERIFIED)
               .exclude(user_id__in=sorted(skip)).distinct())
    sent_at = datetime.fromtimestamp(now, tz=UTC)
    alerted = []
    for physician in targets:
        try:
            with transaction.atomic():
                alert = OfferAlert.objects.create(routing_id=routing_id, user=physician.user,
                                                  sent_at=sent_at)
        except IntegrityError:  # another process alerted them for this round already
            continue
        alerted.append(str(physician.user_id))
        _mail(alert, physician, case)
    return alerted


def _mail(alert: OfferAlert, physician: Physician, case: Case) -> None:
    to = physician_profile(physician=physician).email
    if not to:  # erased account
        return
    minutes = round(settings.CURBSIDE_OFFER_ALERT_TTL_S / 60)
    # No case text in the mail: mail leaves our encryption; the specialty is enough to decide.
    body = (f"An urgent {case.specialty.name_en} case on Curbside is looking for an on-call "
            f"specialist, and you have no Curbside window open.\n\n"
            f"To take it, sign in and open this link (it works once, for {minutes} minutes, "
            f"and only while nobody else has taken the case):\n\n{link_for(str(alert.pk))}\n")
    try:
        send_mail(f"Urgent {case.specialty.name_en} case waiting", body, None, [to])
    except Exception:
        log.exception("offer alert mail failed (alert %s, user %s)", alert.pk, physician.user_id)


def _alert_from(token: str) -> str:
    """The alert id a token carries.

    Raises:
        NotFound: not a token we signed. Conflict (``reason: expired``): too old.
    """
    try:
        return signing.TimestampSigner(salt=SIGNING_SALT).unsign(
            token, max_age=settings.CURBSIDE_OFFER_ALERT_TTL_S)
    except signing.SignatureExpired:
        raise Conflict("This link has expired: the case has moved on.",
                       details={"reason": "expired"}) from None
    except signing.BadSignature:
        raise NotFound("This link is not valid.") from None


def offer_alert_get(*, token: str, user: User) -> dict:
    """What the link offers, for its page: the case, and whether it can still be taken.

    Raises:
        NotFound, Conflict: as ``_alert_from``. Forbidden: someone else's link.
    """
    alert = OfferAlert.objects.filter(pk=_alert_from(token)).first()
    if alert is None:
        raise NotFound("This link is not valid.")
    if alert.user_id != user.pk:
        raise Forbidden("This link was sent to another physician.")
    case = Case.objects.select_related("specialty").get(pk=routing_case_id(alert.routing_id))
    return {"case": str(case.pk), "specialty": case.specialty.slug,
            "open": alert.used_at is None and case.status == CaseStatus.OPEN,
            "used": alert.used_at is not None}


def offer_alert_accept(*, token: str, user: User, now: float) -> StepResult:
    """Take the case through the mailed link: once, by its addressee, while it is open.

    Raises:
        NotFound: not a valid link. Forbidden: someone else's link.
        Conflict: ``reason`` ``used`` (the link was used), ``expired``, ``closed`` (someone
            took the case, or it was withdrawn, resolved or closed).
    """
    alert_id = _alert_from(token)
    with transaction.atomic():
        alert = OfferAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise NotFound("This link is not valid.")
        if alert.user_id != user.pk:
            raise Forbidden("This link was sent to another physician.")
        if alert.used_at is not None:
            raise Conflict("This link was used already.", details={"reason": "used"})
        real = routing_case_id(alert.routing_id)

        def accept(s):
            status = Case.objects.filter(pk=real).values_list("status", flat=True).first()
            if status not in (CaseStatus.OPEN, CaseStatus.CLAIMED):
                raise RoutingClosed(alert.routing_id)
            return route_on_accept(s, str(user.pk), now, alerted=True)

        try:
            result = routing_step(case_id=alert.routing_id, now=now, transition=accept)
        except (AlreadyClaimed, RoutingClosed, OfferNotOpen):
            raise Conflict("This case is no longer waiting: someone took it, or it was "
                           "withdrawn or closed.", details={"reason": "closed", "case": real}
                           ) from None
        alert.used_at = datetime.fromtimestamp(now, tz=UTC)
        alert.save(update_fields=["used_at"])
    return result
