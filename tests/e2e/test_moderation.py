"""Moderation over real sockets and HTTP on a daphne process (gateway/ops_moderation.py).

Every event a socket receives here is checked against its schema in bus.protocol, every
moderator action must leave a verifiable audit entry, and nothing the moderator receives
may name the member behind a pseudonym.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bus import protocol
from tests.support.clients import connect, request
from tests.support.sockets import next_event, open_socket, send_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-cardiology"
OTHER_LOUNGE = "lounge-neurology"


def _secrets(physician) -> list[str]:
    """What a moderator must never be sent about ``physician``."""
    from physicians.selectors import physician_profile

    p = physician_profile(physician=physician)
    return [str(physician.user_id), physician.user_id.hex, p.email, p.display_name,
            p.first_name, p.last_name]


async def _assert_blind(frames: list, physician) -> None:
    text = json.dumps(frames)
    for secret in await sync_to_async(_secrets)(physician):
        assert secret not in text, secret


def _validate_all(ws) -> None:
    """Every event frame queued on ``ws`` matches its schema."""
    for frame in ws.events:
        if frame.get("op") == "event":
            protocol.validate_event(json.dumps(frame))


async def _joined(ws, room: str) -> dict:
    reply = await request(ws, "room.join", room=room)
    assert reply["ok"], reply
    return reply["data"]


async def _closed_code(ws) -> int:
    """Read until the server closes the socket (the deadline is per frame, not a sleep)."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            ws.events.append(frame)
    return info.value.rcvd.code


def _audit(actions: tuple[str, ...]) -> tuple[list[tuple[str, str, str]], list[str]]:
    from crypto.audit import audit_verify
    from crypto.models import AuditEntry

    rows = list(AuditEntry.objects.filter(action__in=actions).order_by("seq")
                .values_list("action", "actor", "subject"))
    return rows, audit_verify()


async def test_moderator_joins_a_case_room_and_hides_a_message(daphne_server, make_physician):
    member = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")

    def case_room():
        from physicians.models import User
        from rooms import services
        return services.case_room_create(title="Case", specialty_id=None, members=[
            User.objects.get(pk=member.physician.user_id)]).id

    room = await sync_to_async(case_room)()
    me = (await _joined(member, room))["me"]
    sent = await send_message(member, room, "an unkind remark")
    seq = sent["data"]["seq"]
    mod_join = await _joined(mod, room)  # not a member: moderators may join any room
    assert mod_join["me"]["moderator"] is True
    present = await next_event(member, "room.moderator")
    assert present["data"]["present"] is True and present["data"]["author"]["moderator"] is True
    assert [m["body"] for m in mod_join["messages"]] == ["an unkind remark"]

    hide = await request(mod, "mod.hide", room=room, seq=seq, reason="unkind")
    assert hide["ok"] and hide["data"] == {"seq": seq, "hidden": True}
    hidden = await next_event(member, "message.hidden")
    assert hidden["data"] == {"seq": seq, "reason": "unkind"} and hidden["room"] == room
    members_view = (await request(member, "room.history", room=room))["data"]["messages"][-1]
    mods_view = (await request(mod, "room.history", room=room))["data"]["messages"][-1]
    assert members_view["hidden"] and members_view["body"] == ""
    assert mods_view["hidden"] and mods_view["body"] == "an unkind remark"
    assert mods_view["author"]["pseudonym"] == me["pseudonym"]

    assert (await request(mod, "mod.unhide", room=room, seq=seq))["ok"]
    assert (await next_event(member, "message.unhidden"))["data"] == {"seq": seq}
    again = (await request(member, "room.history", room=room))["data"]["messages"][-1]
    assert again["body"] == "an unkind remark" and again["hidden"] is False

    await next_event(mod, "message.unhidden")
    _validate_all(mod)
    _validate_all(member)
    await _assert_blind([mod_join, hide, mods_view, *mod.events], member.physician)
    rows, problems = await sync_to_async(_audit)(("mod.hide", "mod.unhide"))
    assert [(a, s) for a, _, s in rows] == [("mod.hide", f"room:{room}/seq:{seq}"),
                                           ("mod.unhide", f"room:{room}/seq:{seq}")]
    assert {actor for _, actor, _ in rows} == {mod_join["me"]["pseudonym"]}
    assert problems == []
    await member.close()
    await mod.close()


async def test_a_muted_member_is_forbidden_until_the_mute_ends(daphne_server, make_physician):
    member = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    me = (await _joined(member, LOUNGE))["me"]
    await _joined(mod, LOUNGE)
    mute = await request(mod, "mod.mute", room=LOUNGE, pseudonym=me["pseudonym"], minutes=15)
    assert mute["ok"], mute
    until = mute["data"]["until"]
    event = await next_event(member, "member.muted")
    assert event["data"] == {"pseudonym": me["pseudonym"], "until": until}
    refused = await send_message(member, LOUNGE, "but I have something to say")
    assert refused["error"]["code"] == "forbidden"
    assert refused["error"]["details"]["muted_until"] == until
    too_long = await request(mod, "mod.mute", room=LOUNGE, pseudonym=me["pseudonym"],
                             minutes=protocol.MUTE_MINUTES_MAX + 1)
    assert too_long["error"]["code"] == "bad_request"
    await _assert_blind([mute, *mod.events], member.physician)
    rows, problems = await sync_to_async(_audit)(("mod.mute",))
    assert rows == [("mod.mute", rows[0][1], f"room:{LOUNGE}/pseudonym:{me['pseudonym']}")]
    assert problems == []
    await member.close()
    await mod.close()


async def test_a_kicked_member_loses_the_room_on_their_socket(daphne_server, make_physician):
    member = await open_socket(daphne_server, make_physician)
    bystander = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    me = (await _joined(member, LOUNGE))["me"]
    await _joined(member, OTHER_LOUNGE)
    await _joined(bystander, LOUNGE)
    await _joined(mod, LOUNGE)
    kick = await request(mod, "mod.kick", room=LOUNGE, pseudonym=me["pseudonym"])
    assert kick["ok"], kick
    removed = await next_event(member, "room.removed")
    assert removed["data"] == {"room": LOUNGE, "reason": "kicked"}
    assert (await next_event(bystander, "member.kicked"))["data"] == {"pseudonym": me["pseudonym"]}
    assert (await send_message(member, LOUNGE, "still here?"))["error"]["code"] == "forbidden"
    assert (await send_message(member, OTHER_LOUNGE, "over here"))["ok"]  # other rooms keep working
    # After the kick nothing more of the room reaches the member's socket.
    assert (await send_message(bystander, LOUNGE, "after the kick"))["ok"]
    assert (await request(member, "ping"))["ok"]
    assert not [f for f in member.events if f.get("room") == LOUNGE
                and f.get("type") == "message.new"]
    _validate_all(member)
    await _assert_blind([kick, *mod.events], member.physician)
    for ws in (member, bystander, mod):
        await ws.close()


async def test_a_room_ban_keeps_the_member_out_and_other_rooms_working(daphne_server,
                                                                     make_physician):
    member = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    me = (await _joined(member, LOUNGE))["me"]
    await _joined(member, OTHER_LOUNGE)
    await _joined(mod, LOUNGE)
    ban = await request(mod, "mod.ban", room=LOUNGE, pseudonym=me["pseudonym"], scope="room",
                        reason="spam")
    assert ban["ok"] and ban["data"]["scope"] == "room"
    assert (await next_event(member, "room.removed"))["data"]["reason"] == "banned"
    banned = await next_event(mod, "member.banned")
    assert banned["data"] == {"pseudonym": me["pseudonym"], "scope": "room"}
    rejoin = await request(member, "room.join", room=LOUNGE)
    assert rejoin["error"]["code"] == "forbidden"
    assert (await send_message(member, OTHER_LOUNGE, "still welcome here"))["ok"]
    assert (await request(member, "room.join", room=OTHER_LOUNGE))["ok"]

    unban = await request(mod, "mod.unban", room=LOUNGE, pseudonym=me["pseudonym"], scope="room")
    assert unban["ok"]
    assert (await request(member, "room.join", room=LOUNGE))["ok"]
    _validate_all(member)
    _validate_all(mod)
    await _assert_blind([ban, unban, *mod.events], member.physician)
    rows, problems = await sync_to_async(_audit)(("mod.ban.room", "mod.unban.room"))
    assert [a for a, _, _ in rows] == ["mod.ban.room", "mod.unban.room"] and problems == []
    await member.close()
    await mod.close()


async def test_a_network_ban_closes_the_socket_and_refuses_new_ones(daphne_server,
                                                                   make_physician):
    member = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    me = (await _joined(member, LOUNGE))["me"]
    await _joined(mod, LOUNGE)
    spare_ticket = await sync_to_async(member.http.ticket)()  # issued before the ban
    ban = await request(mod, "mod.ban", room=LOUNGE, pseudonym=me["pseudonym"],
                        scope="network", reason="not a physician")
    assert ban["ok"], ban
    assert await _closed_code(member) == protocol.CLOSE_FORBIDDEN
    assert (await next_event(mod, "member.banned"))["data"]["scope"] == "network"
    with pytest.raises(InvalidStatus) as refused:
        await connect(daphne_server.ws, spare_ticket)
    assert refused.value.response.status_code == 403
    status, _ = await sync_to_async(member.http.call)("POST", "/api/v1/auth/ws-ticket", {})
    assert status == 401  # the session no longer counts
    rows, problems = await sync_to_async(_audit)(("mod.ban.network",))
    assert len(rows) == 1 and problems == []
    await mod.close()


async def test_non_moderators_cannot_moderate(daphne_server, make_physician):
    member = await open_socket(daphne_server, make_physician)
    other = await open_socket(daphne_server, make_physician)
    me = (await _joined(member, LOUNGE))["me"]
    await _joined(other, LOUNGE)
    seq = (await send_message(member, LOUNGE, "fine message"))["data"]["seq"]
    target = me["pseudonym"]
    attempts = [
        ("mod.hide", {"seq": seq, "reason": "x"}), ("mod.unhide", {"seq": seq}),
        ("mod.mute", {"pseudonym": target, "minutes": 5}), ("mod.kick", {"pseudonym": target}),
        ("mod.ban", {"pseudonym": target, "scope": "network", "reason": "x"}),
        ("mod.unban", {"pseudonym": target}),
    ]
    for op, args in attempts:
        reply = await request(other, op, room=LOUNGE, **args)
        assert reply["error"]["code"] == "forbidden", (op, reply)
    assert (await send_message(member, LOUNGE, "not muted, not kicked"))["ok"]
    history = (await request(member, "room.history", room=LOUNGE))["data"]["messages"]
    assert [m["hidden"] for m in history] == [False, False]
    await member.close()
    await other.close()


async def test_a_report_reaches_the_moderation_queue_with_context(daphne_server,
                                                                  make_physician):
    author = await open_socket(daphne_server, make_physician)
    reporter = await open_socket(daphne_server, make_physician)
    mod = await open_socket(daphne_server, make_physician, role="moderator")
    await _joined(author, LOUNGE)
    await _joined(reporter, LOUNGE)
    seqs = [(await send_message(author, LOUNGE, f"line {i}"))["data"]["seq"] for i in range(1, 8)]
    report = await request(reporter, "report", room=LOUNGE, seq=seqs[3], reason="off-colour")
    assert report["ok"], report
    again = await request(reporter, "report", room=LOUNGE, seq=seqs[3], reason="again")
    assert again["error"]["code"] == "conflict"
    missing = await request(reporter, "report", room=LOUNGE, seq=999, reason="nothing")
    assert missing["error"]["code"] == "not_found"

    status, body = await sync_to_async(reporter.http.call)("GET", "/api/v1/moderation/reports")
    assert status == 403
    status, body = await sync_to_async(mod.http.call)("GET",
                                                      "/api/v1/moderation/reports?status=open")
    assert status == 200, body
    [row] = body["reports"]
    assert row["id"] == report["data"]["report"] and row["reason"] == "off-colour"
    assert row["message"]["body"] == "line 4"
    assert [m["body"] for m in row["before"]] == ["line 1", "line 2", "line 3"]
    assert [m["body"] for m in row["after"]] == ["line 5", "line 6", "line 7"]
    await _assert_blind([body], author.physician)
    await _assert_blind([body], reporter.physician)
    status, resolved = await sync_to_async(mod.http.call)(
        "POST", f"/api/v1/moderation/reports/{row['id']}/resolve",
        {"resolution": "spoke to them", "action": "resolved"})
    assert status == 200 and resolved["report"]["status"] == "resolved"
    status, body = await sync_to_async(mod.http.call)("GET", "/api/v1/moderation/reports")
    assert body["reports"] == []
    rows, problems = await sync_to_async(_audit)(("report.file", "report.resolved"))
    assert [a for a, _, _ in rows] == ["report.file", "report.resolved"] and problems == []
    for ws in (author, reporter, mod):
        await ws.close()
