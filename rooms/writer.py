"""Per-room batching of message.send within one process.

While one batch of a room is being stored (one transaction, one lock on the room row),
the sends that arrive for that room queue up and become the next batch: under load many
messages share one commit; at rest a batch is a single message and nothing waits. No timer
holds a message back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from channels.db import database_sync_to_async

from consult.errors import DomainError
from rooms import services

# Largest batch: bounds one transaction's size and the wait of the last message in it.
MAX_BATCH = 64


@dataclass
class _Room:
    queue: list[tuple[services.Draft, asyncio.Future]] = field(default_factory=list)
    task: asyncio.Task | None = None


_rooms: dict[str, _Room] = {}


async def post(room_id: str, draft: services.Draft) -> services.Posted:
    """Store ``draft`` (batched with others for the same room); returns its Posted.

    Raises:
        DomainError: the draft was refused (not a member, muted, bad reply_to, …).
    """
    room = _rooms.setdefault(room_id, _Room())
    future = asyncio.get_running_loop().create_future()
    room.queue.append((draft, future))
    if room.task is None or room.task.done():
        room.task = asyncio.ensure_future(_drain(room_id, room))
    result = await future
    if isinstance(result, DomainError):
        raise result
    return result


async def _drain(room_id: str, room: _Room) -> None:
    try:
        while room.queue:
            batch, room.queue = room.queue[:MAX_BATCH], room.queue[MAX_BATCH:]
            try:
                results = await database_sync_to_async(services.messages_post)(
                    room_id=room_id, drafts=[d for d, _ in batch])
            except Exception as exc:  # the whole batch failed: every sender hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
    finally:
        if not room.queue:
            _rooms.pop(room_id, None)
