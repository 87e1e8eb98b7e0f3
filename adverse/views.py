"""HTTP JSON API under /api/v1/adverse/: thin views that parse, check access, call one
service or selector. Every JSON answer is a struct of adverse/codec.py, the one definition the
OpenAPI document also describes. docs/adverse.md and docs/protocol.md list the endpoints."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from adverse import chart, codec, export, normalise, report, selectors, services
from adverse.models import Report
from core import text
from core.errors import ValidationFailed
from core.http import api, int_param
from physicians.licences import SUPPORTED_COUNTRIES


def _report_view(row: Report, doc: dict) -> codec.AdverseReport:
    doc = dict(doc)
    doc.pop("group", None)  # links the report to its facts: not for anyone's screen
    return codec.build({"id": str(row.pk), "created_at": row.created_at.isoformat(), **doc},
                       codec.AdverseReport)


def _json(body, status: int = 200) -> JsonResponse:
    return JsonResponse(codec.shape(body), status=status)


@api(("GET", "POST"), auth="user")
def reports(request: HttpRequest) -> JsonResponse:
    """POST: file a report. GET: my reports, newest first."""
    if request.method == "POST":
        row, _ = services.report_create(reporter=request.user, body=request.json)
        return _json(codec.AdverseReportBody(report=_report_view(row, services.report_open(row))),
                     status=201)
    mine = selectors.reports_of(reporter=services.reporter_pseudonym(request.user),
                                limit=min(int_param(request, "limit", 100), 500))
    return _json(codec.AdverseReports(
        reports=[_report_view(r, services.report_open(r)) for r in mine]))


@api(("GET",), auth="user")
def report_detail(request: HttpRequest, report_id: str) -> JsonResponse:
    row = selectors.report_get(report_id=report_id,
                               reporter=services.reporter_pseudonym(request.user),
                               officer=selectors.is_officer(request.user))
    return _json(codec.AdverseReportBody(report=_report_view(row, services.report_open(row))))


@api(("GET",), auth="user")
def vocabulary(request: HttpRequest) -> JsonResponse:
    """The choices a report form offers, and the normalisation tables' versions."""
    return _json(codec.AdverseVocabulary(
        seriousness=list(report.SERIOUSNESS), outcomes=list(report.OUTCOMES),
        challenge=list(report.CHALLENGE), age_bands=list(report.AGE_BANDS),
        sexes=list(report.SEXES), routes=list(report.ROUTES),
        countries=list(SUPPORTED_COUNTRIES),
        reactions=[codec.AdverseReactionLabel(code=c, en=labels["en"], es=labels["es"])
                   for c, labels in normalise.reactions().labels.items()],
        ingredients=sorted(normalise.drugs().labels),
        versions=codec.AdverseVersions(drugs=normalise.drugs().version,
                                       reactions=normalise.reactions().version),
        officer=selectors.is_officer(request.user),
        my_country=selectors.reporter_country(user=request.user),
    ))


@api(("GET",), auth="user")
def pairs(request: HttpRequest) -> JsonResponse:
    selectors.officer_require(user=request.user)
    return _json(codec.AdversePairs(pairs=codec.build(selectors.pair_stats(),
                                                      list[codec.AdversePair])))


def _week_param(request: HttpRequest) -> date:
    raw = request.GET.get("week")
    if raw is None:
        return services.week_of(timezone.now())
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("'week' must be a date (YYYY-MM-DD).",
                               fields={"week": "Expected YYYY-MM-DD."}) from None
    return services.week_of_day(day)


@api(("GET",), auth="user")
def signals_weekly(request: HttpRequest) -> JsonResponse:
    """The signals first detected in one ISO week (default: this week)."""
    selectors.officer_require(user=request.user)
    week = _week_param(request)
    return _json(codec.AdverseSignals(week=week.isoformat(), signals=codec.build(
        selectors.signals_of_week(week=week), list[codec.AdverseSignal])))


def _pair_param(request: HttpRequest) -> tuple[str, str]:
    drug, reaction = request.GET.get("drug", ""), request.GET.get("reaction", "")
    if not drug or not reaction:
        raise ValidationFailed("Name the pair: 'drug' and 'reaction'.",
                               fields={k: "This parameter is required."
                                       for k, v in (("drug", drug), ("reaction", reaction)) if not v})
    # PostgreSQL cannot compare text holding a NUL: refuse control characters before the query.
    bad = {k: f"It {text.LINE_RULE}." for k, v in (("drug", drug), ("reaction", reaction))
           if not text.text_ok(v, multiline=False)}
    if bad:
        raise ValidationFailed("The pair's names hold characters no name has.", fields=bad)
    return drug, reaction


@api(("GET",), auth="user")
def pair_chart(request: HttpRequest) -> HttpResponse:
    """SVG: the pair's reports per week, serious ones darker."""
    selectors.officer_require(user=request.user)
    drug, reaction = _pair_param(request)
    series = selectors.pair_series(drug=drug, reaction=reaction)
    label = normalise.reactions().labels.get(reaction, {}).get("en", reaction)
    svg = chart.series_svg(title=f"{drug} — {label}", series=series)
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    # Shown as an image only: nothing in it may run, even opened on its own.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@api(("GET",), auth="user")
def pair_series(request: HttpRequest) -> JsonResponse:
    selectors.officer_require(user=request.user)
    drug, reaction = _pair_param(request)
    return _json(codec.AdverseSeries(drug=drug, reaction=reaction, weeks=[
        codec.AdverseWeek(week=w.isoformat(), reports=n, serious=s)
        for w, n, s in selectors.pair_series(drug=drug, reaction=reaction)]))


@api(("GET",), auth="user")
def alerts(request: HttpRequest) -> JsonResponse:
    officer = selectors.officer_require(user=request.user)
    return _json(codec.AdverseAlerts(alerts=[
        codec.AdverseAlert(id=a.pk, signal=a.signal_id, drug=a.signal.drug,
                           reaction=a.signal.reaction,
                           first_week=a.signal.first_week.isoformat(),
                           created_at=a.created_at.isoformat(),
                           read_at=a.read_at.isoformat() if a.read_at else None)
        for a in selectors.alerts_of(officer=officer)]))


@api(("POST",), auth="user")
def alert_read(request: HttpRequest, alert_id: int) -> JsonResponse:
    selectors.officer_require(user=request.user)
    alert = services.alert_mark_read(user=request.user, alert_id=alert_id)
    return _json(codec.AdverseAlertRead(alert=alert.pk, read_at=alert.read_at.isoformat()))


def _csv(body: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Curbside-Normalisation"] = (f"drugs={normalise.drugs().version}; "
                                            f"reactions={normalise.reactions().version}")
    return response


@api(("GET",), auth="user")
def export_reports(request: HttpRequest) -> HttpResponse:
    """Every report, decrypted, as CSV (docs/adverse.md: columns)."""
    selectors.officer_require(user=request.user)
    rows = [(str(r.pk), services.report_open(r)) for r in selectors.reports_all()]
    return _csv(export.reports_csv(rows), "adverse-reports.csv")


@api(("GET",), auth="user")
def export_pairs(request: HttpRequest) -> HttpResponse:
    selectors.officer_require(user=request.user)
    return _csv(export.pairs_csv(selectors.pair_stats()), "adverse-pairs.csv")
