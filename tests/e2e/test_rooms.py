"""Rooms over real sockets on two daphne processes sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from tests.support.clients import connect, recv_json, request
from tests.support.sockets import next_event, open_socket, send_message

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # Two processes share events only through Redis; CI always sets REDIS_URL (conftest).
    pytest.mark.skipif(not settings.REDIS_URL, reason="two processes need the Redis layer"),
]

LOUNGE = "lounge-cardiology"


async def test_two_processes_see_the_same_messages_in_the_same_order(daphne_pair, make_physician):
    a = await open_socket(daphne_pair[0], make_physician)
    b = await open_socket(daphne_pair[1], make_physician)
    for ws in (a, b):
        reply = await request(ws, "room.join", room=LOUNGE)
        assert reply["ok"], reply
    sent = []
    for i in range(5):
        for ws in (a, b):
            reply = await send_message(ws, LOUNGE, f"msg {i} from {id(ws)}")
            assert reply["ok"], reply
            sent.append((reply["data"]["seq"], f"msg {i} from {id(ws)}"))
    expected = sorted(sent)
    for ws in (a, b):
        got = [(e["seq"], e["data"]["body"]) for e in
               [await next_event(ws, "message.new") for _ in range(10)]]
        assert got == expected
    assert [s for s, _ in expected] == list(range(expected[0][0], expected[0][0] + 10))
    await a.close()
    await b.close()


async def test_twenty_concurrent_senders_on_two_processes_get_gapless_seqs(daphne_pair,
                                                                           make_physician):
    senders = [await open_socket(daphne_pair[i % 2], make_physician) for i in range(20)]
    for ws in senders:
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    per_sender = 5

    async def burst(ws):
        seqs = []
        for i in range(per_sender):
            reply = await send_message(ws, LOUNGE, f"burst {i}")
            assert reply["ok"], reply
            seqs.append(reply["data"]["seq"])
        return seqs

    results = await asyncio.gather(*(burst(ws) for ws in senders))
    all_seqs = sorted(s for seqs in results for s in seqs)
    assert all_seqs == list(range(1, 20 * per_sender + 1))
    for seqs in results:  # each sender's own messages are ordered as sent
        assert seqs == sorted(seqs)

    def stored():
        from rooms.models import Message, Room
        return (list(Message.objects.filter(room_id=LOUNGE).order_by("seq")
                     .values_list("seq", flat=True)),
                Room.objects.get(pk=LOUNGE).last_seq)

    rows, last = await sync_to_async(stored)()
    assert rows == all_seqs and last == 20 * per_sender
    for ws in senders:
        await ws.close()


async def test_resume_with_since_returns_exactly_the_missed_messages(daphne_pair,
                                                                     make_physician):
    a = await open_socket(daphne_pair[0], make_physician)
    b = await open_socket(daphne_pair[1], make_physician)
    join = await request(b, "room.join", room=LOUNGE)
    assert (await request(a, "room.join", room=LOUNGE))["ok"]
    seen = join["data"]["room"]["last_seq"]
    first = await send_message(a, LOUNGE, "before the drop")
    assert (await next_event(b, "message.new"))["seq"] == first["data"]["seq"]
    seen = first["data"]["seq"]
    await b.close()  # b drops off …
    missed = [(await send_message(a, LOUNGE, f"missed {i}"))["data"]["seq"] for i in range(7)]
    # … and comes back on the other process, re-joining with the last seq it saw.
    b2_http = b.http
    b2 = await connect(daphne_pair[0].ws, await sync_to_async(b2_http.ticket)())
    await recv_json(b2)
    reply = await request(b2, "room.join", room=LOUNGE, since=seen)
    got = [m["seq"] for m in reply["data"]["messages"]]
    assert got == missed and reply["data"]["more"] is False
    assert [m["body"] for m in reply["data"]["messages"]] == [f"missed {i}" for i in range(7)]
    # Paging: a client far behind gets a page with more=true, then the rest.
    page = await request(b2, "room.join", room=LOUNGE, since=0)
    assert page["data"]["messages"][0]["seq"] == 1
    await a.close()
    await b2.close()


async def test_resume_pages_when_the_gap_is_larger_than_a_page(daphne_server, make_physician):
    from rooms.selectors import PAGE

    a = await open_socket(daphne_server, make_physician)
    assert (await request(a, "room.join", room=LOUNGE))["ok"]

    def fill():
        from physicians.models import User
        from rooms import messages, roster
        user = User.objects.get(pk=a.physician.user_id)
        author = roster.author_for(user_id=str(user.pk), room_id=LOUNGE, role=user.role,
                                   specialty="cardiology", verified=True)
        for i in range(PAGE + 5):
            messages.message_post(room_id=LOUNGE, user=user, author=author, body=f"m{i}",
                                  client_id=f"fill-{i}")

    await sync_to_async(fill)()
    reply = await request(a, "room.join", room=LOUNGE, since=0)
    first = [m["seq"] for m in reply["data"]["messages"]]
    assert first == list(range(1, PAGE + 1)) and reply["data"]["more"] is True
    reply = await request(a, "room.join", room=LOUNGE, since=first[-1])
    assert [m["seq"] for m in reply["data"]["messages"]] == list(range(PAGE + 1, PAGE + 6))
    assert reply["data"]["more"] is False
    history = await request(a, "room.history", room=LOUNGE, before=PAGE + 6, limit=10)
    assert [m["seq"] for m in history["data"]["messages"]] == list(range(PAGE - 4, PAGE + 6))
    assert history["data"]["more"] is True
    await a.close()


async def test_a_retried_send_is_stored_once_with_the_same_seq(daphne_pair, make_physician):
    a = await open_socket(daphne_pair[0], make_physician)
    b = await open_socket(daphne_pair[1], make_physician)
    for ws in (a, b):
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    first = await send_message(a, LOUNGE, "only once", client_id="retry-1")
    again = await send_message(a, LOUNGE, "only once", client_id="retry-1")
    assert first["data"] == again["data"]
    # Concurrent duplicates from two sockets of the same physician, on both processes.
    a2 = await connect(daphne_pair[1].ws, await sync_to_async(a.http.ticket)())
    await recv_json(a2)
    assert (await request(a2, "room.join", room=LOUNGE))["ok"]
    r1, r2 = await asyncio.gather(send_message(a, LOUNGE, "race", client_id="retry-2"),
                                  send_message(a2, LOUNGE, "race", client_id="retry-2"))
    assert r1["data"]["seq"] == r2["data"]["seq"]

    def count():
        from rooms.models import Message
        return Message.objects.filter(room_id=LOUNGE).count()

    assert await sync_to_async(count)() == 2
    assert (await next_event(b, "message.new"))["data"]["body"] == "only once"
    assert (await next_event(b, "message.new"))["data"]["body"] == "race"
    for ws in (a, a2, b):
        await ws.close()


async def test_bad_input_gets_errors_and_other_members_notice_nothing(daphne_pair,
                                                                      make_physician):
    a = await open_socket(daphne_pair[0], make_physician)
    b = await open_socket(daphne_pair[1], make_physician)
    for ws in (a, b):
        assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    limit = settings.CURBSIDE_LIMITS["message_chars"]
    cases = [
        (dict(room=LOUNGE, body="x" * (limit + 1)), "too_large"),
        (dict(room="lounge-no-such-thing", body="hi"), "forbidden"),  # not joined
        (dict(room=LOUNGE, body="hi", reply_to=999), "not_found"),
        (dict(room=LOUNGE, body=12), "bad_request"),
        (dict(room=LOUNGE, body="hi", mentions=["nobody-here"]), "bad_request"),
        (dict(room=LOUNGE, body="   "), "bad_request"),
    ]
    for args, code in cases:
        reply = await request(a, "message.send", client_id=uuid.uuid4().hex, **args)
        assert reply["ok"] is False and reply["error"]["code"] == code, (args, reply)
    unknown = await request(a, "room.join", room="lounge-no-such-thing")
    assert unknown["error"]["code"] == "not_found"
    # A flood: the bucket runs dry and says when to retry; nothing is stored past it.
    codes = []
    for i in range(40):
        reply = await send_message(a, LOUNGE, f"flood {i}")
        codes.append(reply["error"]["code"] if not reply["ok"] else "ok")
        if not reply["ok"]:
            assert reply["error"]["details"]["retry_after_s"] > 0
    assert "rate_limited" in codes
    stored = codes.count("ok")
    got = [await next_event(b, "message.new") for _ in range(stored)]
    assert [e["data"]["body"] for e in got] == [f"flood {i}" for i, c in enumerate(codes) if c == "ok"]
    assert [e["seq"] for e in got] == list(range(1, stored + 1))  # no gap from the failures
    # b saw nothing but those messages, and still works.
    assert (await request(b, "ping"))["ok"]
    assert not [e for e in b.events if e.get("type") == "message.new"]
    await a.close()
    await b.close()


async def test_case_rooms_are_for_members_and_mutes_say_until_when(daphne_server,
                                                                   make_physician):
    member = await open_socket(daphne_server, make_physician)
    outsider = await open_socket(daphne_server, make_physician)

    def make_room():
        from datetime import timedelta

        from django.utils import timezone

        from physicians.models import User
        from rooms import services
        from rooms.models import Membership
        room = services.case_room_create(title="Case", specialty_id=None,
                                         members=[User.objects.get(pk=member.physician.user_id)])
        until = timezone.now() + timedelta(minutes=30)
        Membership.objects.filter(room=room).update(muted_until=until)
        return room.id, until

    room_id, until = await sync_to_async(make_room)()
    assert (await request(outsider, "room.join", room=room_id))["error"]["code"] == "not_found"
    assert (await request(outsider, "room.history", room=room_id))["error"]["code"] == "forbidden"
    assert (await send_message(outsider, room_id, "let me in"))["error"]["code"] == "forbidden"
    assert (await request(member, "room.join", room=room_id))["ok"]
    muted = await send_message(member, room_id, "hello?")
    assert muted["error"]["code"] == "forbidden"
    assert muted["error"]["details"]["muted_until"] == until.isoformat()
    await member.close()
    await outsider.close()


async def test_edit_delete_typing_mention_and_read_events(daphne_pair, make_physician):
    a = await open_socket(daphne_pair[0], make_physician)
    b = await open_socket(daphne_pair[1], make_physician)
    join_a = await request(a, "room.join", room=LOUNGE)
    join_b = await request(b, "room.join", room=LOUNGE)
    me_b = join_b["data"]["me"]
    assert join_b["data"]["room"]["online"] >= 2  # a and b are both online cardiologists
    assert join_a["data"]["me"]["pseudonym"] != me_b["pseudonym"]
    assert me_b["name"].startswith("Dr. ") and me_b["verified"] is True
    sent = await send_message(a, LOUNGE, "hello @b", mentions=[me_b["pseudonym"]])
    seq = sent["data"]["seq"]
    new = await next_event(b, "message.new")
    assert new["data"]["author"]["pseudonym"] == join_a["data"]["me"]["pseudonym"]
    mention = await next_event(b, "mention")
    assert mention["data"]["seq"] == seq and mention["data"]["room"] == LOUNGE
    assert (await request(a, "message.edit", room=LOUNGE, seq=seq, body="hello, edited"))["ok"]
    edited = await next_event(b, "message.edited")
    assert edited["data"]["body"] == "hello, edited" and edited["seq"] == seq
    not_mine = await request(b, "message.edit", room=LOUNGE, seq=seq, body="hijack")
    assert not_mine["error"]["code"] == "forbidden"
    assert (await request(a, "typing", room=LOUNGE))["ok"]
    typing = await next_event(b, "typing")
    assert typing["data"]["author"]["pseudonym"] == join_a["data"]["me"]["pseudonym"]
    assert (await request(a, "message.delete", room=LOUNGE, seq=seq))["ok"]
    assert (await next_event(b, "message.deleted"))["seq"] == seq
    history = await request(b, "room.history", room=LOUNGE)
    shown = history["data"]["messages"][-1]
    assert shown["deleted"] is True and shown["body"] == "" and shown["edited"] is True
    read = await request(b, "read", room=LOUNGE, seq=seq)
    assert read["data"]["last_read_seq"] == seq
    rejoin = await request(b, "room.join", room=LOUNGE)
    assert rejoin["data"]["room"]["last_read_seq"] == seq
    await a.close()
    await b.close()
