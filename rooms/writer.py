"""Group commit of message.send within one process.

While one batch is being stored (one transaction), the sends that arrive — for any room —
queue up and become the next batch: under load many messages, of one room or of hundreds,
share one thread hop, a handful of statements and one commit (``services.messages_post_rooms``);
at rest a batch is a single message and nothing waits. No timer holds a message back.

Order: a room's messages keep their arrival order inside a batch, and batches are stored one
after the other, so seqs follow arrival within this process.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async

from core.errors import DomainError
from rooms import services

# Largest batch: bounds one transaction's size and the wait of the last message in it.
MAX_BATCH = 256

_queue: list[tuple[str, services.Draft, asyncio.Future]] = []
_task: asyncio.Task | None = None


async def post(room_id: str, draft: services.Draft) -> services.Posted:
    """Store ``draft`` (group-committed with the other sends of this process); returns its
    Posted.

    Raises:
        DomainError: the draft was refused (not a member, muted, bad reply_to, …).
    """
    global _task
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    if _task is not None and _task.get_loop() is not loop:
        _task, _queue[:] = None, []  # a new event loop (tests run several): start afresh
    _queue.append((room_id, draft, future))
    if _task is None or _task.done():
        _task = loop.create_task(_drain())
    result = await future
    if isinstance(result, DomainError):
        raise result
    return result


async def _drain() -> None:
    while _queue:
        batch = _queue[:MAX_BATCH]
        del _queue[:MAX_BATCH]
        by_room: dict[str, list[tuple[services.Draft, asyncio.Future]]] = {}
        for room_id, draft, future in batch:
            by_room.setdefault(room_id, []).append((draft, future))
        groups = [by_room]
        while groups:
            group = groups.pop()
            try:
                results = await database_sync_to_async(services.messages_post_rooms)(
                    batches={room: [d for d, _ in items] for room, items in group.items()})
            except Exception as exc:
                if len(group) > 1:  # one room's trouble must not fail the others: one by one
                    groups.extend({room: items} for room, items in group.items())
                    continue
                for items in group.values():  # the room's batch failed: its senders hear it
                    for _, future in items:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for room, items in group.items():
                for (_, future), result in zip(items, results[room], strict=True):
                    if not future.done():
                        future.set_result(result)
