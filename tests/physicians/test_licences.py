"""Licence number formats: every supported country accepts a good number and refuses a bad one."""

from __future__ import annotations

import pytest

from physicians.licences import (
    COUNTRY_JURISDICTIONS,
    SUPPORTED_COUNTRIES,
    LicenceFormatError,
    is_valid_npi,
    normalize_jurisdiction,
    npi_check_digit,
    validate_licence,
)

# (country, jurisdiction, as typed, normalized)
GOOD = [
    ("US", "NY", "1234567893", "1234567893"),
    ("US", "pr", "1234-567-893", "1234567893"),
    ("GB", "", "1234567", "1234567"),
    ("UK", "", "GMC 123 4567", "1234567"),
    ("CA", "ON", "65432", "65432"),
    ("CA", "QC", "88123", "88123"),
    ("CA", "BC", "1234567", "1234567"),
    ("AU", "", "med0001234567", "MED0001234567"),
    ("AU", "", "MED0000932846", "MED0000932846"),  # the example in HL7 AU Base
    ("AU", "NSW", "MED 000 123 4567", "MED0001234567"),
    ("IE", "", "012345", "12345"),
    ("NZ", "", "12345", "12345"),
    ("ZA", "", "mp0123456", "MP0123456"),
    ("ES", "", "28 28 12345", "282812345"),
    ("MX", "", "1234567", "1234567"),
    ("MX", "", "12345678", "12345678"),
]

# (country, jurisdiction, number) that must be refused on the licence number
BAD = [
    ("US", "NY", "1234567890"),  # right length, wrong check digit
    ("US", "NY", "123456789"),  # nine digits
    ("GB", "", "123456"),
    ("GB", "", "A123456"),
    ("CA", "ON", "1234567"),  # CPSO numbers are at most 6 digits
    ("CA", "QC", "1234"),
    ("CA", "AB", "123"),
    ("AU", "", "MED123456789"),  # nine digits after MED
    ("AU", "", "NMW0001234567"),  # a nursing/midwifery prefix, not a medical one
    ("IE", "", "1234567"),
    ("IE", "", "000"),
    ("NZ", "", "123"),
    ("NZ", "", "1234567"),
    ("ZA", "", "MP012345"),
    ("ZA", "", "DP0123456"),  # dental practitioner register
    ("ES", "", "53123456"),  # eight digits
    ("ES", "", "531234567"),  # no college 53
    ("ES", "", "001234567"),  # no college 00
    ("MX", "", "123456"),
    ("MX", "", "123456789"),
    ("MX", "", "12A4567"),
]


@pytest.mark.parametrize(("country", "jurisdiction", "typed", "normalized"), GOOD)
def test_good_numbers_are_accepted_and_normalized(country, jurisdiction, typed, normalized):
    assert validate_licence(country=country, number=typed, jurisdiction=jurisdiction) == normalized


@pytest.mark.parametrize(("country", "jurisdiction", "number"), BAD)
def test_bad_numbers_are_refused_on_the_licence_field(country, jurisdiction, number):
    with pytest.raises(LicenceFormatError) as caught:
        validate_licence(country=country, number=number, jurisdiction=jurisdiction)
    assert caught.value.field == "licence_number"
    assert caught.value.message


def test_every_supported_country_has_a_good_and_a_bad_case():
    good = {"GB" if c == "UK" else c for c, *_ in GOOD}
    bad = {c for c, *_ in BAD}
    assert good == bad == set(SUPPORTED_COUNTRIES)


@pytest.mark.parametrize("country", ["US", "CA"])
def test_states_and_provinces_are_required_where_licences_are_local(country):
    number = "1234567893" if country == "US" else "65432"
    with pytest.raises(LicenceFormatError) as caught:
        validate_licence(country=country, number=number)
    assert caught.value.field == "jurisdiction"


@pytest.mark.parametrize(
    ("country", "jurisdiction"),
    [("US", "ZZ"), ("US", "ON"), ("CA", "NY"), ("AU", "XYZ"), ("GB", "ENG"), ("ES", "28")],
)
def test_unknown_or_inapplicable_jurisdictions_are_refused(country, jurisdiction):
    number = {"US": "1234567893", "CA": "65432", "AU": "MED0001234567", "GB": "1234567"}
    with pytest.raises(LicenceFormatError) as caught:
        validate_licence(
            country=country, number=number.get(country, "282812345"), jurisdiction=jurisdiction
        )
    assert caught.value.field == "jurisdiction"


def test_us_jurisdictions_cover_states_dc_and_territories():
    assert len(COUNTRY_JURISDICTIONS["US"]) == 50 + 1 + 5
    for code in ("DC", "PR", "GU", "VI", "AS", "MP"):
        assert normalize_jurisdiction(country="US", jurisdiction=code.lower()) == code


@pytest.mark.parametrize("country", ["FR", "DE", "", "USA"])
def test_unsupported_countries_are_refused_on_the_country_field(country):
    with pytest.raises(LicenceFormatError) as caught:
        validate_licence(country=country, number="1234567")
    assert caught.value.field == "country"


def test_an_empty_number_is_refused():
    with pytest.raises(LicenceFormatError) as caught:
        validate_licence(country="GB", number="  - ")
    assert caught.value.field == "licence_number"


# 1234567893 is the worked example in the CMS check-digit specification (and the example in
# the R "npi" package docs, which give 1234567898 as invalid); 1932104098 is the sample in a
# public NPI validator; the others circulate as public NPI Registry examples.
@pytest.mark.parametrize(
    "npi", ["1234567893", "1932104098", "1245319599", "1003000126", "1497758544"]
)
def test_known_valid_npis_pass_the_check_digit(npi):
    assert is_valid_npi(npi)


@pytest.mark.parametrize(
    "npi",
    ["1234567890", "1234567898", "1234567894", "1245319598", "2234567893", "123456789"]
    + ["12345678931"],
)
def test_npis_with_a_wrong_check_digit_or_length_fail(npi):
    assert not is_valid_npi(npi)


def test_npi_check_digit_matches_the_cms_worked_example():
    # CMS, "Requirements for the NPI check digit": 123456789 with the 80840 prefix → 3.
    assert npi_check_digit("123456789") == 3
    with pytest.raises(ValueError):
        npi_check_digit("12345678")


def test_one_digit_change_anywhere_breaks_the_npi():
    valid = "1234567893"
    for position in range(10):
        digit = int(valid[position])
        changed = valid[:position] + str((digit + 1) % 10) + valid[position + 1 :]
        assert not is_valid_npi(changed), changed


def _luhn_valid(digits: str) -> bool:
    """Textbook Luhn *validation* (ISO/IEC 7812-1), written independently of the module."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value // 10 + value % 10
    return total % 10 == 0


def test_check_digit_agrees_with_textbook_luhn_over_the_80840_prefix():
    for base in ("100000000", "123456789", "987654321", "290000017", "155555555"):
        npi = base + str(npi_check_digit(base))
        assert _luhn_valid("80840" + npi), npi
        assert is_valid_npi(npi)
        wrong = base + str((int(npi[-1]) + 5) % 10)
        assert not _luhn_valid("80840" + wrong)
        assert not is_valid_npi(wrong)
