"""Licence verification backends: given a licence claim, decide verified, rejected or review.

Every backend has one method, ``check(claim) -> Outcome``; ``physicians.services`` calls it at
registration and applies the outcome through the licence state machine (``physicians.states``).
A backend never changes state itself.

- ``RegistryFileBackend`` matches the claim against an imported public registry
  (``RegistryEntry`` rows, loaded by ``registry_import`` from an NPPES-layout CSV). The rows
  hold blind indexes only, so the check recomputes the same indexes from the claim.
- ``ManualReviewBackend`` sends every claim to a human verifier.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Literal, Protocol

from django.db import transaction

from crypto.personal import blind_index
from physicians.licences import COUNTRY_JURISDICTIONS, LicenceFormatError, normalize_country, validate_licence
from physicians.models import RegistryEntry

logger = logging.getLogger(__name__)

Decision = Literal["verified", "rejected", "review"]

# Rows per INSERT when importing a registry: the NPPES file has ~9 million rows, so the
# import streams and never holds more than one batch of model instances in memory.
IMPORT_BATCH_SIZE = 2000

# Column names exactly as in the CMS NPPES "NPI Downloadable File" (npidata_pfile_*.csv).
NPPES_NPI = "NPI"
NPPES_ENTITY_TYPE = "Entity Type Code"
NPPES_LAST_NAME = "Provider Last Name (Legal Name)"
NPPES_FIRST_NAME = "Provider First Name"
NPPES_PRACTICE_STATE = "Provider Business Practice Location Address State Name"
NPPES_REQUIRED_COLUMNS = frozenset(
    {NPPES_NPI, NPPES_ENTITY_TYPE, NPPES_LAST_NAME, NPPES_FIRST_NAME, NPPES_PRACTICE_STATE}
)
# Entity Type Code 1 = individual provider; 2 = organization (hospitals, practices).
NPPES_INDIVIDUAL = "1"


@dataclass(frozen=True, slots=True)
class LicenceClaim:
    """What a physician says about themselves at registration.

    ``licence_number`` must already be normalized by ``physicians.licences.validate_licence``
    and ``country`` be its ISO code, or the indexes will not match the registry's.
    """

    country: str
    licence_number: str
    first_name: str
    last_name: str
    jurisdiction: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: Decision
    # Shown to the verifier and stored in LicenceDecision.reason; never holds the number
    # or the name, which are personal data.
    reason: str


class VerificationBackend(Protocol):
    name: str

    def check(self, claim: LicenceClaim) -> Outcome: ...


def normalize_name(value: str) -> str:
    """``value`` case-folded, without accents, with runs of whitespace collapsed to one space.

    Registries write ``NÚÑEZ``, people type ``Núñez`` or ``Nunez``: all three become
    ``nunez``. Decomposing (NFKD) splits an accented letter into the letter and a
    combining mark, and the marks are dropped.
    """
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split())


def licence_index(*, country: str, licence_number: str) -> str:
    """The blind index a ``RegistryEntry`` stores for a licence (and a claim is looked up by)."""
    return blind_index("licence", f"{country}:{licence_number}")


def name_index(*, first_name: str, last_name: str) -> str:
    """The blind index of a person's name: ``normalized last|normalized first``."""
    return blind_index("name", f"{normalize_name(last_name)}|{normalize_name(first_name)}")


class RegistryFileBackend:
    """Verify against imported registry rows: number, then name, then jurisdiction.

    - number not in the registry → ``review`` (the registry may be stale or partial: a
      human decides);
    - number found, but no row for it has this name → ``rejected``;
    - number and name found, but not in the claimed jurisdiction → ``rejected``;
    - all three match → ``verified``.

    A row with an empty jurisdiction matches any claimed jurisdiction.
    """

    name = "registry-file"

    def check(self, claim: LicenceClaim) -> Outcome:
        entries = list(
            RegistryEntry.objects.filter(
                country=claim.country,
                licence_index=licence_index(
                    country=claim.country, licence_number=claim.licence_number
                ),
            ).values_list("name_index", "jurisdiction")
        )
        if not entries:
            return Outcome("review", "licence number not found in the registry")
        wanted_name = name_index(first_name=claim.first_name, last_name=claim.last_name)
        named = [where for index, where in entries if index == wanted_name]
        if not named:
            return Outcome("rejected", "the registry lists this licence under another name")
        claimed = claim.jurisdiction.strip().upper()
        if any(not where or where.upper() == claimed for where in named):
            return Outcome("verified", "licence number, name and jurisdiction match the registry")
        return Outcome(
            "rejected",
            f"the registry lists this licence in {', '.join(sorted(set(named)))}, "
            f"not {claimed or 'no jurisdiction'}",
        )


class ManualReviewBackend:
    """Every claim waits for a verifier, who decides through the API."""

    name = "manual"

    def check(self, claim: LicenceClaim) -> Outcome:
        return Outcome("review", "awaiting manual review by a verifier")


BACKENDS: dict[str, type[RegistryFileBackend] | type[ManualReviewBackend]] = {
    RegistryFileBackend.name: RegistryFileBackend,
    ManualReviewBackend.name: ManualReviewBackend,
}


def registry_import(*, path: str | Path, country: str, source: str) -> int:
    """Load an NPPES-layout CSV into ``RegistryEntry``; return how many rows were imported.

    Only individuals (Entity Type Code 1) are imported; the jurisdiction is the practice
    location state. Rows whose NPI or state fails ``validate_licence`` are skipped (and
    counted in a log line). Earlier rows of the same ``source`` are replaced in the same
    transaction, so a failed import leaves the previous one in place.

    Raises:
        LicenceFormatError: ``country`` is not supported.
        ValueError: the file lacks one of the NPPES columns the import needs.
        OSError: the file cannot be read.
    """
    code = normalize_country(country)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = sorted(NPPES_REQUIRED_COLUMNS - set(reader.fieldnames or []))
        if missing:
            raise ValueError(f"{path}: not an NPPES-layout file, missing columns {missing}")
        skipped: list[int] = [0]
        entries = _registry_entries(reader, country=code, source=source, skipped=skipped)
        imported = 0
        with transaction.atomic():
            RegistryEntry.objects.filter(source=source).delete()
            while batch := list(islice(entries, IMPORT_BATCH_SIZE)):
                RegistryEntry.objects.bulk_create(batch)
                imported += len(batch)
    logger.info(
        "registry import %s (%s): %d imported, %d skipped", source, code, imported, skipped[0]
    )
    return imported


def _registry_entries(
    reader: csv.DictReader, *, country: str, source: str, skipped: list[int]
) -> Iterator[RegistryEntry]:
    for row in reader:
        if (row.get(NPPES_ENTITY_TYPE) or "").strip() != NPPES_INDIVIDUAL:
            continue
        # The practice state is the jurisdiction only where the country has jurisdictions;
        # for a national register laid out like NPPES it is just an address.
        state = (row.get(NPPES_PRACTICE_STATE) or "").strip().upper()
        if country not in COUNTRY_JURISDICTIONS:
            state = ""
        try:
            number = validate_licence(
                country=country, number=row.get(NPPES_NPI) or "", jurisdiction=state
            )
        except LicenceFormatError:
            skipped[0] += 1
            continue
        yield RegistryEntry(
            country=country,
            licence_index=licence_index(country=country, licence_number=number),
            name_index=name_index(
                first_name=row.get(NPPES_FIRST_NAME) or "",
                last_name=row.get(NPPES_LAST_NAME) or "",
            ),
            jurisdiction=state,
            source=source,
        )
