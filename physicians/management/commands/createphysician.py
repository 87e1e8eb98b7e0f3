"""createphysician --email E --password-stdin --name N --specialty SLUG --country CC --license L
[--jurisdiction J] [--languages en,es] [--verified] [--role moderator|verifier|admin]"""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from physicians import services
from physicians.states import LicenceStatus


def split_name(name: str) -> tuple[str, str]:
    parts = name.strip().removeprefix("Dr. ").split()
    if len(parts) < 2:
        raise CommandError("--name needs a first and a last name")
    return " ".join(parts[:-1]), parts[-1]


class Command(BaseCommand):
    help = "Create a physician account (scriptable, for operators and tests)."
    # A password never travels on the command line (it would sit in the shell history and
    # in every process listing): standard input or the terminal prompt only.
    stealth_options = ("stdin",)

    def read_password(self, opts) -> str:
        stdin = opts.get("stdin") or sys.stdin
        if opts["password_stdin"]:
            password = stdin.readline().rstrip("\r\n")
        elif stdin.isatty():
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != password:
                raise CommandError("The two passwords differ.")
        else:
            raise CommandError("No terminal to ask for the password: pass --password-stdin "
                               "and write it to standard input.")
        if not password:
            raise CommandError("The password is empty.")
        return password

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--password-stdin", action="store_true",
            help="read the password from the first line of standard input (scripts); "
                 "without it the password is asked for twice at the terminal")
        parser.add_argument("--name", required=True, help="First and last name")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--specialty", required=True)
        parser.add_argument("--country", required=True)
        parser.add_argument("--license", "--licence", dest="licence", required=True)
        parser.add_argument("--jurisdiction", default="")
        parser.add_argument("--languages", default="en")
        parser.add_argument("--verified", action="store_true")
        parser.add_argument("--role", default="physician",
                            choices=["physician", "moderator", "verifier", "admin"])

    def handle(self, *args, **opts):
        first, last = split_name(opts["name"])
        data = services.Registration(
            email=opts["email"], password=self.read_password(opts), first_name=first,
            last_name=last,
            display_name=opts["display_name"], country=opts["country"],
            licence_number=opts["licence"], specialty=opts["specialty"],
            jurisdiction=opts["jurisdiction"],
            languages=tuple(x.strip() for x in opts["languages"].split(",") if x.strip()),
        )
        try:
            physician = services.physician_register(data=data, role=opts["role"])
            if opts["verified"] and physician.licence_status == LicenceStatus.PENDING:
                services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED,
                                        by=None, backend="cli", reason="createphysician --verified")
        except DomainError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {detail}".strip()) from None
        self.stdout.write(f"{physician.user_id} {physician.licence_status} {opts['role']}")
