"""In-process consumer tests: the consumer runs on the test's event loop, so nothing it
starts in the background may outlive the test."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from bus import hub
from consult import driver
from tests.support import fixtures

close_thread_connections = fixtures.close_thread_connections


@pytest.fixture(autouse=True)
async def no_background_tasks(monkeypatch):
    """No routing driver (the first socket would start one on this loop, polling the test
    database), and the hub's pump tasks, started by the first handshake, stopped after the
    test; its channel leaves the users' group so no process keeps sending to it."""
    monkeypatch.setattr(driver, "driver_ensure", lambda tick_s: None)
    yield
    tasks, hub.hub._tasks = hub.hub._tasks, []
    for task in tasks:
        task.cancel()
    # Bounded: a channels-redis receive cancelled while a message for it is being read (a
    # room's ephemeral event, such as room.members after a first join) can wait on the layer's
    # internals for ever; the hub is never cancelled in a server, and the loop closes anyway.
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    if hub.hub._channel is not None and hub.hub._loop is asyncio.get_running_loop():
        await get_channel_layer().group_discard(hub.USERS_GROUP, hub.hub._channel)
    hub.hub._ready = None
