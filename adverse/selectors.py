"""Reads of adverse event data, with access checks: counts from the de-identified facts
(no decryption), a pair's weekly series, the signals of a week, alerts."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.db.models import Count, Q

from adverse import normalise
from adverse import signals as stats
from adverse.models import Alert, Fact, Officer, Report, Signal
from core.errors import Forbidden, NotFound
from physicians.models import Physician, User


def officer_require(*, user: User) -> Officer:
    """The caller's pharmacovigilance role.

    Raises:
        Forbidden: the caller does not hold it.
    """
    officer = Officer.objects.filter(user_id=user.pk).first() if user.is_active else None
    if officer is None:
        raise Forbidden("Only the pharmacovigilance role may see this.")
    return officer


def is_officer(user: User) -> bool:
    return user.is_active and Officer.objects.filter(user_id=user.pk).exists()


def reporter_country(*, user: User) -> str | None:
    """The caller's licence country (a report's default), or None for a non-physician."""
    return Physician.objects.filter(user_id=user.pk).values_list("country", flat=True).first()


def reports_of(*, reporter: str, limit: int = 100) -> list[Report]:
    """The reporter's (pseudonym's) reports, newest first."""
    return list(Report.objects.filter(reporter=reporter).order_by("-created_at")[:limit])


def reports_all() -> list[Report]:
    """Every report, oldest first (exports; officers only, checked by the caller)."""
    return list(Report.objects.order_by("created_at", "pk"))


def report_get(*, report_id: str, reporter: str, officer: bool) -> Report:
    """One report, for its reporter or an officer.

    Raises:
        NotFound: no such report, or someone else's (the same answer).
    """
    from_id = _uuid_ok(report_id)
    report = Report.objects.filter(pk=report_id).first() if from_id else None
    if report is None or not (officer or report.reporter == reporter):
        raise NotFound("No such report.", details={"report": report_id})
    return report


def _uuid_ok(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def pair_tables() -> list[tuple[str, str, stats.Table]]:
    """Every (drug, reaction) pair seen and its 2×2 table of reports, from four counting
    queries over ``Fact`` (distinct report groups)."""
    total = Fact.objects.values("group").distinct().count()
    by_drug = dict(Fact.objects.values_list("drug").annotate(n=Count("group", distinct=True)))
    by_reaction = dict(Fact.objects.values_list("reaction")
                       .annotate(n=Count("group", distinct=True)))
    pairs = (Fact.objects.values_list("drug", "reaction")
             .annotate(n=Count("group", distinct=True)).order_by("drug", "reaction"))
    return [(d, r, stats.Table.from_margins(a=n, drug=by_drug[d], reaction=by_reaction[r],
                                            total=total)) for d, r, n in pairs]


def pair_stats() -> list[dict]:
    """Every pair with its statistics, strongest first (IC025, then PRR)."""
    signalled = {(s.drug, s.reaction): s for s in Signal.objects.all()}
    out = []
    for drug, reaction, table in pair_tables():
        row = {"drug": drug, "reaction": reaction, **stats.stats(table).as_dict()}
        row["unknown"] = normalise.UNKNOWN in (drug, reaction)
        if row["unknown"]:
            row["evans"] = False
        seen = signalled.get((drug, reaction))
        row["signal"] = seen.pk if seen else None
        row["first_week"] = seen.first_week.isoformat() if seen else None
        out.append(row)
    out.sort(key=lambda r: (-r["ic025"], -r["prr"], r["drug"], r["reaction"]))
    return out


def signals_of_week(*, week: date) -> list[dict]:
    """The signals first detected in the ISO week starting on Monday ``week``, with their
    statistics then and now."""
    now = {(r["drug"], r["reaction"]): r for r in pair_stats()}
    return [{"signal": s.pk, "drug": s.drug, "reaction": s.reaction,
             "reaction_label": normalise.reactions().labels.get(s.reaction, {}),
             "first_week": s.first_week.isoformat(), "detected_at": s.detected_at.isoformat(),
             "at_detection": s.stats, "current": now.get((s.drug, s.reaction))}
            for s in Signal.objects.filter(first_week=week).order_by("detected_at", "pk")]


def pair_series(*, drug: str, reaction: str) -> list[tuple[date, int, int]]:
    """(week, reports, serious reports) of the pair, every week from its first to its last.

    Raises:
        NotFound: no report has this pair.
    """
    rows = dict((w, (n, s)) for w, n, s in (
        Fact.objects.filter(drug=drug, reaction=reaction).values_list("week")
        .annotate(n=Count("group", distinct=True),
                  s=Count("group", distinct=True, filter=Q(serious=True))).order_by("week")))
    if not rows:
        raise NotFound("No report has this drug and reaction.",
                       details={"drug": drug, "reaction": reaction})
    first, last = min(rows), max(rows)
    out, week = [], first
    while week <= last:
        n, s = rows.get(week, (0, 0))
        out.append((week, n, s))
        week += timedelta(days=7)
    return out


def alerts_of(*, officer: Officer, limit: int = 100) -> list[Alert]:
    return list(Alert.objects.filter(officer=officer).select_related("signal")
                .order_by("-created_at", "-pk")[:limit])
