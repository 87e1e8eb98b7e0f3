"""Verification backends and the registry import, on the NPPES-layout sample file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from physicians.licences import LicenceFormatError
from physicians.models import RegistryEntry
from physicians.verification import (
    BACKENDS,
    LicenceClaim,
    ManualReviewBackend,
    Outcome,
    RegistryFileBackend,
    VerificationBackend,
    licence_index,
    name_index,
    normalize_name,
    registry_import,
)

SAMPLE = Path(__file__).parent / "data" / "nppes_sample.csv"
# Individuals with a valid NPI in the sample; two organizations and one bad check digit
# are left out by the import.
SAMPLE_INDIVIDUALS = 13


def claim(number="1900000013", first="Elena", last="Martinez", where="TX") -> LicenceClaim:
    return LicenceClaim(
        country="US", licence_number=number, first_name=first, last_name=last, jurisdiction=where
    )


@pytest.fixture
def registry(db):
    assert registry_import(path=SAMPLE, country="US", source="nppes-sample") == SAMPLE_INDIVIDUALS
    return RegistryFileBackend()


# --- name normalization ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("NÚÑEZ", "nunez"),
        ("Núñez", "nunez"),
        ("  García   López ", "garcia lopez"),
        ("MARÍA\tJOSÉ", "maria jose"),
        ("Strauß", "strauss"),
        ("Ærøskøbing", "ærøskøbing"),  # letters that are not accented forms stay
        ("Zoë", "zoe"),
    ],
)
def test_normalize_name_folds_case_accents_and_spaces(typed, normalized):
    assert normalize_name(typed) == normalized


@pytest.mark.django_db
def test_name_index_ignores_case_and_accents_but_not_order():
    assert name_index(first_name="José", last_name="Núñez") == name_index(
        first_name="JOSE", last_name="nunez"
    )
    assert name_index(first_name="José", last_name="Núñez") != name_index(
        first_name="Núñez", last_name="José"
    )


# --- the import ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_stores_only_blind_indexes_of_individuals(registry):
    assert RegistryEntry.objects.count() == SAMPLE_INDIVIDUALS
    stored = list(RegistryEntry.objects.values_list("licence_index", "name_index"))
    text = " ".join(index for pair in stored for index in pair)
    assert "1900000013" not in text and "martinez" not in text.lower()
    assert RegistryEntry.objects.filter(
        licence_index=licence_index(country="US", licence_number="1900000013"),
        jurisdiction="TX",
        source="nppes-sample",
    ).exists()
    # organizations (Entity Type Code 2) and the NPI with a wrong check digit are not there
    for skipped in ("1900000203", "1900000211", "1900000147"):
        index = licence_index(country="US", licence_number=skipped)
        assert not RegistryEntry.objects.filter(licence_index=index).exists(), skipped


@pytest.mark.django_db
def test_reimporting_a_source_replaces_its_rows_and_keeps_other_sources(registry, tmp_path):
    assert registry_import(path=SAMPLE, country="US", source="nppes-sample") == SAMPLE_INDIVIDUALS
    assert RegistryEntry.objects.count() == SAMPLE_INDIVIDUALS
    smaller = tmp_path / "one.csv"
    with SAMPLE.open(newline="", encoding="utf-8") as src:
        lines = src.read().splitlines(keepends=True)
    smaller.write_text("".join(lines[:2]), encoding="utf-8")  # header + Elena Martinez
    assert registry_import(path=smaller, country="US", source="other") == 1
    assert RegistryEntry.objects.count() == SAMPLE_INDIVIDUALS + 1
    assert registry_import(path=smaller, country="US", source="nppes-sample") == 1
    assert RegistryEntry.objects.filter(source="nppes-sample").count() == 1
    assert RegistryEntry.objects.filter(source="other").count() == 1


@pytest.mark.django_db
def test_a_file_without_nppes_columns_is_refused_and_changes_nothing(registry, tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("npi,name\n1900000013,Martinez\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing columns"):
        registry_import(path=wrong, country="US", source="nppes-sample")
    assert RegistryEntry.objects.count() == SAMPLE_INDIVIDUALS


@pytest.mark.django_db
def test_an_unsupported_country_is_refused():
    with pytest.raises(LicenceFormatError):
        registry_import(path=SAMPLE, country="FR", source="x")


@pytest.mark.django_db
def test_import_registry_command_prints_the_count():
    out = io.StringIO()
    call_command(
        "import_registry", "--file", str(SAMPLE), "--country", "US", "--source", "cli", stdout=out
    )
    assert out.getvalue().split()[0] == str(SAMPLE_INDIVIDUALS)
    assert RegistryEntry.objects.filter(source="cli").count() == SAMPLE_INDIVIDUALS


@pytest.mark.django_db
def test_import_registry_command_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError):
        call_command(
            "import_registry",
            "--file", str(tmp_path / "absent.csv"), "--country", "US", "--source", "cli",
        )  # fmt: skip


def test_sample_file_npis_are_made_up_but_well_formed():
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert 10 <= len(rows) <= 20
    assert {row["Entity Type Code"] for row in rows} == {"1", "2"}


# --- RegistryFileBackend --------------------------------------------------------------------


@pytest.mark.django_db
def test_number_name_and_state_matching_is_verified(registry):
    outcome = registry.check(claim())
    assert outcome.decision == "verified"


@pytest.mark.django_db
def test_accents_and_case_in_the_claim_do_not_matter(registry):
    # the registry writes NÚÑEZ / JOSÉ; the physician types it either way
    assert registry.check(claim("1900000021", "jose", "Nunez", "FL")).decision == "verified"
    assert registry.check(claim("1900000021", "José", "Núñez", "fl")).decision == "verified"
    outcome = registry.check(claim("1900000096", "María  José", "García López", "PR"))
    assert outcome.decision == "verified"


@pytest.mark.django_db
def test_a_known_number_under_another_name_is_rejected(registry):
    outcome = registry.check(claim(first="Elena", last="Smith"))
    assert outcome.decision == "rejected"
    assert "name" in outcome.reason
    assert "1900000013" not in outcome.reason and "Smith" not in outcome.reason


@pytest.mark.django_db
def test_a_known_number_in_another_state_is_rejected(registry):
    outcome = registry.check(claim(where="CA"))
    assert outcome.decision == "rejected"
    assert "TX" in outcome.reason


@pytest.mark.django_db
def test_an_unknown_number_goes_to_review(registry):
    outcome = registry.check(claim(number="1234567893"))
    assert outcome.decision == "review"


@pytest.mark.django_db
def test_the_same_name_under_two_numbers_does_not_cross_match(registry):
    # two John Smiths, in GA and CO: each number verifies only in its own state
    assert registry.check(claim("1900000070", "John", "Smith", "GA")).decision == "verified"
    assert registry.check(claim("1900000088", "John", "Smith", "CO")).decision == "verified"
    assert registry.check(claim("1900000070", "John", "Smith", "CO")).decision == "rejected"


@pytest.mark.django_db
def test_registry_rows_of_another_country_do_not_match(registry):
    outcome = registry.check(
        LicenceClaim(
            country="GB", licence_number="1900000013", first_name="Elena", last_name="Martinez"
        )
    )
    assert outcome.decision == "review"


# --- ManualReviewBackend and the interface -------------------------------------------------


def test_manual_review_always_waits_for_a_verifier():
    outcome = ManualReviewBackend().check(claim())
    assert outcome == Outcome("review", outcome.reason) and outcome.reason


def test_both_backends_satisfy_the_interface_and_are_registered_by_name():
    backends: list[VerificationBackend] = [RegistryFileBackend(), ManualReviewBackend()]
    assert {backend.name for backend in backends} == set(BACKENDS)
    for backend in backends:
        assert BACKENDS[backend.name] is type(backend)
