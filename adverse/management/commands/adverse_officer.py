"""adverse_officer grant|revoke|list [--email E]: the pharmacovigilance role.

Officers see every pair's statistics, the weekly signals, alerts, charts and exports
(docs/adverse.md). The list prints user ids only: e-mail addresses are sealed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from adverse import services
from adverse.models import Officer
from crypto.personal import email_index
from physicians.models import User


class Command(BaseCommand):
    help = "Grant, revoke or list the pharmacovigilance role (adverse drug event signals)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=("grant", "revoke", "list"))
        parser.add_argument("--email", help="the account's e-mail address (grant, revoke)")

    def handle(self, *args, **opts) -> None:
        if opts["action"] == "list":
            for officer in Officer.objects.order_by("granted_at"):
                self.stdout.write(f"user:{officer.user_id} since {officer.granted_at.isoformat()}")
            return
        if not opts["email"]:
            raise CommandError("--email is required to grant or revoke")
        user = User.objects.filter(email_index=email_index(opts["email"])).first()
        if user is None:
            raise CommandError("No account has this e-mail address.")
        if opts["action"] == "grant":
            services.officer_grant(user=user)
            self.stdout.write(f"user:{user.pk} holds the pharmacovigilance role")
        else:
            had = services.officer_revoke(user=user)
            self.stdout.write(f"user:{user.pk} " + ("no longer holds the role" if had else
                                                    "did not hold the role"))
