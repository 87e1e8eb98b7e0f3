"""Search over the cases and messages the searcher may read now (docs/search.md).

The query is normalised like the indexed texts (core.terms), each term turned into its keyed
token (crypto.search_terms), and the token tables (``CaseTerm``, ``rooms.MessageTerm``) are
matched in SQL, limited in the same query to what the searcher may read:

- cases: ``selectors.cases_visible`` — the access rule of ``case_can_open`` (routine cases
  to their audience, urgent private ones to their members and moderators);
- messages: the rooms of those cases, and every lounge for a verified physician (or a
  moderator), except rooms the searcher is banned from; a deleted or hidden message has no
  terms (the writers drop them), and the page leaves out any such message again.

Ranking: the number of distinct query terms a document holds (any term matches: a longer
query ranks, it does not narrow), then recency. Pages by offset, bounded. Only the page's
documents are opened (decrypted) for their titles and snippets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from consult import selectors, services
from consult.models import CaseTerm
from core.errors import ValidationFailed
from core.terms import terms
from crypto.search_terms import term_tokens
from physicians.models import User
from rooms.models import CASE_ROOM_PREFIX, Membership, Message, MessageTerm, Room, RoomKind
from rooms.search_index import message_body

QUERY_MAX_CHARS = 200
QUERY_MAX_TERMS = 8
PAGE, PAGE_MAX = 20, 50
OFFSET_MAX = 500
KINDS = ("cases", "messages")
SNIPPET_WORDS = 24


@dataclass(frozen=True)
class Hit:
    kind: str  # "case" | "message"
    room: str
    case: str | None  # the case (of a case hit, or of a case room's message)
    seq: int | None  # the message's seq
    title: str  # the case's title (or its specialty's), or the lounge's name
    snippet: str
    at: datetime
    matched: int  # distinct query terms found in it


def query_terms(q: object) -> list[str]:
    """The distinct terms of a query, in order.

    Raises:
        ValidationFailed: not text, empty, longer than ``QUERY_MAX_CHARS``, more than
            ``QUERY_MAX_TERMS`` terms, or only stop words — ``details.reason`` is
            ``empty``, ``too_long``, ``too_many_terms`` or ``no_terms``.
    """
    def bad(reason: str, message: str) -> ValidationFailed:
        return ValidationFailed(message, fields={"q": message},
                                details={"field": "q", "reason": reason})

    if not isinstance(q, str) or not q.strip():
        raise bad("empty", "Type something to search for.")
    if len(q) > QUERY_MAX_CHARS:
        raise bad("too_long", f"At most {QUERY_MAX_CHARS} characters.")
    found = list(dict.fromkeys(terms(q)))
    if len(found) > QUERY_MAX_TERMS:
        raise bad("too_many_terms", f"At most {QUERY_MAX_TERMS} words.")
    if not found:
        raise bad("no_terms", "Only very common words: search for something more specific.")
    return found


def search(*, user: User, q: object, kind: str | None = None, limit: int = PAGE,
           offset: int = 0) -> tuple[list[Hit], int | None]:
    """A page of what ``user`` may read that matches ``q``, best first, and the offset of the
    next page (None at the end).

    Raises:
        ValidationFailed: a bad query (see ``query_terms``), kind, limit or offset.
    """
    words = query_terms(q)
    if kind is not None and kind not in KINDS:
        raise ValidationFailed("kind is cases or messages.", fields={"kind": "cases or messages."},
                               details={"field": "kind", "reason": "invalid"})
    if not (isinstance(limit, int) and 1 <= limit <= PAGE_MAX):
        raise ValidationFailed(f"limit is 1 to {PAGE_MAX}.", fields={"limit": f"1 to {PAGE_MAX}."},
                               details={"field": "limit", "reason": "invalid"})
    if not (isinstance(offset, int) and 0 <= offset <= OFFSET_MAX):
        raise ValidationFailed(f"offset is 0 to {OFFSET_MAX}.",
                               fields={"offset": f"0 to {OFFSET_MAX}."},
                               details={"field": "offset", "reason": "invalid"})
    tokens = term_tokens(words)
    want = offset + limit + 1
    physician = selectors.physician_verified(user)
    visible = selectors.cases_visible(user, physician)
    ranked: list[tuple[int, datetime, str, object]] = []
    if kind in (None, "cases"):
        ranked += [(r["hits"], r["at"], "case", r["case_id"])
                   for r in _case_matches(visible, tokens, want)]
    if kind in (None, "messages"):
        rooms = readable_rooms(user, visible, verified=physician is not None)
        ranked += [(r["hits"], r["at"], "message", r["message_id"])
                   for r in _message_matches(rooms, tokens, want)]
    ranked.sort(key=lambda r: (r[0], r[1], str(r[3])), reverse=True)
    page = ranked[offset:offset + limit]
    more = len(ranked) > offset + limit and offset + limit <= OFFSET_MAX
    return _hits(page, set(words)), (offset + limit if more else None)


def _case_matches(visible: QuerySet, tokens: list[bytes], want: int) -> list[dict]:
    return list(CaseTerm.objects.filter(term__in=tokens, case_id__in=visible.values("pk"))
                .values("case_id").annotate(hits=Count("id"), at=Max("case__posted_at"))
                .order_by("-hits", "-at", "-case_id")[:want])


def readable_rooms(user: User, visible: QuerySet, *, verified: bool) -> Q:
    """Which rooms' messages ``user`` may read now, as a filter on ``room_id``: the rooms of
    the cases they may open (``visible``), every lounge if they are verified (or a
    moderator), else the rooms they are a member of; never a room they are banned from."""
    rooms = Q(room_id__in=visible.values("room_id"))
    if user.is_moderator or verified:
        rooms |= Q(room_id__in=Room.objects.filter(kind=RoomKind.LOUNGE).values("id"))
    else:
        rooms |= Q(room_id__in=Membership.objects.filter(user=user, active=True)
                   .values("room_id"))
    banned = Membership.objects.filter(user=user, banned=True).values("room_id")
    return rooms & ~Q(room_id__in=banned)


def _message_matches(rooms: Q, tokens: list[bytes], want: int) -> list[dict]:
    # Deleted and hidden messages have no terms (their writers drop them): no join needed
    # here; ``_hits`` still leaves out any such message of the page.
    return list(MessageTerm.objects.filter(rooms, term__in=tokens)
                .values("message_id").annotate(hits=Count("id"), at=Max("at"))
                .order_by("-hits", "-at", "-message_id")[:want])


def snippet(text: str, words: set[str]) -> str:
    """About ``SNIPPET_WORDS`` words of ``text`` around the first one that matches."""
    parts = text.split()
    first = next((i for i, w in enumerate(parts) if words & set(terms(w))), 0)
    start = max(0, first - SNIPPET_WORDS // 3)
    cut = parts[start:start + SNIPPET_WORDS]
    return ("… " if start else "") + " ".join(cut) + (" …" if start + SNIPPET_WORDS < len(parts)
                                                       else "")


def _hits(page: list[tuple[int, datetime, str, object]], words: set[str]) -> list[Hit]:
    case_ids = [ref for _, _, k, ref in page if k == "case"]
    message_ids = [ref for _, _, k, ref in page if k == "message"]
    messages = {m.pk: m for m in Message.objects.filter(pk__in=message_ids, deleted_at__isnull=True,
                                                         hidden_at__isnull=True)}
    rooms = {m.room_id for m in messages.values()}
    by_room = selectors.cases_by_room(room_ids=[r for r in rooms if r.startswith(CASE_ROOM_PREFIX)])
    cases = {c.pk: c for c in by_room.values()}
    cases.update({c.pk: c for c in selectors.cases_of(case_ids)})
    lounges = dict(Room.objects.filter(pk__in=rooms, kind=RoomKind.LOUNGE).values_list("id", "title"))
    out = []
    for matched, at, kind, ref in page:
        if kind == "case":
            case = cases.get(ref)
            if case is None:
                continue
            texts = services.case_search_texts(case)
            body = next((t for t in texts if words & set(terms(t))), texts[0])
            out.append(Hit(kind="case", room=case.room_id, case=str(case.pk), seq=None,
                           title=_case_title(case), snippet=snippet(body, words), at=at,
                           matched=matched))
        elif ref in messages:
            m = messages[ref]
            case = by_room.get(m.room_id)
            out.append(Hit(kind="message", room=m.room_id, case=str(case.pk) if case else None,
                           seq=m.seq, title=_case_title(case) if case else lounges.get(
                               m.room_id, m.room_id),
                           snippet=snippet(message_body(m), words), at=at, matched=matched))
    return out


def _case_title(case) -> str:
    return services.case_texts(case)["title"] or case.specialty.name_en
