"""The JSON API's edges: unknown paths, caching, hostile bodies, bugs, big uploads."""

from __future__ import annotations

import tempfile

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from physicians import views as physician_views

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_api_path_answers_json_404(client, method):
    reply = getattr(client, method)("/api/v1/no/such/thing")
    assert reply.status_code == 404
    assert reply["Content-Type"] == "application/json"
    assert reply.json()["error"]["code"] == "not_found"


def test_api_answers_are_never_cached(client, make_physician):
    assert "no-store" in client.get("/api/v1/me")["Cache-Control"]  # 401 too
    _, email, password = make_physician()
    c = Client()
    assert c.post("/api/v1/auth/login", {"email": email, "password": password},
                  content_type="application/json").status_code == 200
    me = c.get("/api/v1/me")
    assert me.status_code == 200 and "no-store" in me["Cache-Control"]


def test_deeply_nested_json_is_a_bad_frame_not_a_crash(client):
    body = "[" * 20_000 + "]" * 20_000  # under the body limit, past any recursion limit
    reply = client.post("/api/v1/auth/login", body, content_type="application/json")
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "bad_frame"


def test_a_bug_in_a_view_answers_json_500(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(physician_views.services, "login_check", broken)
    reply = client.post("/api/v1/auth/login", {"email": "x@example.test", "password": "pw"},
                        content_type="application/json")
    assert reply.status_code == 500
    assert reply["Content-Type"] == "application/json"
    assert reply.json()["error"]["code"] == "internal"


async def test_an_accepted_upload_body_never_spills_to_disk(monkeypatch, settings):
    """Django's ASGI handler spools a request body over FILE_UPLOAD_MAX_MEMORY_SIZE to a
    temporary file: an attachment would sit on disk in clear before it is sealed."""
    rolled = []
    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover",
                        lambda self: rolled.append(self))
    size = settings.CURBSIDE_LIMITS["attachment_bytes"]
    chunk = 1024 * 1024
    messages = [{"type": "http.request", "body": b"x" * min(chunk, size - i),
                 "more_body": i + chunk < size} for i in range(0, size, chunk)]

    async def receive():
        return messages.pop(0)

    body = await ASGIHandler().read_body(receive)
    assert len(body.read()) == size
    assert rolled == []
