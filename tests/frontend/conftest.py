"""The browser tests reuse the end-to-end fixtures: one real daphne for the session."""

from tests.e2e.conftest import _close_thread_connections, daphne_server, live_database_url  # noqa: F401
