"""The hub's delivery path heals itself (bus/hub.py), on a channel layer that fails on demand:
sends that fail are kept and go out in order once the layer works again, lost memberships
are noticed by the probe and restored, and the resync listeners run afterwards. The same
behaviour against real processes, Redis and PostgreSQL is in tests/e2e/test_faults.py."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from bus import hub as hub_module
from bus.hub import FRAME, RoomHub


class FlakyLayer(InMemoryChannelLayer):
    """The in-memory layer, with every send and subscription failing while ``down``."""

    down = False

    async def group_send(self, group, message):
        if self.down:
            raise ConnectionError("layer down")
        await super().group_send(group, message)

    async def group_add(self, group, channel):
        if self.down:
            raise ConnectionError("layer down")
        await super().group_add(group, channel)


class Socket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send(self, text_data=None, bytes_data=None, close=False) -> None:
        self.frames.append(text_data)

    async def control(self, message: dict) -> None:
        pass


@pytest.fixture
def layer(monkeypatch):
    layer = FlakyLayer()
    monkeypatch.setattr(hub_module, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(hub_module, "WATCH_S", 0.05)
    monkeypatch.setattr(hub_module, "PROBE_LATE_S", 0.2)
    return layer


def _frame(text: str) -> tuple[str, dict]:
    return "r.room", {"type": FRAME, "group": "r.room", "frame": text}


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def test_failed_sends_are_kept_and_delivered_in_order_once_the_layer_is_back(layer):
    hub, socket = RoomHub(), Socket()
    resynced = []
    hub.resync_listeners.append(lambda: resynced.append(True))
    await hub.join("r.room", socket)
    await hub.send([_frame("1")])
    await _until(lambda: socket.frames == ["1"])

    layer.down = True
    await hub.send([_frame("2")])  # never raises: kept for a retry
    await hub.send([_frame("3")])
    assert not hub.layer_ok() and not hub.delivery_ok()
    layer.down = False
    await _until(lambda: socket.frames == ["1", "2", "3"] and hub.delivery_ok())
    await _until(lambda: resynced == [True])
    await hub.send([_frame("4")])
    await _until(lambda: socket.frames == ["1", "2", "3", "4"])
    for task in hub._tasks:
        task.cancel()


async def test_lost_memberships_are_noticed_and_restored(layer):
    hub, socket = RoomHub(), Socket()
    await hub.join("r.room", socket)
    layer.groups.clear()  # what a Redis restarted empty does to channels-redis' groups
    await hub.send([_frame("lost")])  # reaches nobody, and no error says so
    await _until(lambda: "r.room" in layer.groups and hub.delivery_ok())
    await hub.send([_frame("after")])
    await _until(lambda: socket.frames == ["after"])
    for task in hub._tasks:
        task.cancel()


async def test_a_failed_room_subscription_is_retried_by_the_next_join(layer):
    hub, first, second = RoomHub(), Socket(), Socket()
    await hub._ensure()
    layer.down = True
    with pytest.raises(ConnectionError):
        await hub.join("r.room", first)
    assert hub.local_sockets("r.room") == 0  # the socket is left out, not half joined
    layer.down = False
    await hub.join("r.room", second)
    await hub.send([_frame("x")])
    await _until(lambda: second.frames == ["x"])
    for task in hub._tasks:
        task.cancel()
