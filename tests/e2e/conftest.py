"""End-to-end fixtures: real daphne processes on the suite's database and channel layer."""

from __future__ import annotations

import pytest

from tests.support import fixtures
from tests.support.servers import ROUTING_ENV, start_daphne

# The shared fixtures this suite uses (bound here, pytest offers them to the suite).
close_thread_connections = fixtures.close_thread_connections
live_database_url = fixtures.live_database_url
daphne_server = fixtures.daphne_server


@pytest.fixture(scope="session")
def daphne_pair(live_database_url, tmp_path_factory):
    """Two daphne processes sharing the database and (with REDIS_URL) the channel layer."""
    servers = [start_daphne(live_database_url, tmp_path_factory) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def routing_pair(live_database_url, tmp_path_factory):
    servers = [start_daphne(live_database_url, tmp_path_factory, **ROUTING_ENV) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()
