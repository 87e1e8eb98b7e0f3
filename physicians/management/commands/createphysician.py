"""createphysician --email E --password P --name N --specialty SLUG --country CC --license L
[--jurisdiction J] [--languages en,es] [--verified] [--role moderator|verifier|admin]"""

from __future__ import annotations

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

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
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
            email=opts["email"], password=opts["password"], first_name=first, last_name=last,
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
