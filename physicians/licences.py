"""Medical licence number formats, per country: validate and normalize what a physician types.

A format check only says a number *could* be real; ``physicians/verification.py`` decides
whether it *is*. The normalized number is what gets blind-indexed (one account per licence),
so normalization must map every way of writing one licence to the same string: whitespace,
hyphens and dots are dropped, letters upper-cased. docs/licences.md lists each format, its
source, and where the check is an approximation.
"""

from __future__ import annotations

import re

# Country codes are ISO 3166-1 alpha-2; "UK" is what people type for GB.
COUNTRY_ALIASES: dict[str, str] = {"UK": "GB"}

US_JURISDICTIONS = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN",
        "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV",
        "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN",
        "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
        "DC",
        # Territories with their own medical boards.
        "AS", "GU", "MP", "PR", "VI",
    }
)  # fmt: skip
CA_JURISDICTIONS = frozenset(
    {"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}
)
# AHPRA registration is national; the state (principal place of practice) is optional.
AU_JURISDICTIONS = frozenset({"ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"})

# Countries whose licences are issued per state or province: a jurisdiction is required.
JURISDICTION_REQUIRED = frozenset({"US", "CA"})
# Countries that accept a jurisdiction, and the codes they accept. Every other supported
# country takes none: its licence number is national (or, in Spain, encodes the college).
COUNTRY_JURISDICTIONS: dict[str, frozenset[str]] = {
    "US": US_JURISDICTIONS,
    "CA": CA_JURISDICTIONS,
    "AU": AU_JURISDICTIONS,
}

SUPPORTED_COUNTRIES: tuple[str, ...] = ("US", "GB", "CA", "AU", "IE", "NZ", "ZA", "ES", "MX")

# Prefix the NPI check digit is computed under: 80840 = ISO 7812 health-industry issuer
# ("80") + the US country code ("840"), per the CMS NPI check-digit specification.
NPI_LUHN_PREFIX = "80840"

# Characters people put inside licence numbers that carry no meaning.
_SEPARATORS = re.compile(r"[\s\-./]")

# Per-province Canadian formats we are confident enough to enforce; the other provinces
# and territories get the generic 4–8 digits (docs/licences.md explains).
_CA_PROVINCE_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "ON": (re.compile(r"[1-9]\d{3,5}"), "a CPSO number is 4 to 6 digits"),
    "QC": (re.compile(r"\d{5}"), "a Collège des médecins du Québec permit number is 5 digits"),
}
_CA_GENERIC = (re.compile(r"[1-9]\d{3,7}"), "a provincial licence number is 4 to 8 digits")


class LicenceFormatError(ValueError):
    """A licence claim that cannot be right; ``field`` names the form field to flag."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def normalize_country(country: str) -> str:
    """ISO alpha-2 code for ``country`` (``"uk"`` → ``"GB"``).

    Raises:
        LicenceFormatError: (field ``country``) the country is not supported.
    """
    code = country.strip().upper()
    code = COUNTRY_ALIASES.get(code, code)
    if code not in SUPPORTED_COUNTRIES:
        raise LicenceFormatError(
            "country", f"licences from {country.strip()!r} are not supported yet"
        )
    return code


def normalize_jurisdiction(*, country: str, jurisdiction: str) -> str:
    """The jurisdiction code to store for a licence of ``country`` (``""`` when none applies).

    Raises:
        LicenceFormatError: ``country`` is unsupported (field ``country``), or the
            jurisdiction is missing where required, unknown, or given where the country
            has none (field ``jurisdiction``).
    """
    code = normalize_country(country)
    value = jurisdiction.strip().upper()
    allowed = COUNTRY_JURISDICTIONS.get(code)
    if not value:
        if code in JURISDICTION_REQUIRED:
            kind = "state" if code == "US" else "province or territory"
            raise LicenceFormatError("jurisdiction", f"a {kind} of licensure is required")
        return ""
    if allowed is None:
        raise LicenceFormatError(
            "jurisdiction", f"licences from {code} are national: leave the jurisdiction empty"
        )
    if value not in allowed:
        raise LicenceFormatError("jurisdiction", f"{value!r} is not a jurisdiction of {code}")
    return value


def validate_licence(*, country: str, number: str, jurisdiction: str = "") -> str:
    """The normalized licence number, if it fits the published format for ``country``.

    The jurisdiction is checked first when the number's format depends on it (Canada).

    Raises:
        LicenceFormatError: ``field`` is ``"country"`` (unsupported), ``"jurisdiction"``
            (missing, unknown or not applicable) or ``"licence_number"`` (wrong format or,
            for a US NPI, wrong check digit).
    """
    code = normalize_country(country)
    where = normalize_jurisdiction(country=code, jurisdiction=jurisdiction)
    value = _SEPARATORS.sub("", number).upper()
    if not value:
        raise LicenceFormatError("licence_number", "a licence number is required")
    return _CHECKS[code](value, where)


def npi_check_digit(first_nine: str) -> int:
    """The NPI check digit for the first nine digits (Luhn over ``80840`` + the nine digits).

    Raises:
        ValueError: ``first_nine`` is not exactly nine digits.
    """
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("an NPI check digit is computed over exactly nine digits")
    total = 0
    # Luhn: double every second digit from the right of the payload (the check digit
    # will sit to its right), subtracting 9 when the double exceeds 9.
    for position, char in enumerate(reversed(NPI_LUHN_PREFIX + first_nine)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_valid_npi(value: str) -> bool:
    return len(value) == 10 and value.isdigit() and npi_check_digit(value[:9]) == int(value[9])


def _fail(message: str) -> LicenceFormatError:
    return LicenceFormatError("licence_number", message)


def _check_us(value: str, jurisdiction: str) -> str:
    if not (len(value) == 10 and value.isdigit()):
        raise _fail("a US NPI is 10 digits")
    if not is_valid_npi(value):
        raise _fail("this is not a valid NPI (the check digit does not match)")
    return value


def _check_gb(value: str, jurisdiction: str) -> str:
    if value.startswith("GMC"):  # people copy "GMC 1234567" off their certificate
        value = value[3:]
    if not re.fullmatch(r"\d{7}", value):
        raise _fail("a GMC reference number is 7 digits")
    return value


def _check_ca(value: str, jurisdiction: str) -> str:
    pattern, message = _CA_PROVINCE_FORMATS.get(jurisdiction, _CA_GENERIC)
    if not pattern.fullmatch(value):
        raise _fail(message)
    return value


def _check_au(value: str, jurisdiction: str) -> str:
    if not re.fullmatch(r"MED\d{10}", value):
        raise _fail("an AHPRA registration number is MED followed by 10 digits")
    return value


def _check_ie(value: str, jurisdiction: str) -> str:
    if not re.fullmatch(r"\d{1,6}", value) or int(value) == 0:
        raise _fail("an IMC registration number is up to 6 digits")
    # Leading zeros do not make a different registration: strip them so "012345" and
    # "12345" are one licence (and one account).
    return value.lstrip("0")


def _check_nz(value: str, jurisdiction: str) -> str:
    stripped = value.lstrip("0")  # as for Ireland: leading zeros are not significant
    if not re.fullmatch(r"\d+", value) or not re.fullmatch(r"\d{4,6}", stripped):
        raise _fail("an MCNZ registration number is 4 to 6 digits")
    return stripped


def _check_za(value: str, jurisdiction: str) -> str:
    if not re.fullmatch(r"MP\d{7}", value):
        raise _fail("an HPCSA registration number is MP followed by 7 digits")
    return value


def _check_es(value: str, jurisdiction: str) -> str:
    if not re.fullmatch(r"\d{9}", value):
        raise _fail("a Spanish número de colegiado is 9 digits")
    if not 1 <= int(value[:2]) <= 52:
        raise _fail("the first two digits of a número de colegiado are the college (01–52)")
    return value


def _check_mx(value: str, jurisdiction: str) -> str:
    if not re.fullmatch(r"\d{7,8}", value):
        raise _fail("a Mexican cédula profesional is 7 or 8 digits")
    return value


_CHECKS = {
    "US": _check_us,
    "GB": _check_gb,
    "CA": _check_ca,
    "AU": _check_au,
    "IE": _check_ie,
    "NZ": _check_nz,
    "ZA": _check_za,
    "ES": _check_es,
    "MX": _check_mx,
}
