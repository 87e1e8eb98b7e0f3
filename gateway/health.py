"""``/healthz`` and ``/readyz`` for load balancers and orchestrators.

healthz: the process answers HTTP (liveness; never touches a dependency, so a database
outage does not get every process restarted). readyz: this process can serve — the database
answers, Redis answers (when configured), and the hub's receive loop is not failing — else
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


def _database_ok() -> bool:
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
    checks["delivery"] = not hub.receive_failing
    ready = all(checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status=200 if ready else 503)
