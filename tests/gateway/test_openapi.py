"""The OpenAPI document (gateway/openapi.py) names every endpoint under /api/v1/ and is served.
Whether live responses match it is tests/e2e/test_fuzz_http.py's job."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from gateway import openapi


def _routes(patterns, prefix: str = "") -> list[str]:
    out = []
    for p in patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            out += _routes(p.url_patterns, route)
        elif isinstance(p, URLPattern):
            out.append(route)
    return out


def _as_openapi(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_route_is_described():
    routes = {_as_openapi(r) for r in _routes(get_resolver().url_patterns)
              if r.startswith("api/v1/")}
    assert routes == set(openapi.document()["paths"])


def test_the_error_codes_are_the_stable_ones():
    from bus import protocol

    codes = openapi.document()["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
    assert protocol.ERROR_CODES <= set(codes)
    assert {"otp_required", "otp_invalid", "phi_detected"} <= set(codes)


@pytest.mark.django_db
def test_it_is_served_as_json_never_cached():
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
    assert "no-store" in response["Cache-Control"]
