"""``GET /metrics``: the operators' Prometheus metrics (defined in core/metrics.py).

Off unless ``CURBSIDE_METRICS_TOKEN`` is set (404, as for any unknown path); then only a
request with ``Authorization: Bearer <token>`` gets them (401 otherwise; compared in
constant time). With ``PROMETHEUS_MULTIPROC_DIR`` the answer sums every process of the host
that shares the directory (prometheus-client's multiprocess collector), so a scrape through
the load balancer is right whichever process answers; without it, this process alone.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from core import metrics
from core.http import error, not_found


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.CURBSIDE_METRICS_TOKEN
    if not token:
        return not_found(request)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = error(401, "unauthorized", "Send Authorization: Bearer <CURBSIDE_METRICS_TOKEN>.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if metrics.MULTIPROC_DIR:
        metrics.drop_dead_processes()  # a process killed -9 no longer counts its sockets
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics.MULTIPROC_DIR)
    else:
        registry = REGISTRY
    # The format the scraper asks for (Accept): OpenMetrics, else the classic text format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
