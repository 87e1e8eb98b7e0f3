"""The wire schema of /ws/v1/: the only place frames are parsed and built.

One msgspec Struct per client op (tagged by ``op``) and one per server event payload
(``EVENT_SCHEMAS``). Parsing takes one typed pass over the JSON in C; only a frame that fails
it is decoded a second time, generically, to say precisely what is wrong (unknown op, which
field, …) and to echo its ``ref``. Outgoing frames are encoded once, as text, and the same
string is sent to every socket that should get it.

PROTOCOL.md is the contract; docs/protocol.md the full, living list.
"""

from __future__ import annotations

import re
from functools import reduce
from operator import or_
from typing import Annotated, Any, Literal

import msgspec

from core.text import (
    IDENTIFIER_PATTERN,
    IDENTIFIER_RULE,
    INT64_MAX,
    INT64_MIN,
    ROOM_ID_PATTERN,
    SLUG_PATTERN,
    TEXT_PATTERN,
    TEXT_RULE,
    joiner_misplaced,
)

PROTOCOL_VERSION = 1

# Stable error codes (PROTOCOL.md). Clients switch on these, never on messages.
BAD_FRAME = "bad_frame"
BAD_REQUEST = "bad_request"
UNKNOWN_OP = "unknown_op"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
TOO_LARGE = "too_large"
RATE_LIMITED = "rate_limited"
PHI_DETECTED = "phi_detected"
UNAVAILABLE = "unavailable"
INTERNAL = "internal"
ERROR_CODES = frozenset({
    BAD_FRAME, BAD_REQUEST, UNKNOWN_OP, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT,
    TOO_LARGE, RATE_LIMITED, PHI_DETECTED, UNAVAILABLE, INTERNAL,
})

# WebSocket close codes.
CLOSE_GOING_AWAY = 1001  # RFC 6455 §7.4.1: the server is going down
CLOSE_TOO_BIG = 1009  # RFC 6455 §7.4.1: message too big to process
CLOSE_SERVICE_RESTART = 1012  # IANA registry: the server restarts; reconnect at once
CLOSE_TRY_AGAIN_LATER = 1013  # IANA registry: a dependency is down; before accept: HTTP 503
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW_CONSUMER = 4408

# A client's ref is echoed back verbatim; bound it so a reply cannot be inflated by it.
REF_MAX_CHARS = 64

# Every field is bounded in the schema (docs/protocol.md, "Identifiers and limits"): a value
# out of bounds is ``bad_request`` naming the field before any handler, database or channel
# layer sees it. Identifiers hold no control or invisible characters (core/text.py); every
# integer fits a signed 64-bit column.
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
Ref = (Annotated[str, msgspec.Meta(max_length=REF_MAX_CHARS, pattern=IDENTIFIER_PATTERN)]
       | Int64 | None)


# --- Requests (client → server) -----------------------------------------------------------

class Request(msgspec.Struct, tag_field="op", kw_only=True, frozen=True):
    ref: Ref = None


class Ping(Request, tag="ping"):
    pass


# "lounge-<specialty slug>" or "case-<hex>": the only names rooms.lounges and
# rooms.services.case_room_create give rooms (a test holds them to this).
RoomId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ROOM_ID_PATTERN)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
MessageSeq = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]  # a message's seq (from 1)
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
Pseudonym = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
AttachmentId = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                           pattern=IDENTIFIER_PATTERN)]
SpecialtySlug = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=SLUG_PATTERN)]
# Text people read. Its length is checked against settings (too_large), not here, so the
# limit can change; control and invisible formatting characters are refused (core/text.py).
Body = Annotated[str, msgspec.Meta(pattern=TEXT_PATTERN)]


def _joiners_check(**fields: str) -> None:
    """ZWNJ/ZWJ only between two non-ASCII characters (core/text.py). Raised from a Struct's
    ``__post_init__``, msgspec turns the ValueError into a ValidationError; the path suffix
    lets ``parse_request`` name the field as it does for the schema's own errors."""
    for name, value in fields.items():
        if joiner_misplaced(value):
            raise ValueError(f"'{name}' {TEXT_RULE}. - at `$.{name}`")


class RoomJoin(Request, tag="room.join"):
    room: RoomId
    since: Seq | None = None


class RoomLeave(Request, tag="room.leave"):
    room: RoomId
    # True ends the membership (leaving the room for good), not just this subscription.
    forget: bool = False


class RoomHistory(Request, tag="room.history"):
    room: RoomId
    before: Seq | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


class MessageSend(Request, tag="message.send"):
    room: RoomId
    body: Body
    client_id: ClientId
    reply_to: MessageSeq | None = None
    mentions: Annotated[list[Pseudonym], msgspec.Meta(max_length=50)] = []
    attachments: Annotated[list[AttachmentId], msgspec.Meta(max_length=10)] = []
    # The author says the PHI guard's findings are not patient data (stored, and audited).
    confirm_phi: bool = False

    def __post_init__(self) -> None:
        _joiners_check(body=self.body)


class MessageEdit(Request, tag="message.edit"):
    room: RoomId
    seq: MessageSeq
    body: Body
    confirm_phi: bool = False

    def __post_init__(self) -> None:
        _joiners_check(body=self.body)


class MessageDelete(Request, tag="message.delete"):
    room: RoomId
    seq: MessageSeq


class Typing(Request, tag="typing"):
    room: RoomId


class Read(Request, tag="read"):
    room: RoomId
    seq: Seq


class ProtocolError(Exception):
    """A frame that cannot be served; ``reply`` is the error frame to send back."""

    def __init__(self, code: str, message: str, *, ref: Ref = None,
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.details = details or {}

    def reply(self) -> str:
        return reply_error(self.ref, self.code, self.message, self.details)


_generic = msgspec.json.Decoder()
_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
# What a field's pattern means, in words: a refusal says this, never the regex.
_PATTERN_RULES = {
    ROOM_ID_PATTERN: "must be a room id: 'lounge-<specialty>' or 'case-<hex>' (lowercase "
                     "letters, digits and single hyphens)",
    SLUG_PATTERN: "must be a specialty slug (lowercase letters, digits and single hyphens)",
    IDENTIFIER_PATTERN: IDENTIFIER_RULE,
    TEXT_PATTERN: TEXT_RULE,
}
# Longest message a refusal carries: msgspec quotes offending values in some messages.
_MESSAGE_MAX_CHARS = 300


class _Reserved(Request, tag="$reserved"):
    """Never handled: it keeps the decoder a tagged union even with a single op, because
    msgspec requires the tag only when it has to choose between several types."""


def _too_deep() -> ProtocolError:
    return ProtocolError(BAD_FRAME, "The frame is nested too deeply.")


def parse_request(text: str | bytes) -> Request:
    """Decode one client frame.

    Raises:
        ProtocolError: ``bad_frame`` (not a JSON object, or nested too deeply to decode),
            ``unknown_op`` or ``bad_request`` (a missing, mistyped or out-of-bounds field;
            ``details.field`` names it). A ``ref`` that breaks its own bounds is refused and
            never echoed.
    """
    try:
        return _decoder.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    except RecursionError:
        # msgspec recurses once per nesting level, also to skip an unknown field; past
        # the interpreter's limit it raises this (~1000 levels; no op nests beyond 2).
        raise _too_deep() from None
    # Slow path, only for bad frames: say exactly what is wrong.
    try:
        raw = _generic.decode(text)
    except msgspec.DecodeError:
        raise ProtocolError(BAD_FRAME, "The frame is not valid JSON.") from None
    except RecursionError:
        raise _too_deep() from None
    if not isinstance(raw, dict):
        raise ProtocolError(BAD_FRAME, "A frame must be a JSON object.")
    ref = raw.get("ref")
    try:
        ref = msgspec.convert(ref, Ref)
    except (msgspec.ValidationError, RecursionError):
        raise ProtocolError(BAD_REQUEST, f"ref must be a string of at most {REF_MAX_CHARS} "
                            f"characters that {IDENTIFIER_RULE}, or a 64-bit integer.",
                            details={"field": "ref"}) from None
    op = raw.get("op")
    if not isinstance(op, str):
        raise ProtocolError(BAD_REQUEST, "The frame has no 'op' string.", ref=ref,
                            details={"field": "op"})
    op_type = _by_op.get(op)
    if op_type is None:
        shown = op[:40] if re.fullmatch(IDENTIFIER_PATTERN, op[:40]) else "?"
        raise ProtocolError(UNKNOWN_OP, f"Unknown op '{shown}'.", ref=ref, details={"op": shown})
    try:
        return msgspec.convert(raw, op_type)
    except RecursionError:
        raise _too_deep() from None
    except msgspec.ValidationError as exc:
        message, field = _refusal(str(exc))
        raise ProtocolError(BAD_REQUEST, message, ref=ref, details={"field": field}) from None


def _refusal(message: str) -> tuple[str, str]:
    """A msgspec validation message → (what to tell the client, the field it names)."""
    match = _AT_PATH.search(message)
    field = match.group(1) if match else ""
    if field == "" and "missing required field" in message:
        field = message.split("`")[1]
        return f"The field '{field}' is required.", field
    message = _AT_PATH.sub("", message)
    name = field or "the value"
    if message.startswith("Expected `str` matching regex"):
        # msgspec quotes the pattern as Python's repr() does.
        rule = next((r for p, r in _PATTERN_RULES.items() if repr(p) in message), None)
        message = f"'{name}' {rule or 'has a value it cannot take'}."
    elif message.startswith("Invalid enum value"):  # it quotes the value: not echoed back
        message = f"'{name}' is not one of the values it can take."
    elif field and not message.startswith(f"'{field}'"):
        message += f" (field '{field}')"
    return message[:_MESSAGE_MAX_CHARS], field


# --- Replies and events (server → client) ---------------------------------------------------

_encoder = msgspec.json.Encoder()


class OkReply(msgspec.Struct, tag_field="op", tag="reply"):
    ref: Ref
    data: Any
    ok: bool = True


class ErrorBody(msgspec.Struct):
    code: str
    message: str
    details: dict = {}


class ErrorReply(msgspec.Struct, tag_field="op", tag="reply"):
    ref: Ref
    error: ErrorBody
    ok: bool = False


class EventFrame(msgspec.Struct, tag_field="op", tag="event", omit_defaults=True):
    type: str
    data: Any
    room: str | None = None
    seq: int | None = None


def encode(obj: Any) -> str:
    return _encoder.encode(obj).decode()


# The most bytes one character of a string can take in an encoded frame: UTF-8 needs at
# most 4, but a control character (U+0000–U+001F, other than \b \t \n \f \r) is escaped as
# \u00XX, 6 bytes. What sizes frames (rooms/selectors.py, gateway/checks.py) counts with it.
JSON_BYTES_PER_CHAR_MAX = 6


def encoded_size(obj: Any) -> int:
    """Bytes of ``obj`` encoded as it goes on the wire."""
    return len(_encoder.encode(obj))


def reply_ok(ref: Ref, data: Any) -> str:
    return encode(OkReply(ref=ref, data=data))


def reply_error(ref: Ref, code: str, message: str, details: dict | None = None) -> str:
    assert code in ERROR_CODES, code
    return encode(ErrorReply(ref=ref, error=ErrorBody(code=code, message=message,
                                                       details=details or {})))


def event_frame(type_: str, data: Any, *, room: str | None = None, seq: int | None = None) -> str:
    """One event, encoded once; the caller sends the same string to every recipient."""
    return encode(EventFrame(type=type_, data=data, room=room, seq=seq))


# --- Event payload schemas ------------------------------------------------------------------

class Limits(msgspec.Struct):
    frame_bytes: int
    message_chars: int
    messages_per_s: float
    message_burst: int
    rooms_per_socket: int
    attachment_bytes: int


class SelfProfile(msgspec.Struct):
    id: str
    display_name: str
    specialty: str
    specialties: list[str]
    languages: list[str]
    country: str
    roles: list[str]
    verified: bool


class Welcome(msgspec.Struct):
    protocol: int
    session: str
    server_time: float
    heartbeat_s: int
    me: SelfProfile
    limits: Limits


class PongData(msgspec.Struct):
    server_time: float


class AuthorCard(msgspec.Struct):
    pseudonym: str
    name: str
    verified: bool
    specialty: str | None
    moderator: bool


class MessageData(msgspec.Struct):
    id: str
    seq: int
    author: AuthorCard
    body: str
    sent_at: str
    reply_to: int | None
    mentions: list[str]
    attachments: list[str]
    edited: bool
    deleted: bool
    hidden: bool


class MessageEdited(msgspec.Struct):
    seq: int
    body: str
    edited_at: str


class MessageDeleted(msgspec.Struct):
    seq: int
    deleted_at: str


class MessageHidden(msgspec.Struct):
    seq: int
    reason: str


class MessageUnhidden(msgspec.Struct):
    seq: int


class MentionData(msgspec.Struct):
    room: str
    seq: int
    by: AuthorCard


class TypingData(msgspec.Struct):
    author: AuthorCard


class ModeratorPresence(msgspec.Struct):
    author: AuthorCard
    present: bool


class RoomSummary(msgspec.Struct):
    id: str
    kind: str
    title: str
    specialty: str | None
    last_seq: int
    last_read_seq: int
    members: int
    online: int | None = None  # lounges: physicians of the specialty online now


class JoinReply(msgspec.Struct):
    room: RoomSummary
    me: AuthorCard
    messages: list[MessageData]
    more: bool


class PageReply(msgspec.Struct):
    messages: list[MessageData]
    more: bool


class SendReply(msgspec.Struct):
    seq: int
    id: str
    sent_at: str


class EditReply(msgspec.Struct):
    seq: int
    edited_at: str


class DeleteReply(msgspec.Struct):
    seq: int
    deleted_at: str


class PhiFinding(msgspec.Struct):
    kind: str  # phi.guard.KINDS
    start: int  # character offsets into the refused text: text[start:end]
    end: int


class PhiDetectedDetails(msgspec.Struct):
    field: str  # "body" (message.send / message.edit), "summary" (case API)
    findings: list[PhiFinding]


# Every event type the server emits → the schema of its ``data``. tests/rooms check each
# emitted event against this table.
EVENT_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "session.welcome": Welcome,
    "message.new": MessageData,
    "message.edited": MessageEdited,
    "message.deleted": MessageDeleted,
    "message.hidden": MessageHidden,
    "message.unhidden": MessageUnhidden,
    "mention": MentionData,
    "typing": TypingData,
    "room.moderator": ModeratorPresence,
}
# Reply payload schemas, per op.
REPLY_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "ping": PongData,
    "room.join": JoinReply,
    "room.history": PageReply,
    "message.send": SendReply,
    "message.edit": EditReply,
    "message.delete": DeleteReply,
}
# Error ``details`` schemas, per error code (codes without one carry free-form details).
ERROR_DETAIL_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    PHI_DETECTED: PhiDetectedDetails,
}


def register_events(schemas: dict[str, type[msgspec.Struct]]) -> None:
    """Add event payload schemas defined by another module (at its import time)."""
    EVENT_SCHEMAS.update(schemas)


def validate_reply(op: str, frame: str | bytes) -> Any:
    """Decode a successful reply to ``op`` and check its data against ``REPLY_SCHEMAS``
    (tests use this on every reply they get; ops without a schema reply with plain dicts).

    Raises:
        msgspec.ValidationError: the reply does not match.
    """
    raw = _generic.decode(frame)
    assert raw["op"] == "reply" and raw["ok"] is True, raw
    schema = REPLY_SCHEMAS.get(op)
    return msgspec.convert(raw["data"], schema) if schema else raw["data"]


def validate_error(frame: str | bytes) -> Any:
    """Decode an error reply and check its details against ``ERROR_DETAIL_SCHEMAS`` (tests
    use this); returns the typed details, or the raw dict for codes without a schema.

    Raises:
        msgspec.ValidationError: the details do not match.
    """
    raw = _generic.decode(frame)
    assert raw["op"] == "reply" and raw["ok"] is False, raw
    assert raw["error"]["code"] in ERROR_CODES, raw
    schema = ERROR_DETAIL_SCHEMAS.get(raw["error"]["code"])
    details = raw["error"].get("details", {})
    return msgspec.convert(details, schema) if schema else details


def validate_event(frame: str | bytes) -> Any:
    """Decode an event frame and check its data against its schema (tests use this).

    Raises:
        msgspec.ValidationError / KeyError: the frame does not match.
    """
    raw = _generic.decode(frame)
    assert raw["op"] == "event", raw
    return msgspec.convert(raw["data"], EVENT_SCHEMAS[raw["type"]])


# --- Moderation -----------------------------------------------------------------------------
# Ops, events and replies of gateway/ops_moderation.py (docs/moderation.md). Targets are named by their
# pseudonym in the room: moderators never see who is behind it.

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=TEXT_PATTERN)]
HideReason = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
BanScope = Literal["room", "network"]
# A mute lasts from one minute to 30 days.
MUTE_MINUTES_MAX = 43200


class ModHide(Request, tag="mod.hide"):
    room: RoomId
    seq: MessageSeq
    reason: HideReason
    # The moderator says the guard's findings in the reason are not patient data.
    confirm_phi: bool = False

    def __post_init__(self) -> None:
        _joiners_check(reason=self.reason)


class ModUnhide(Request, tag="mod.unhide"):
    room: RoomId
    seq: MessageSeq


class ModMute(Request, tag="mod.mute"):
    room: RoomId
    pseudonym: Pseudonym
    minutes: Annotated[int, msgspec.Meta(ge=1, le=MUTE_MINUTES_MAX)]


class ModKick(Request, tag="mod.kick"):
    room: RoomId
    pseudonym: Pseudonym


class ModBan(Request, tag="mod.ban"):
    room: RoomId
    pseudonym: Pseudonym
    reason: Reason
    scope: BanScope = "room"
    confirm_phi: bool = False

    def __post_init__(self) -> None:
        _joiners_check(reason=self.reason)


class ModUnban(Request, tag="mod.unban"):
    room: RoomId
    pseudonym: Pseudonym
    scope: BanScope = "room"


class ReportFile(Request, tag="report"):
    room: RoomId
    seq: MessageSeq
    reason: Reason
    confirm_phi: bool = False

    def __post_init__(self) -> None:
        _joiners_check(reason=self.reason)


class MemberMuted(msgspec.Struct):
    pseudonym: str
    until: str


class MemberKicked(msgspec.Struct):
    pseudonym: str


class MemberBanned(msgspec.Struct):
    pseudonym: str
    scope: str


class RoomRemoved(msgspec.Struct):
    room: str
    reason: str  # "kicked" | "banned"


class ModHiddenReply(msgspec.Struct):
    seq: int
    hidden: bool


class ModMemberReply(msgspec.Struct):
    pseudonym: str
    until: str | None = None
    scope: str | None = None


class ReportReply(msgspec.Struct):
    report: int


EVENT_SCHEMAS.update({
    "member.muted": MemberMuted,
    "member.kicked": MemberKicked,
    "member.banned": MemberBanned,
    "room.removed": RoomRemoved,
})
REPLY_SCHEMAS.update({
    "mod.hide": ModHiddenReply,
    "mod.unhide": ModHiddenReply,
    "mod.mute": ModMemberReply,
    "mod.kick": ModMemberReply,
    "mod.ban": ModMemberReply,
    "mod.unban": ModMemberReply,
    "report": ReportReply,
})


# --- Presence and urgent cases ---------------------------------------------------------------

Status = Literal["available", "busy", "away"]
OfferId = Annotated[str, msgspec.Meta(min_length=3, max_length=80, pattern=IDENTIFIER_PATTERN)]


class PresenceSet(Request, tag="presence.set"):
    status: Status | None = None
    on_call: bool | None = None


class OfferAccept(Request, tag="offer.accept"):
    offer: OfferId


class OfferDecline(Request, tag="offer.decline"):
    offer: OfferId


class OnCallList(Request, tag="oncall.list"):
    specialty: SpecialtySlug




class CaseCard(msgspec.Struct):
    id: str
    specialty: str
    urgency: str
    language: str
    summary: str
    room: str
    posted_at: str


class OfferNew(msgspec.Struct):
    offer: str
    case: CaseCard
    tier: int
    expires_at: float


class OfferClosed(msgspec.Struct):
    offer: str
    case: str
    reason: str  # declined | expired | claimed | accepted | withdrawn


class CaseRouting(msgspec.Struct):
    case: str
    step: str  # offered | declined | expired | escalated | lounge_called | waiting | accepted | withdrawn
    tier: int | None = None
    count: int | None = None
    by: AuthorCard | None = None


class CasePosted(msgspec.Struct):
    case: CaseCard
    offer: str | None = None  # set on a lounge call: any member may accept it


class PresenceReply(msgspec.Struct):
    status: str
    on_call: bool


class AcceptReply(msgspec.Struct):
    case: str
    room: str


class OnCallEntry(msgspec.Struct):
    pseudonym: str
    status: str


EVENT_SCHEMAS.update({
    "offer.new": OfferNew,
    "offer.closed": OfferClosed,
    "case.routing": CaseRouting,
    "case.posted": CasePosted,
})
REPLY_SCHEMAS.update({
    "presence.set": PresenceReply,
    "offer.accept": AcceptReply,
})


# --- The decoder ------------------------------------------------------------------------------

# Every op the server understands, in one place (each has one handler: gateway/optable.py).
REQUEST_TYPES: tuple[type[Request], ...] = (
    Ping, RoomJoin, RoomLeave, RoomHistory, MessageSend, MessageEdit, MessageDelete, Typing, Read,
    ModHide, ModUnhide, ModMute, ModKick, ModBan, ModUnban, ReportFile,
    PresenceSet, OfferAccept, OfferDecline, OnCallList,
)


def _build_decoder() -> tuple[msgspec.json.Decoder, dict[str, type[Request]]]:
    by_op = {t.__struct_config__.tag: t for t in REQUEST_TYPES}
    return msgspec.json.Decoder(_union((*REQUEST_TYPES, _Reserved))), by_op


def _union(types: tuple[type, ...]) -> Any:
    return reduce(or_, types)


_decoder, _by_op = _build_decoder()
