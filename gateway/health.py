"""``/healthz`` and ``/readyz`` for load balancers and orchestrators.

healthz: the process answers HTTP (liveness; never touches a dependency, so a database
outage does not get every process restarted). readyz: this process can serve — the database
answers, Redis answers (when configured), and the hub delivers: its receive and its sends
work and its probe comes back in time (bus/hub.py) — else
503 with the failing check named, so a proxy stops sending new sockets here until it
recovers (docs/operations.md, the runbook).
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from bus.hub import hub
from core import redis as redis_clients


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# The longest readyz waits for a pooled database connection: a probe must answer quickly
# even when the database does not (a request would wait the pool's whole timeout).
PROBE_TIMEOUT_S = 1.0


def _database_ok() -> bool:
    pool = getattr(connection, "pool", None)  # PostgreSQL with OPTIONS["pool"]
    if pool is not None:
        try:
            pool.open()  # as Django's first connection would (a no-op once open)
            with pool.connection(timeout=PROBE_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
        except Exception:  # psycopg's errors, PoolTimeout among them
            return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok()}
    if settings.REDIS_URL:
        checks["redis"] = redis_clients.ping(settings.REDIS_URL)
    checks["delivery"] = hub.delivery_ok()
    ready = all(checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
