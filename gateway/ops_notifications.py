"""Socket handlers of the notification inbox (consult/notifications.py): list and mark read,
follow a case, mute a room until a time."""

from __future__ import annotations

from channels.db import database_sync_to_async

from bus import protocol
from consult import notifications


async def notifications_list(conn, request: protocol.NotificationsList
                             ) -> protocol.NotificationsPage:
    return await database_sync_to_async(notifications.notifications_list)(
        user=conn.user, before=request.before, unread=request.unread, limit=request.limit)


async def notifications_read(conn, request: protocol.NotificationsRead
                             ) -> protocol.NotificationsReadReply:
    return await database_sync_to_async(notifications.notifications_read)(
        user=conn.user, ids=list(request.ids), every=request.all)


async def case_follow(conn, request: protocol.CaseFollowSet) -> protocol.CaseFollowReply:
    following = await database_sync_to_async(notifications.case_follow)(
        case_id=request.case, user=conn.user, follow=request.follow)
    return protocol.CaseFollowReply(case=request.case, following=following)


async def room_mute(conn, request: protocol.RoomMuteSet) -> protocol.RoomMuteReply:
    until = await database_sync_to_async(notifications.room_mute)(
        user=conn.user, room_id=request.room, until=request.until)
    return protocol.RoomMuteReply(room=request.room, until=until)
