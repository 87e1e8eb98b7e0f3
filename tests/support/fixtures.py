"""Fixtures shared by several suites. A suite's conftest imports the ones it needs (pytest
registers a fixture where its name is bound in a conftest)."""

from __future__ import annotations

import pytest

from tests.support.servers import Daphne, database_url_of, free_port, redis_overrides, server_env


@pytest.fixture(autouse=True)
async def close_thread_connections():
    """Tests call the ORM through sync_to_async, whose worker thread keeps its own database
    connection; close it so the test database can be flushed and dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture(scope="session")
def live_database_url(django_db_setup, django_db_blocker) -> str:
    """A DATABASE_URL for the test database, for the daphne processes a test starts."""
    from django.db import connection

    with django_db_blocker.unblock():
        return database_url_of(connection.settings_dict)


@pytest.fixture(scope="session")
def daphne_server(live_database_url, tmp_path_factory):
    """One daphne for the session (tests use transactional_db so it sees their rows)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    server = Daphne(
        port=port,
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=origin, **redis_overrides()),
        log_path=tmp_path_factory.mktemp("daphne") / "daphne.log",
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict]]:
    """Every channel-layer message the code under test hands to the outbox, (group, message),
    caught at bus.outbox's one send path instead of being sent."""
    from bus import outbox

    out: list[tuple[str, dict]] = []
    monkeypatch.setattr(outbox, "_send_on_commit", lambda group, msg: out.append((group, msg)))
    return out


@pytest.fixture(autouse=True)
def fresh_caches():
    """Room keys and author cards cached by an earlier test (whose rows are gone) are not
    reused. Autouse in every module that binds it (``fresh_caches = fixtures.fresh_caches``)."""
    from crypto import envelope
    from rooms import roster

    envelope.cache_clear()
    roster._cache.clear()
    yield
    envelope.cache_clear()
    roster._cache.clear()
