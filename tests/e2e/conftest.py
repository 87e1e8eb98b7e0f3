"""End-to-end fixtures: real daphne processes on the suite's database and channel layer."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.support.servers import Daphne, database_url_of, free_port, server_env


def _redis_overrides() -> dict[str, str]:
    if not settings.REDIS_URL:
        return {}
    return {"CURBSIDE_REDIS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]}


@pytest.fixture(scope="session")
def live_database_url(django_db_setup, django_db_blocker) -> str:
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
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=origin, **_redis_overrides()),
        log_path=tmp_path_factory.mktemp("daphne") / "daphne.log",
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def daphne_pair(live_database_url, tmp_path_factory):
    """Two daphne processes sharing the database and (with REDIS_URL) the channel layer."""
    servers = []
    for _ in range(2):
        port = free_port()
        servers.append(Daphne(
            port=port,
            env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
                           **_redis_overrides()),
            log_path=tmp_path_factory.mktemp("daphne") / f"daphne-{port}.log",
        ).start())
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    """Tests call the ORM through sync_to_async, whose worker thread keeps its own database
    connection; close it so the test database can be flushed and dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


# Routing tests run their own pair: a 1 s heartbeat (so a dead process's sockets vanish in
# 3 s), a fast driver, and room for ten simultaneous offers per case.
ROUTING_ENV = {
    "CURBSIDE_HEARTBEAT_S": "1",
    "CURBSIDE_DRIVER_TICK_S": "0.2",
    "CURBSIDE_ROUTING_K": "10",
    "CURBSIDE_MAX_OPEN_CONSULTS": "2",
    # One poster posts fifty urgent cases in a row (the accept race): lift the hourly cap.
    "CURBSIDE_URGENT_CASES_PER_HOUR": "1000",
    "CURBSIDE_CASES_PER_HOUR": "1000",
}


def start_daphne(live_database_url: str, tmp_path_factory, **env: str) -> Daphne:
    port = free_port()
    return Daphne(
        port=port,
        env=server_env(live_database_url, CURBSIDE_WS_ORIGINS=f"http://127.0.0.1:{port}",
                       **_redis_overrides(), **env),
        log_path=tmp_path_factory.mktemp("daphne") / f"daphne-{port}.log",
    ).start()


@pytest.fixture(scope="session")
def routing_pair(live_database_url, tmp_path_factory):
    servers = [start_daphne(live_database_url, tmp_path_factory, **ROUTING_ENV) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()
