"""/healthz and /readyz: what a load balancer sees when a dependency fails."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from bus.hub import hub
from gateway import health
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client, monkeypatch):
    monkeypatch.setattr(health, "_database_ok", lambda: pytest.fail("healthz read the database"))
    reply = client.get("/healthz")
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}
    assert "no-store" in reply["Cache-Control"]


def test_readyz_is_ready_when_every_dependency_answers(client, settings):
    reply = client.get("/readyz")
    assert reply.status_code == 200, reply.json()
    checks = reply.json()["checks"]
    assert checks["database"] is True and checks["delivery"] is True
    assert checks.get("redis", True) is True
    assert ("redis" in checks) == bool(settings.REDIS_URL)
    assert "no-store" in reply["Cache-Control"]


def test_readyz_names_an_unreachable_redis(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert reply.json() == {"status": "unavailable",
                            "checks": {"database": True, "redis": False, "delivery": True}}


def test_readyz_names_a_failing_database(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    reply = client.get("/readyz")
    assert reply.status_code == 503 and reply.json()["checks"]["database"] is False


def test_readyz_is_unavailable_while_the_hub_cannot_receive(client, monkeypatch):
    monkeypatch.setattr(hub, "receive_failing", True)
    reply = client.get("/readyz")
    assert reply.status_code == 503 and reply.json()["checks"]["delivery"] is False
