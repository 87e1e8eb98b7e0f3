"""The HTTP JSON shapes of the adverse-event API (adverse/views.py): one msgspec struct per
body, built by the views and encoded with msgspec (``shape``), and described from the same
structs in the OpenAPI document (gateway/http_bodies.py, gateway/openapi.py) — as
consult/codec.py does for cases. Each forbids fields it does not name, so a view that sends
something else fails where it builds the body, and schemathesis fails a response that does
not match the document (tests/e2e/test_fuzz_http.py)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from adverse import report


class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    """Base of the bodies below: nothing beyond what the view sends."""


def shape(value: msgspec.Struct) -> dict:
    """A struct as the plain dict JsonResponse sends."""
    return msgspec.to_builtins(value)


def build(doc: Any, kind: type) -> Any:
    """A body from the plain dicts the services and selectors return, checked against its
    struct (a field missing, extra or of the wrong type raises ``msgspec.ValidationError``)."""
    return msgspec.convert(doc, kind)


AdverseRoute = Literal[report.ROUTES]
AdverseOutcome = Literal[report.OUTCOMES]
AdverseChallenge = Literal[report.CHALLENGE]


class AdverseDrug(_Shape):
    name: str
    dose: str
    route: AdverseRoute
    start_year: int | None
    stop_year: int | None
    ingredient: str  # normalised (adverse/normalise.py); "unknown" if not in the table


class AdverseReaction(_Shape):
    term: str
    outcome: AdverseOutcome
    onset_days: int | None
    code: str  # normalised reaction code; "unknown" if not in the table


class AdverseSeriousness(_Shape):
    death: bool
    life_threatening: bool
    hospitalisation: bool
    disability: bool
    congenital_anomaly: bool
    other_important: bool


class AdverseVersions(_Shape):
    drugs: str
    reactions: str


class AdverseReport(_Shape):
    """A report as ``adverse/views.py`` sends it: its id and time, then the sealed document
    (``Draft.as_dict`` plus ``reported_at`` and the normalisation versions; never ``group``)."""

    id: str
    created_at: str
    suspect_drugs: list[AdverseDrug]
    concomitant_drugs: list[AdverseDrug]
    reactions: list[AdverseReaction]
    seriousness: AdverseSeriousness
    dechallenge: AdverseChallenge
    rechallenge: AdverseChallenge
    age_band: Literal[report.AGE_BANDS]
    sex: Literal[report.SEXES]
    country: str
    reporter_specialty: str
    narrative: str
    language: Literal[report.LANGUAGES]
    case: str | None
    serious: bool
    reported_at: str
    normalisation: AdverseVersions


class AdverseReportBody(_Shape):
    report: AdverseReport


class AdverseReports(_Shape):
    reports: list[AdverseReport]


class AdverseReactionLabel(_Shape):
    code: str
    en: str
    es: str


class AdverseVocabulary(_Shape):
    seriousness: list[str]
    outcomes: list[str]
    challenge: list[str]
    age_bands: list[str]
    sexes: list[str]
    routes: list[str]
    countries: list[str]
    reactions: list[AdverseReactionLabel]
    ingredients: list[str]
    versions: AdverseVersions
    officer: bool
    my_country: str | None


class AdverseStats(_Shape):
    """``adverse.signals.Stats.as_dict``: the 2×2 table and its statistics."""

    a: int
    b: int
    c: int
    d: int
    prr: float
    chi2: float
    ror: float
    ror_lower: float
    ror_upper: float
    ic: float
    ic025: float
    corrected: bool
    evans: bool


class AdversePair(AdverseStats):
    """A row of ``adverse.selectors.pair_stats``."""

    drug: str
    reaction: str
    unknown: bool
    signal: int | None
    first_week: str | None


class AdversePairs(_Shape):
    pairs: list[AdversePair]


class AdverseSignal(_Shape):
    signal: int
    drug: str
    reaction: str
    reaction_label: dict[str, str]  # {"en": ..., "es": ...}; empty for an unlisted code
    first_week: str
    detected_at: str
    at_detection: AdverseStats
    current: AdversePair | None


class AdverseSignals(_Shape):
    week: str
    signals: list[AdverseSignal]


class AdverseWeek(_Shape):
    week: str
    reports: int
    serious: int


class AdverseSeries(_Shape):
    drug: str
    reaction: str
    weeks: list[AdverseWeek]


class AdverseAlert(_Shape):
    id: int
    signal: int
    drug: str
    reaction: str
    first_week: str
    created_at: str
    read_at: str | None


class AdverseAlerts(_Shape):
    alerts: list[AdverseAlert]


class AdverseAlertRead(_Shape):
    alert: int
    read_at: str
