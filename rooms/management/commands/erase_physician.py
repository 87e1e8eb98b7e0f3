"""erase_physician --user UUID [--keep-escrow]: crypto-shred one physician (docs/security.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import NotFound
from rooms import erasure as services


class Command(BaseCommand):
    help = "Erase a physician by destroying their personal-data and author keys."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the physician's user id")
        parser.add_argument("--keep-escrow", action="store_true",
                            help="keep escrow records (legal hold)")

    def handle(self, *args, **opts):
        try:
            rooms = services.physician_erase(user_id=opts["user"],
                                             keep_escrow=opts["keep_escrow"])
        except NotFound as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"erased {opts['user']}: keys destroyed in {rooms} room(s)")
