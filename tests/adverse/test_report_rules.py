"""The report's own rules, without the database: seriousness, vocabularies, stable codes."""

from __future__ import annotations

import pytest

from adverse.report import draft_parse
from core.errors import ValidationFailed
from physicians.licences import COUNTRY_ALIASES, SUPPORTED_COUNTRIES


def parse(body):
    return draft_parse(body, country="GB", specialty="cardiology", this_year=2026,
                       countries=SUPPORTED_COUNTRIES, country_aliases=COUNTRY_ALIASES)


def codes(body) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        parse(body)
    return caught.value.details["codes"]


def test_a_report_with_no_criterion_is_not_serious_and_any_one_makes_it_serious(report_body):
    assert not parse(report_body(seriousness={})).serious
    for criterion in ("life_threatening", "hospitalisation", "disability", "other_important"):
        assert parse(report_body(seriousness={criterion: True})).serious, criterion


def test_a_fatal_outcome_needs_the_death_criterion_and_the_reverse(report_body):
    fatal = [{"term": "anaphylaxis", "outcome": "fatal"}]
    assert codes(report_body(reactions=fatal, seriousness={})) == {
        "seriousness.death": "seriousness_inconsistent"}
    assert codes(report_body(seriousness={"death": True})) == {
        "seriousness.death": "seriousness_inconsistent"}
    draft = parse(report_body(reactions=fatal, seriousness={"death": True}))
    assert draft.serious and draft.seriousness["death"]


def test_a_congenital_anomaly_is_the_childs(report_body):
    assert codes(report_body(seriousness={"congenital_anomaly": True}, age_band="adult")) == {
        "seriousness.congenital_anomaly": "seriousness_inconsistent"}
    assert parse(report_body(seriousness={"congenital_anomaly": True}, age_band="neonate")).serious


def test_every_problem_is_reported_at_once_with_a_stable_code(report_body):
    got = codes(report_body(
        suspect_drugs=[{"name": "", "route": "nasal-ish", "start_year": 2024, "stop_year": 2020}],
        reactions=[], seriousness={"death": "yes", "fainting": True}, sex="x", country="FR",
        age_band="teen", narrative="x" * 2001))
    assert got == {
        "suspect_drugs[0].name": "required", "suspect_drugs[0].route": "unknown_choice",
        "suspect_drugs[0].stop_year": "out_of_range", "reactions": "required",
        "seriousness.death": "invalid", "seriousness.fainting": "unknown_choice",
        "sex": "unknown_choice", "country": "unknown_choice", "age_band": "unknown_choice",
        "narrative": "too_long"}


def test_limits_and_dates(report_body):
    assert codes(report_body(reactions=[{"term": "rash"}] * 11)) == {"reactions": "too_many"}
    assert codes(report_body(suspect_drugs=[{"name": "x", "start_year": 2027}])) == {
        "suspect_drugs[0].start_year": "out_of_range"}
    assert codes(report_body(reactions=[{"term": "rash", "onset_days": -1}])) == {
        "reactions[0].onset_days": "out_of_range"}
    assert codes(report_body(reactions=[{"term": "rash\u202e"}])) == {"reactions[0].term": "invalid"}


def test_the_nine_countries_uk_as_gb_and_the_reporters_own_by_default(report_body):
    for code in ("US", "UK", "CA", "AU", "IE", "NZ", "ZA", "ES", "MX"):
        assert parse(report_body(country=code)).country == ("GB" if code == "UK" else code)
    body = report_body()
    del body["country"]
    assert parse(body).country == "GB"
    assert parse(body).reporter_specialty == "cardiology"
