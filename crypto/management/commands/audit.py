"""manage.py audit verify [--head HASH] — check the audit chain; non-zero exit on problems."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from crypto.audit import audit_head, audit_verify
from crypto.models import AuditEntry


class Command(BaseCommand):
    help = "Verify the hash-chained, signed audit log."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="report edited, deleted, reordered entries")
        verify.add_argument("--head", help="a head hash anchored earlier (detects truncation)")

    def handle(self, *args, action: str, head: str | None = None, **options):
        problems = audit_verify(expected_head=head)
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"audit log: {len(problems)} problem(s)")
        self.stdout.write(f"audit log intact: {AuditEntry.objects.count()} entries")
        self.stdout.write(f"head {audit_head()} (anchor it elsewhere; pass it back with --head)")
