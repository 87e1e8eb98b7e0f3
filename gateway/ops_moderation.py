"""Socket handlers of the moderation ops (mod.*) and of ``report``.

A mod.* op from a non-moderator is ``forbidden`` before anything else is looked at; a
moderator must have joined the room on this socket (room.join admits moderators to any
room, and members see them arrive). The services in rooms/moderation.py do the work, the
audit and the fan-out; replies name targets by pseudonym only.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from bus import protocol
from core.errors import Forbidden
from gateway.ops_rooms import _joined
from rooms import moderation


def _moderator(conn, room_id: str) -> None:
    if not conn.user.is_moderator:
        raise Forbidden("Only moderators may do this.", details={"room": room_id})
    _joined(conn, room_id)


async def mod_hide(conn, request: protocol.ModHide) -> dict:
    _moderator(conn, request.room)
    await database_sync_to_async(moderation.message_hide)(
        room_id=request.room, seq=request.seq, moderator=conn.user, reason=request.reason,
        confirm_phi=request.confirm_phi)
    return {"seq": request.seq, "hidden": True}


async def mod_unhide(conn, request: protocol.ModUnhide) -> dict:
    _moderator(conn, request.room)
    await database_sync_to_async(moderation.message_unhide)(
        room_id=request.room, seq=request.seq, moderator=conn.user)
    return {"seq": request.seq, "hidden": False}


async def mod_mute(conn, request: protocol.ModMute) -> dict:
    _moderator(conn, request.room)
    until = await database_sync_to_async(moderation.member_mute)(
        room_id=request.room, pseudonym=request.pseudonym, moderator=conn.user,
        minutes=request.minutes)
    return {"pseudonym": request.pseudonym, "until": until.isoformat()}


async def mod_kick(conn, request: protocol.ModKick) -> dict:
    _moderator(conn, request.room)
    await database_sync_to_async(moderation.member_kick)(
        room_id=request.room, pseudonym=request.pseudonym, moderator=conn.user)
    return {"pseudonym": request.pseudonym}


async def mod_ban(conn, request: protocol.ModBan) -> dict:
    _moderator(conn, request.room)
    await database_sync_to_async(moderation.member_ban)(
        room_id=request.room, pseudonym=request.pseudonym, moderator=conn.user,
        scope=request.scope, reason=request.reason, confirm_phi=request.confirm_phi)
    return {"pseudonym": request.pseudonym, "scope": request.scope}


async def mod_unban(conn, request: protocol.ModUnban) -> dict:
    _moderator(conn, request.room)
    await database_sync_to_async(moderation.member_unban)(
        room_id=request.room, pseudonym=request.pseudonym, moderator=conn.user,
        scope=request.scope)
    return {"pseudonym": request.pseudonym, "scope": request.scope}


async def report(conn, request: protocol.ReportFile) -> dict:
    joined = _joined(conn, request.room)
    filed = await database_sync_to_async(moderation.report_file)(
        room_id=request.room, seq=request.seq, reporter_pseudonym=joined.author.pseudonym,
        reason=request.reason, confirm_phi=request.confirm_phi)
    return {"report": filed.pk}
