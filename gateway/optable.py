"""The socket's op → handler table: one static dict, read by the consumer.

Each op of ``bus.protocol.REQUEST_TYPES`` has exactly one handler here (a test holds both
lists equal). Handlers are plain async functions ``(conn, request) -> reply data``: they
check what the socket may do, call one service, and raise ``core.errors`` exceptions that
the consumer turns into error replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bus import protocol
from gateway import ops_consult, ops_moderation, ops_notifications, ops_rooms, ops_search

Handler = Callable[[Any, Any], Awaitable[Any]]

OPS: dict[type[protocol.Request], Handler] = {
    protocol.Ping: ops_consult.ping,
    # rooms and messages (gateway/ops_rooms.py)
    protocol.RoomJoin: ops_rooms.room_join,
    protocol.RoomLeave: ops_rooms.room_leave,
    protocol.RoomHistory: ops_rooms.room_history,
    protocol.MessageSend: ops_rooms.message_send,
    protocol.MessageEdit: ops_rooms.message_edit,
    protocol.MessageDelete: ops_rooms.message_delete,
    protocol.Typing: ops_rooms.typing,
    protocol.Read: ops_rooms.read,
    # moderation (gateway/ops_moderation.py)
    protocol.ModHide: ops_moderation.mod_hide,
    protocol.ModUnhide: ops_moderation.mod_unhide,
    protocol.ModMute: ops_moderation.mod_mute,
    protocol.ModKick: ops_moderation.mod_kick,
    protocol.ModBan: ops_moderation.mod_ban,
    protocol.ModUnban: ops_moderation.mod_unban,
    protocol.ReportFile: ops_moderation.report,
    # presence and urgent offers (gateway/ops_consult.py)
    protocol.PresenceSet: ops_consult.presence_set,
    protocol.OfferAccept: ops_consult.offer_accept,
    protocol.OfferDecline: ops_consult.offer_decline,
    protocol.OnCallList: ops_consult.oncall_list,
    # a client's home after every (re)connect (gateway/ops_consult.py)
    protocol.RoomsList: ops_consult.rooms_list,
    protocol.OffersList: ops_consult.offers_list,
    # the notification inbox (gateway/ops_notifications.py)
    protocol.NotificationsList: ops_notifications.notifications_list,
    protocol.NotificationsRead: ops_notifications.notifications_read,
    protocol.CaseFollowSet: ops_notifications.case_follow,
    protocol.RoomMuteSet: ops_notifications.room_mute,
    # search (gateway/ops_search.py)
    protocol.Search: ops_search.search_op,
}
