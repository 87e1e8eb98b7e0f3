"""The routing tests call the ORM from async code (through sync_to_async)."""

from tests.support import fixtures

close_thread_connections = fixtures.close_thread_connections
