"""Every state change of adverse event reporting: file a report (sealed, normalised, counted,
scanned for new signals — one transaction), grant and revoke the pharmacovigilance role,
mark an alert read.

A report is sealed with crypto.envelope under the ``adverse`` scope's epoch key mixed with
the reporter's author key in that scope, so erasing that author key (crypto-shredding)
makes exactly that reporter's reports unreadable; the row carries only the reporter's
pseudonym in the scope. Its normalised facts go to ``Fact`` with a random group id that
only the sealed report holds.

After the facts are stored, ``signals_scan`` recomputes every pair's 2×2 table (a report
without a pair still changes that pair's table: N grows) and records each pair that meets
the Evans criteria for the first time as a ``Signal``, with an ``Alert`` per officer; the
e-mails and the live ``adverse.signal`` events go out after commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from adverse import normalise
from adverse import signals as stats
from adverse.models import Alert, Fact, Officer, Report, ScanLock, Signal
from adverse.report import UNKNOWN_CASE, UNKNOWN_CHOICE, Draft, Problems, draft_parse
from adverse.selectors import pair_tables
from bus import outbox, protocol
from consult.selectors import case_get
from core.errors import NotFound, RateLimited
from crypto import envelope
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.guard import Finding, phi_guard
from physicians.licences import COUNTRY_ALIASES, SUPPORTED_COUNTRIES
from physicians.models import Physician, Specialty, User
from physicians.selectors import physician_profile
from physicians.services import physician_require_verified

log = logging.getLogger(__name__)

# The crypto scope of every report: the "room" of envelope keys and of reporter pseudonyms.
SCOPE = "adverse"
# The window of the per-reporter limit.
RATE_WINDOW = timedelta(hours=1)
# Reports a reporter may file in any hour (settings.CURBSIDE_ADVERSE_REPORTS_PER_HOUR).
DEFAULT_REPORTS_PER_HOUR = 20


def reporter_pseudonym(user: User) -> str:
    """The reporter's pseudonym in the adverse scope (never the user id)."""
    return pseudonym_id(user_id=str(user.pk), room_id=SCOPE)


def week_of(moment: datetime) -> date:
    """The Monday of ``moment``'s ISO week (UTC)."""
    return week_of_day(moment.astimezone(UTC).date() if timezone.is_aware(moment) else moment.date())


def week_of_day(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def _rate_check(*, physician: Physician, reporter: str, now: datetime) -> None:
    """At most ``CURBSIDE_ADVERSE_REPORTS_PER_HOUR`` reports per reporter in any hour,
    counted in the database under the reporter's physician row lock (as case posting does).

    Raises:
        RateLimited: with ``retry_after_s`` until the oldest counted report leaves the hour.
    """
    cap = int(getattr(settings, "CURBSIDE_ADVERSE_REPORTS_PER_HOUR", DEFAULT_REPORTS_PER_HOUR))
    Physician.objects.select_for_update().filter(pk=physician.pk).values_list("pk").first()
    stamps = list(Report.objects.filter(reporter=reporter, created_at__gte=now - RATE_WINDOW)
                  .order_by("created_at").values_list("created_at", flat=True))
    if len(stamps) >= cap:
        wait = (stamps[len(stamps) - cap] + RATE_WINDOW - now).total_seconds()
        raise RateLimited(f"You may file at most {cap} reports an hour.",
                          details={"retry_after_s": round(max(wait, 1.0), 3)})


def _links_check(draft: Draft, *, reporter: User) -> None:
    """The specialty exists and the linked case (if any) is one the reporter may open.

    Raises:
        ValidationFailed: ``reporter_specialty`` unknown, ``case`` not openable (the same
            answer whether the case does not exist or is someone else's).
    """
    p = Problems()
    if not Specialty.objects.filter(slug=draft.reporter_specialty).exists():
        p.add("reporter_specialty", UNKNOWN_CHOICE, f"Unknown specialty '{draft.reporter_specialty}'.")
    if draft.case is not None:
        try:
            case_get(case_id=draft.case, user=reporter)
        except NotFound:
            p.add("case", UNKNOWN_CASE, "No case you may open has this id.")
    p.raise_if_any()


def _phi_check(draft: Draft) -> list[Finding]:
    """Every typed field through the PHI guard (raises on the first field with findings
    unless the reporter confirmed)."""
    found: list[Finding] = []
    for path, value in draft.free_text():
        found += phi_guard(value, field=path, confirmed=draft.confirm_phi, lang=draft.language)
    return found


def _normalise(draft: Draft) -> None:
    for drug in (*draft.suspect_drugs, *draft.concomitant_drugs):
        drug.ingredient = normalise.ingredient(drug.name)
    for reaction in draft.reactions:
        reaction.code = normalise.reaction(reaction.term)


def report_create(*, reporter: User, body: dict, now: datetime | None = None) -> tuple[Report, Draft]:
    """File a report from its JSON body: checked, PHI-guarded, normalised, sealed, counted.

    Raises:
        Forbidden: the reporter is not an active physician with a verified licence.
        ValidationFailed: invalid fields (``details.codes`` per field, adverse/report.py).
        PhiDetected: a typed field looks like it holds patient identifiers.
        RateLimited: too many reports in the last hour (``retry_after_s``).
    """
    physician = physician_require_verified(user=reporter)
    now = now or timezone.now()
    draft = draft_parse(body, country=physician.country,
                        specialty=physician.primary_specialty.slug, this_year=now.year,
                        countries=SUPPORTED_COUNTRIES, country_aliases=COUNTRY_ALIASES)
    _links_check(draft, reporter=reporter)
    findings = _phi_check(draft)
    _normalise(draft)
    pseudonym = reporter_pseudonym(reporter)
    group = uuid.uuid4()
    week = week_of(now)
    with outbox.atomic():
        _rate_check(physician=physician, reporter=pseudonym, now=now)
        report = Report(reporter=pseudonym, created_at=now, sealed=b"")
        payload = {**draft.as_dict(), "group": str(group), "reported_at": now.isoformat(),
                   "normalisation": {"drugs": normalise.drugs().version,
                                     "reactions": normalise.reactions().version}}
        report.sealed = envelope.blob_seal(
            room_id=SCOPE, attachment_id=f"adverse-report:{report.pk}", author=pseudonym,
            body=json.dumps(payload).encode()).packed()
        report.save(force_insert=True)
        pairs = {(d.ingredient, r.code) for d in draft.suspect_drugs for r in draft.reactions}
        Fact.objects.bulk_create(
            Fact(group=group, drug=drug, reaction=reaction, week=week, serious=draft.serious)
            for drug, reaction in sorted(pairs))
        if findings:
            phi_confirmation_record(actor=pseudonym, subject=f"adverse-report:{report.pk}",
                                    op="adverse.report", findings=findings)
        signals_scan(now=now)
    return report, draft


def report_open(report: Report) -> dict:
    """The sealed report's JSON.

    Raises:
        crypto.aead.DecryptError: altered, or the reporter's author key was erased.
    """
    sealed = envelope.Sealed.unpacked(bytes(report.sealed))
    return json.loads(envelope.blob_open(room_id=SCOPE, attachment_id=f"adverse-report:{report.pk}",
                                         sealed=sealed, author=report.reporter))


def signals_scan(*, now: datetime) -> list[Signal]:
    """Record every pair that meets the Evans criteria and has no ``Signal`` yet, alert
    every officer (stored now; mailed and sent live after commit). Pairs with an
    ``unknown`` drug or reaction are never signals: "unknown" lumps unrelated things.
    Call it inside a transaction; it serializes on the one ``ScanLock`` row."""
    with transaction.atomic():
        ScanLock.objects.get_or_create(pk=1)
        ScanLock.objects.select_for_update().filter(pk=1).first()
        known = {(s.drug, s.reaction) for s in Signal.objects.only("drug", "reaction")}
        new = []
        for drug, reaction, table in pair_tables():
            if normalise.UNKNOWN in (drug, reaction) or (drug, reaction) in known:
                continue
            result = stats.stats(table)
            if result.evans:
                new.append(Signal.objects.create(drug=drug, reaction=reaction, detected_at=now,
                                                 first_week=week_of(now), stats=result.as_dict()))
        if new:
            _alert(new, now=now)
    return new


def _alert(new: list[Signal], *, now: datetime) -> None:
    officers = list(Officer.objects.select_related("user"))
    Alert.objects.bulk_create(Alert(officer=o, signal=s, created_at=now)
                              for o in officers for s in new)
    user_ids = [str(o.user_id) for o in officers if o.user.is_active]
    for signal in new:
        s = signal.stats
        outbox.users_event(user_ids=user_ids, frame=protocol.event_frame(
            "adverse.signal", protocol.AdverseSignal(
                signal=signal.pk, drug=signal.drug, reaction=signal.reaction,
                first_week=signal.first_week.isoformat(), reports=s["a"], prr=s["prr"],
                chi2=s["chi2"], ror=s["ror"], ror_lower=s["ror_lower"], ic025=s["ic025"])))
    addresses = _officer_addresses(officers)
    subject = f"Curbside: {len(new)} new drug safety signal{'s' if len(new) > 1 else ''}"
    lines = [f"- {s.drug} / {normalise.reactions().labels.get(s.reaction, {}).get('en', s.reaction)}:"
             f" {s.stats['a']} reports, PRR {s.stats['prr']:.2f}, chi2 {s.stats['chi2']:.2f},"
             f" IC025 {s.stats['ic025']:.2f}" for s in new]
    body = ("Pairs that met the Evans criteria (PRR >= 2, chi2 >= 4, n >= 3) for the first "
            "time:\n\n" + "\n".join(lines) + "\n\nSee the weekly signals view for details.")
    transaction.on_commit(lambda: _mail(subject, body, addresses))


def _officer_addresses(officers: list[Officer]) -> list[str]:
    out = []
    for officer in officers:
        physician = Physician.objects.filter(user_id=officer.user_id).select_related(
            "user", "primary_specialty").first()
        if physician is not None and officer.user.is_active:
            email = physician_profile(physician=physician).email
            if email:
                out.append(email)
    return out


def _mail(subject: str, body: str, addresses: list[str]) -> None:
    """One mail per officer (no officer sees another's address); a mail server that is down
    loses the mail, never the stored alert."""
    for to in addresses:
        try:
            send_mail(subject, body, None, [to])
        except Exception:
            log.exception("a signal alert mail failed")


def officer_grant(*, user: User, now: datetime | None = None) -> Officer:
    """Give ``user`` the pharmacovigilance role (idempotent)."""
    officer, _ = Officer.objects.get_or_create(user=user,
                                               defaults={"granted_at": now or timezone.now()})
    return officer


def officer_revoke(*, user: User) -> bool:
    """Take the role away (their stored alerts go with it); whether they had it."""
    deleted, _ = Officer.objects.filter(user=user).delete()
    return deleted > 0


def alert_mark_read(*, user: User, alert_id: int, now: datetime | None = None) -> Alert:
    """Mark one of the officer's own alerts read.

    Raises:
        NotFound: no such alert of this officer.
    """
    alert = Alert.objects.filter(pk=alert_id, officer__user=user).first()
    if alert is None:
        raise NotFound("No such alert.", details={"alert": alert_id})
    if alert.read_at is None:
        alert.read_at = now or timezone.now()
        alert.save(update_fields=["read_at"])
    return alert
