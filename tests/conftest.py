"""Suite-wide fixtures. The header says which database and channel layer the run used.

In CI (``CI=true``) the suite must run on the real PostgreSQL and Redis: a run that was
pointed at SQLite or the in-memory layer fails at start-up instead of passing quietly.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db['HOST']}:{db['PORT']}"
    return [
        f"curbside database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"curbside channel layer: {settings.CHANNEL_LAYER_NAME}"
        + (f" ({settings.REDIS_URL})" if settings.REDIS_URL else ""),
    ]


def pytest_sessionstart(session):
    if os.environ.get("CI") == "true":
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine or not settings.REDIS_URL:
            raise pytest.UsageError(
                "CI must run on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL "
                f"(got engine={engine}, REDIS_URL={settings.REDIS_URL!r})"
            )
