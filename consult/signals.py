"""Signal receivers of the consultation, connected by ``ConsultConfig.ready``.

The message writer (rooms/messages.py, a lower layer) says when case-room messages are
stored; the case's reply count and first response move in that same transaction
(``services.case_messages_counted``). Joining a case room over the socket admits whoever
may open the case (``services.case_room_admits``).
"""

from __future__ import annotations

from consult import notifications, services
from rooms.messages import case_messages_stored, messages_addressed
from rooms.services import room_admission_register


def connect() -> None:
    case_messages_stored.connect(services.case_messages_counted,
                                 dispatch_uid="consult.case_messages_counted")
    # The poster and followers of a case hear of answers (the notification inbox).
    case_messages_stored.connect(notifications.answers_stored,
                                 dispatch_uid="consult.answers_stored")
    # Mentions of me and replies to my messages, in any room (the notification inbox).
    messages_addressed.connect(notifications.messages_addressed,
                               dispatch_uid="consult.messages_addressed")
    # room.join of a case room by someone who may open the case joins them (a viewer).
    room_admission_register(services.case_room_admits)
