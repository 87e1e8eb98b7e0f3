"""The search index of messages (docs/search.md): each message's distinct terms
(core.terms), stored as keyed blind tokens (crypto.search_terms) in ``MessageTerm``.

Callers write it inside the transaction that changes the message, so the index never
disagrees with what members see: stored → indexed, edited → replaced, deleted or hidden →
dropped, shown again → indexed again, author erased → dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from core.terms import distinct_terms
from crypto.search_terms import term_tokens
from rooms.models import Message, MessageTerm
from rooms.selectors import message_body


def message_terms_add(items: Iterable[tuple[object, str, datetime, str]]) -> int:
    """Index (message id, room id, sent at, body) tuples; returns the rows written. One
    INSERT."""
    ids, rooms, stamps, tokens = [], [], [], []
    for message_id, room_id, sent_at, body in items:
        for token in term_tokens(sorted(distinct_terms(body))):
            ids.append(message_id)
            rooms.append(room_id)
            stamps.append(sent_at)
            tokens.append(token)
    if not tokens:
        return 0
    if connection.vendor == "postgresql":
        # Arrays: one statement text whatever the batch (like rooms.messages._insert_messages).
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {MessageTerm._meta.db_table} (message_id, room_id, at, term) "
                "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::bytea[])",
                [ids, rooms, stamps, tokens])
    else:
        MessageTerm.objects.bulk_create(
            [MessageTerm(message_id=i, room_id=r, at=a, term=t)
             for i, r, a, t in zip(ids, rooms, stamps, tokens, strict=True)])
    return len(tokens)


def message_terms_drop(message_ids: Iterable[object]) -> int:
    """Forget the terms of these messages; returns the rows deleted."""
    n, _ = MessageTerm.objects.filter(message_id__in=list(message_ids)).delete()
    return n


def message_terms_replace(m: Message, body: str) -> None:
    """The message's terms, now those of ``body``."""
    message_terms_drop([m.pk])
    message_terms_add([(m.pk, m.room_id, m.sent_at, body)])


def message_reindex(m: Message) -> None:
    """Index a message again from its sealed body (shown again after a hide; backfill)."""
    message_terms_replace(m, message_body(m))
