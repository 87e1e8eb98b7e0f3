"""otp_enrol EMAIL [--replace]: enrol a TOTP authenticator for an account (staff must have one).

Prints the ``otpauth://`` URI (and the secret) once, for the staff member's authenticator
app; nothing stores it in clear except django-otp's device row. Their first login with a
code from it confirms the device. ``--replace`` removes a confirmed device first (a lost
phone) and ends the sessions it verified."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from crypto.personal import email_index, normalize_email
from physicians import twofactor
from physicians.models import User


class Command(BaseCommand):
    help = "Enrol a TOTP authenticator for an account; prints its otpauth:// URI once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--replace", action="store_true",
                            help="remove a confirmed authenticator first (a lost phone)")

    def handle(self, *args, **opts) -> None:
        email = normalize_email(opts["email"])
        user = User.objects.filter(email_index=email_index(email)).first()
        if user is None:
            raise CommandError("No account with this e-mail.")
        try:
            uri = twofactor.enrol_by_administrator(user=user, label=email,
                                                   replace=opts["replace"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        secret = uri.split("secret=", 1)[1].split("&", 1)[0]
        self.stdout.write(
            f"Authenticator for {user} (role {user.role}). Hand this to its owner only; it is "
            "not shown again:\n"
            f"  {uri}\n  secret: {secret}\n"
            "The first sign-in with a code from it confirms it.")
