"""Shared setup of the reason-privacy tests (moderation reasons, licence-decision reasons):
a canary to plant, a logged-in staff client, and the checks that the canary is nowhere in
the database in the clear and nowhere in the audit log."""

from __future__ import annotations

import json
import secrets

from django.db import connection
from django.test import Client

from crypto.audit import audit_verify
from crypto.models import AuditEntry


def canary() -> str:
    """A name nobody else uses; ``Mr <canary>`` is a titled name for the PHI guard."""
    return "Zebedee" + secrets.token_hex(5)


def staff_client(user) -> Client:
    """A Django test client logged in as ``user`` (a moderator, a verifier)."""
    client = Client()
    client.force_login(user)
    return client


def database_text() -> str:
    """Every row of every table as text (what a pg_dump shows; bytea comes out as hex)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [t for (t,) in cursor.fetchall()]
        out = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            out += [row for (row,) in cursor.fetchall()]
    return "\n".join(out)


def assert_not_stored_in_clear(secret: str) -> None:
    dump = database_text()
    assert secret not in dump
    assert secret.encode().hex() not in dump  # not as the raw bytes of a bytea either
    assert secret.lower() not in dump.lower()


def assert_not_audited(secret: str) -> None:
    """Not in any audit entry, and the hash chain still verifies."""
    for entry in AuditEntry.objects.all():
        text = json.dumps([entry.actor, entry.action, entry.subject, entry.details])
        assert secret not in text, (entry.action, entry.details)
    assert audit_verify() == []
