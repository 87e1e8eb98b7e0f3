"""Socket handler of search (consult/search.py, docs/search.md)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from bus import protocol
from consult import search


def _page(user, request: protocol.Search) -> protocol.SearchPage:
    hits, nxt = search.search(user=user, q=request.q, kind=request.kind, limit=request.limit,
                              offset=request.offset)
    return protocol.SearchPage(hits=[protocol.SearchHit(
        kind=h.kind, room=h.room, case=h.case, seq=h.seq, title=h.title, snippet=h.snippet,
        at=h.at.isoformat(), matched=h.matched) for h in hits], next=nxt)


async def search_op(conn, request: protocol.Search) -> protocol.SearchPage:
    return await database_sync_to_async(_page)(conn.user, request)
