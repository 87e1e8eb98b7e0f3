"""``manage.py import_registry --file npidata.csv --country US --source nppes-2026-11``.

Replaces the earlier rows of the same source in one transaction and prints how many
registry entries were imported (physicians.verification.registry_import does the work).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from physicians.licences import LicenceFormatError
from physicians.verification import registry_import


class Command(BaseCommand):
    help = "Import a public licence registry file (NPPES NPI layout) for licence verification."

    def add_arguments(self, parser):
        parser.add_argument("--file", required=True, help="path to the CSV file")
        parser.add_argument("--country", required=True, help="ISO country code, e.g. US")
        parser.add_argument(
            "--source",
            required=True,
            help="name of this import (e.g. nppes-2026-11); replaces earlier rows of the same name",
        )

    def handle(self, *args, file: str, country: str, source: str, **options):
        try:
            count = registry_import(path=file, country=country, source=source)
        except LicenceFormatError as exc:
            raise CommandError(exc.message) from exc
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{count} registry entries imported (source {source})")
