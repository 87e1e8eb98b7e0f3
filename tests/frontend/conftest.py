"""The browser tests reuse the end-to-end fixtures (one real daphne for the session) and get
one Chromium thread per test module."""

import pytest

from tests.support import fixtures
from tests.support.browser import start_browser

close_thread_connections = fixtures.close_thread_connections
live_database_url = fixtures.live_database_url
daphne_server = fixtures.daphne_server


@pytest.fixture(scope="module")
def browser():
    thread = start_browser()
    yield thread
    thread.close()
