"""The wire schema of /ws/v1/: the only place frames are parsed and built.

One msgspec Struct per client op (tagged by ``op``) and one per server event payload
(``EVENT_SCHEMAS``). Parsing takes one typed pass over the JSON in C; only a frame that fails
it is decoded a second time, generically, to say precisely what is wrong (unknown op, which
field, …) and to echo its ``ref``. Outgoing frames are encoded once, as text, and the same
string is sent to every socket that should get it.

Every schema here forbids unknown fields, both ways: a client field an op does not define is
refused (``bad_request`` naming it), and ``validate_server_frame`` — which the test suite runs
on every frame the server emits — fails a reply or event carrying anything the spec does not.

PROTOCOL.md is the contract; docs/protocol.md the full, living list.
"""

from __future__ import annotations

import re
from functools import reduce
from operator import or_
from typing import Annotated, Any, Literal

import msgspec

from core import metrics
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

class Request(msgspec.Struct, tag_field="op", kw_only=True, frozen=True,
              forbid_unknown_fields=True):
    """Base of every client op. A field the op does not define is refused (``bad_request``
    naming it), like every other schema here: a typo never passes silently."""

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
# An unknown field's name is echoed in the bad_request that refuses it, at most this long.
FIELD_ECHO_CHARS = 64
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
            ``unknown_op`` or ``bad_request`` (a missing, mistyped, unknown or out-of-bounds
            field; ``details.field`` names it). A ``ref`` that breaks its own bounds is refused
            and never echoed.
    """
    try:
        request = _decoder.decode(text)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    except RecursionError:
        # msgspec recurses once per nesting level, also to skip an unknown field; past
        # the interpreter's limit it raises this (~1000 levels; no op nests beyond 2).
        raise _too_deep() from None
    else:
        if type(request) is not _Reserved:
            return request
        # The placeholder's tag is no op (no "$" op is): the slow path answers unknown_op.
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
    if field == "" and "unknown field" in message:  # every schema forbids unknown fields
        field = message.split("`")[1][:FIELD_ECHO_CHARS]
        return f"The op has no field '{field}'.", field
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


class Payload(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every server → client payload schema (event data, reply data, error details
    and the cards nested in them): a field the schema does not name makes the payload
    invalid, so ``validate_server_frame`` catches a builder that sends more than the spec."""


class OkReply(msgspec.Struct, tag_field="op", tag="reply", forbid_unknown_fields=True):
    ref: Ref
    data: Any
    ok: bool = True


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    message: str
    details: dict = {}


class ErrorReply(msgspec.Struct, tag_field="op", tag="reply", forbid_unknown_fields=True):
    ref: Ref
    error: ErrorBody
    ok: bool = False


class EventFrame(msgspec.Struct, tag_field="op", tag="event", omit_defaults=True,
                 forbid_unknown_fields=True):
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
    metrics.ERRORS.labels(code=code).inc()  # built here only to be sent (core/metrics.py)
    return encode(ErrorReply(ref=ref, error=ErrorBody(code=code, message=message,
                                                       details=details or {})))


def event_frame(type_: str, data: Any, *, room: str | None = None, seq: int | None = None) -> str:
    """One event, encoded once; the caller sends the same string to every recipient."""
    return encode(EventFrame(type=type_, data=data, room=room, seq=seq))


# --- Event payload schemas ------------------------------------------------------------------

class Limits(Payload):
    frame_bytes: int
    message_chars: int
    messages_per_s: float
    message_burst: int
    rooms_per_socket: int
    attachment_bytes: int


class SelfProfile(Payload):
    id: str
    display_name: str
    specialty: str
    specialties: list[str]
    languages: list[str]
    country: str
    roles: list[str]
    verified: bool


class Welcome(Payload):
    protocol: int
    session: str
    server_time: float
    heartbeat_s: int
    me: SelfProfile
    limits: Limits


class PongData(Payload):
    server_time: float


class AuthorCard(Payload):
    pseudonym: str
    name: str
    verified: bool
    specialty: str | None
    moderator: bool


class MessageData(Payload):
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


class MessageEdited(Payload):
    seq: int
    body: str
    edited_at: str


class MessageDeleted(Payload):
    seq: int
    deleted_at: str


class MessageHidden(Payload):
    seq: int
    reason: str


class MessageUnhidden(Payload):
    seq: int


class MentionData(Payload):
    room: str
    seq: int
    by: AuthorCard


class TypingData(Payload):
    author: AuthorCard


class ModeratorPresence(Payload):
    author: AuthorCard
    present: bool


class RoomSummary(Payload):
    id: str
    kind: str
    title: str
    specialty: str | None
    last_seq: int
    last_read_seq: int
    members: int
    online: int | None = None  # lounges: physicians of the specialty online now


class JoinReply(Payload):
    room: RoomSummary
    me: AuthorCard
    messages: list[MessageData]
    more: bool


class PageReply(Payload):
    messages: list[MessageData]
    more: bool


class SendReply(Payload):
    seq: int
    id: str
    sent_at: str


class EditReply(Payload):
    seq: int
    edited_at: str


class DeleteReply(Payload):
    seq: int
    deleted_at: str


class LeaveReply(Payload):
    room: str
    left: bool  # the membership ended too (forget: true)


class TypingReply(Payload):
    """``typing`` replies with an empty object."""


class ReadReply(Payload):
    room: str
    last_read_seq: int


class PhiFinding(Payload):
    kind: str  # phi.guard.KINDS
    start: int  # character offsets into the refused text: text[start:end]
    end: int


class PhiDetectedDetails(Payload):
    field: str  # "body" (message.send / message.edit), "summary" (case API)
    findings: list[PhiFinding]


# Every event type the server emits → the schema of its ``data``; ``validate_server_frame``
# (at the end of this module) checks every frame the test suite sees against these tables.
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
# Reply payload schemas, per op: every op has one (a test holds them equal to REQUEST_TYPES).
REPLY_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "ping": PongData,
    "room.join": JoinReply,
    "room.history": PageReply,
    "message.send": SendReply,
    "message.edit": EditReply,
    "message.delete": DeleteReply,
    "room.leave": LeaveReply,
    "typing": TypingReply,
    "read": ReadReply,
}
# Error ``details`` schemas, per error code (codes without one carry free-form details).
ERROR_DETAIL_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    PHI_DETECTED: PhiDetectedDetails,
}


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


class MemberMuted(Payload):
    pseudonym: str
    until: str


class MemberKicked(Payload):
    pseudonym: str


class MemberBanned(Payload):
    pseudonym: str
    scope: str


class RoomRemoved(Payload):
    room: str
    reason: str  # "kicked" | "banned"


class ModHiddenReply(Payload):
    seq: int
    hidden: bool


class ModMemberReply(Payload):
    pseudonym: str
    until: str | None = None
    scope: str | None = None


class ReportReply(Payload):
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




class CaseCard(Payload):
    id: str
    specialty: str
    urgency: str
    language: str
    summary: str  # the case's question
    room: str
    posted_at: str
    title: str = ""
    audience: str = "network"  # network | specialty | private
    images: list[str] = []  # attachment ids (GET /api/v1/attachments/<id>, once opened)


class OfferNew(Payload):
    offer: str
    case: CaseCard
    tier: int
    expires_at: float


class OfferClosed(Payload):
    offer: str
    case: str
    reason: str  # declined | expired | claimed | accepted | withdrawn | resolved | closed


class CaseRouting(Payload):
    case: str
    # offered | declined | expired | escalated | lounge_called | waiting | accepted | withdrawn
    # | handed_off | second_specialty
    step: str
    tier: int | None = None
    count: int | None = None
    by: AuthorCard | None = None


class CasePosted(Payload):
    case: CaseCard
    offer: str | None = None  # set on a lounge call: any member may accept it
    earlier: bool = False  # a card posted before this socket joined the lounge (its history)


class PresenceReply(Payload):
    status: str
    on_call: bool


class AcceptReply(Payload):
    case: str
    room: str


class OnCallEntry(Payload):
    pseudonym: str
    status: str


class OnCallReply(Payload):
    specialty: str
    on_call: list[OnCallEntry]


class DeclineReply(Payload):
    offer: str


class CaseOutcome(Payload):
    """How a case ended (``case.resolve``): each field checked by the PHI guard."""

    diagnosis: str
    done: str
    notes: str


class CaseUpdated(Payload):
    """A case changed (every lifecycle step, in its case room): its new status, the action
    that moved it, and — once resolved — the outcome and the credited message seqs."""

    case: str
    room: str
    status: str  # open | claimed | resolved | withdrawn | closed
    action: str  # consult.states.CaseAction
    at: str
    helpful: list[int] = []
    outcome: CaseOutcome | None = None


# What a client reads after every (re)connect to rebuild its home: the rooms it belongs to
# (with read markers and, for case rooms, the case) and the offers still open to it.
class RoomsList(Request, tag="rooms.list"):
    pass


class OffersList(Request, tag="offers.list"):
    pass


class RoomEntry(Payload):
    id: str
    kind: str
    title: str
    specialty: str | None
    last_seq: int
    last_read_seq: int
    case: CaseCard | None = None
    case_status: str | None = None  # open | claimed | resolved | withdrawn
    case_mine: bool = False  # the caller posted the case
    muted_until: float | None = None  # the caller muted the room's notifications until then


class RoomsReply(Payload):
    rooms: list[RoomEntry]


class OffersReply(Payload):
    offers: list[OfferNew]


EVENT_SCHEMAS.update({
    "offer.new": OfferNew,
    "offer.closed": OfferClosed,
    "case.routing": CaseRouting,
    "case.posted": CasePosted,
    "case.updated": CaseUpdated,
})
REPLY_SCHEMAS.update({
    "presence.set": PresenceReply,
    "offer.accept": AcceptReply,
    "offer.decline": DeclineReply,
    "oncall.list": OnCallReply,
    "rooms.list": RoomsReply,
    "offers.list": OffersReply,
})


# --- The decoder ------------------------------------------------------------------------------

# Every op the server understands, in one place (each has one handler: gateway/optable.py).
REQUEST_TYPES: tuple[type[Request], ...] = (
    Ping, RoomJoin, RoomLeave, RoomHistory, MessageSend, MessageEdit, MessageDelete, Typing, Read,
    ModHide, ModUnhide, ModMute, ModKick, ModBan, ModUnban, ReportFile,
    PresenceSet, OfferAccept, OfferDecline, OnCallList,
    RoomsList, OffersList,
)


def _build_decoder() -> tuple[msgspec.json.Decoder, dict[str, type[Request]]]:
    by_op = {t.__struct_config__.tag: t for t in REQUEST_TYPES}
    return msgspec.json.Decoder(_union((*REQUEST_TYPES, _Reserved))), by_op


def _union(types: tuple[type, ...]) -> Any:
    return reduce(or_, types)


_decoder, _by_op = _build_decoder()


def request_op(text: str | bytes) -> str | None:
    """The op of a client frame, or None when it cannot be parsed (its reply is an error)."""
    try:
        return parse_request(text).__struct_config__.tag
    except ProtocolError:
        return None


# --- Checking what the server sends -----------------------------------------------------------
# The test suite checks every frame the server emits with ``validate_server_frame``: frames its
# socket clients receive, frames the consumer sends in-process, frames services build, and
# (CURBSIDE_VALIDATE_FRAMES=1, set for every test daphne) every frame a server process sends.

# Which envelope keys each event type carries besides op/type/data (docs/protocol.md, Events).
ROOM_SEQ = ("room", "seq")
ROOM = ("room",)
NO_ROOM = ()
EVENT_ENVELOPES: dict[str, tuple[str, ...]] = {
    "session.welcome": NO_ROOM,
    "message.new": ROOM_SEQ,
    "message.edited": ROOM_SEQ,
    "message.deleted": ROOM_SEQ,
    "message.hidden": ROOM_SEQ,
    "message.unhidden": ROOM_SEQ,
    "mention": ROOM_SEQ,
    "typing": ROOM,
    "room.moderator": ROOM,
    "member.muted": ROOM,
    "member.kicked": ROOM,
    "member.banned": ROOM,
    "room.removed": ROOM,
    "offer.new": NO_ROOM,
    "offer.closed": NO_ROOM,
    "case.routing": NO_ROOM,
    "case.posted": ROOM,
    "case.updated": ROOM,
}


class InvalidFrame(ValueError):
    """A frame the server must never send; the message says what is wrong with it."""


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _OkEnvelope(_Strict):
    op: str
    ref: Ref
    ok: bool
    data: dict[str, Any]


class _ErrorBodyEnvelope(_Strict):
    code: str
    message: str
    details: dict[str, Any]


class _ErrorEnvelope(_Strict):
    op: str
    ref: Ref
    ok: bool
    error: _ErrorBodyEnvelope


class _EventEnvelope(_Strict):
    op: str
    type: str
    data: dict[str, Any]
    room: RoomId | msgspec.UnsetType = msgspec.UNSET
    seq: Annotated[int, msgspec.Meta(ge=1)] | msgspec.UnsetType = msgspec.UNSET


def _convert(value: Any, schema: Any, where: str) -> Any:
    try:
        return msgspec.convert(value, schema)
    except msgspec.ValidationError as exc:
        raise InvalidFrame(f"{where}: {exc}") from None


def validate_server_frame(frame: str | bytes, *, op: str | None = None) -> Any:
    """Check one frame the server emits against the protocol; return its typed payload.

    - a successful reply: exactly ``op``, ``ref`` (≤ 64 characters, an integer or null),
      ``ok`` and ``data``; the data must match ``REPLY_SCHEMAS[op]`` when the op of the
      request it answers is known, and some reply schema otherwise (replies do not carry the
      op, and every schema forbids unknown fields, so a stray field still fails);
    - an error reply: exactly ``op``, ``ref``, ``ok``, and ``error`` = {``code`` (one of
      ``ERROR_CODES``), ``message``, ``details``}, details checked by
      ``ERROR_DETAIL_SCHEMAS`` for codes that have one;
    - an event: ``type`` in ``EVENT_SCHEMAS`` (an unknown type fails), its ``data`` matching
      that schema, ``room`` and ``seq`` present exactly when ``EVENT_ENVELOPES`` says and
      agreeing with the data's own ``room``/``seq``.

    Raises:
        InvalidFrame: what is wrong, first problem only.
    """
    try:
        raw = _generic.decode(frame)
    except msgspec.DecodeError as exc:
        raise InvalidFrame(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidFrame("a frame must be a JSON object")
    kind = raw.get("op")
    if kind == "event":
        return _check_event(raw)
    if kind != "reply":
        raise InvalidFrame(f"'op' must be 'reply' or 'event', not {kind!r}")
    ok = raw.get("ok")
    if ok is True:
        return _check_ok(raw, op)
    if ok is False:
        return _check_error(raw)
    raise InvalidFrame(f"a reply's 'ok' must be true or false, not {ok!r}")


def _check_ok(raw: dict, op: str | None) -> Any:
    _convert(raw, _OkEnvelope, "reply")
    schema = REPLY_SCHEMAS.get(op) if op is not None else None
    if schema is not None:
        return _convert(raw["data"], schema, f"reply to {op}: data")
    for candidate in dict.fromkeys(REPLY_SCHEMAS.values()):
        try:
            return msgspec.convert(raw["data"], candidate)
        except msgspec.ValidationError:
            continue
    raise InvalidFrame(f"reply (op unknown): data matches no reply schema: {raw['data']!r:.300}")


def _check_error(raw: dict) -> Any:
    envelope = _convert(raw, _ErrorEnvelope, "error reply")
    code = envelope.error.code
    if code not in ERROR_CODES:
        raise InvalidFrame(f"error reply: unknown error code {code!r}")
    schema = ERROR_DETAIL_SCHEMAS.get(code)
    details = envelope.error.details
    return _convert(details, schema, f"error reply ({code}): details") if schema else details


def _check_event(raw: dict) -> Any:
    envelope = _convert(raw, _EventEnvelope, "event")
    type_ = envelope.type
    schema = EVENT_SCHEMAS.get(type_)
    if schema is None:
        raise InvalidFrame(f"event: unknown type {type_!r}")
    data = _convert(envelope.data, schema, f"event {type_}: data")
    carries = EVENT_ENVELOPES.get(type_)
    if carries is None:
        raise InvalidFrame(f"event {type_}: no rule for its room/seq in EVENT_ENVELOPES")
    for key in ROOM_SEQ:
        present = key in raw
        if present != (key in carries):
            raise InvalidFrame(f"event {type_}: {'unexpected' if present else 'missing'} '{key}'")
        if present and key in envelope.data and envelope.data[key] != raw[key]:
            raise InvalidFrame(f"event {type_}: '{key}' is {raw[key]!r} but data.{key} is "
                               f"{envelope.data[key]!r}")
    return data


def validate_reply(op: str, frame: str | bytes) -> Any:
    """A successful reply to ``op``, checked (``validate_server_frame``); returns its typed data.

    Raises:
        InvalidFrame: it is not a valid successful reply to ``op``.
    """
    if _generic.decode(frame).get("ok") is not True:
        raise InvalidFrame(f"not a successful reply: {frame!r:.300}")
    return validate_server_frame(frame, op=op)


def validate_error(frame: str | bytes) -> Any:
    """An error reply, checked; returns its typed details (the raw dict for codes without a
    schema in ``ERROR_DETAIL_SCHEMAS``).

    Raises:
        InvalidFrame: it is not a valid error reply.
    """
    if _generic.decode(frame).get("ok") is not False:
        raise InvalidFrame(f"not an error reply: {frame!r:.300}")
    return validate_server_frame(frame)


def validate_event(frame: str | bytes) -> Any:
    """An event, checked; returns its typed data.

    Raises:
        InvalidFrame: it is not a valid event.
    """
    if _generic.decode(frame).get("op") != "event":
        raise InvalidFrame(f"not an event: {frame!r:.300}")
    return validate_server_frame(frame)


# --- Adverse drug event signals (adverse/, docs/adverse.md) ------------------------------------


class AdverseSignal(Payload):
    """A drug–reaction pair newly met the Evans criteria: to every pharmacovigilance officer."""

    signal: int
    drug: str
    reaction: str
    first_week: str  # the Monday (ISO date) of the week it was first detected
    reports: int
    prr: float
    chi2: float
    ror: float
    ror_lower: float
    ic025: float


EVENT_SCHEMAS["adverse.signal"] = AdverseSignal
EVENT_ENVELOPES["adverse.signal"] = NO_ROOM


# --- Diagnosis polls (consult/polls.py) -------------------------------------------------------


class PollUpdated(Payload):
    """A poll changed (made, a vote, closed): a diagnosis poll in its case room, an opinion
    poll in its lounge (the general lounge for a network-wide one). No results: they are
    hidden until you vote or the poll closes, so members fetch them (``GET polls/<id>``)."""

    poll: str
    case: str | None  # null for an opinion poll
    votes: int
    closed: bool
    kind: Literal["diagnosis", "opinion"] = "diagnosis"
    opened: bool = True  # an opinion poll before its open time: false


EVENT_SCHEMAS.update({"poll.updated": PollUpdated})
EVENT_ENVELOPES.update({"poll.updated": ROOM})


# --- Notification inbox (consult/notifications.py, gateway/ops_notifications.py) -------------

CaseId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
NotificationId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
# A mute ends at most a year ahead (epoch seconds); null lifts it.
MUTE_MAX_S = 366 * 24 * 3600


class NotificationsList(Request, tag="notifications.list"):
    before: NotificationId | None = None  # page older than this id
    unread: bool = False  # unread ones only
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 50


class NotificationsRead(Request, tag="notifications.read"):
    ids: Annotated[list[NotificationId], msgspec.Meta(max_length=500)] = []
    all: bool = False  # every notification of mine


class CaseFollowSet(Request, tag="case.follow"):
    case: CaseId
    follow: bool = True


class RoomMuteSet(Request, tag="room.mute"):
    room: RoomId
    until: Annotated[float, msgspec.Meta(ge=0)] | None = None  # epoch seconds; null unmutes


class NotificationCard(Payload):
    id: int
    kind: str  # answer | case_state | offer_missed | poll_closed | mention | reply
    case: str | None
    room: str | None
    at: str
    read: bool
    detail: dict[str, str | int | None] = {}


class NotificationsPage(Payload):
    notifications: list[NotificationCard]
    unread: int
    next: int | None  # ``before`` for the next (older) page; null at the end


class NotificationsReadReply(Payload):
    read: int
    unread: int


class CaseFollowReply(Payload):
    case: str
    following: bool


class RoomMuteReply(Payload):
    room: str
    until: float | None


class NotificationNew(Payload):
    """Pushed as a notification is stored; no unread count (one query per recipient on the
    routing and lifecycle paths): the client adds one to the count ``notifications.list``
    gave it."""

    notification: NotificationCard


REQUEST_TYPES = (*REQUEST_TYPES, NotificationsList, NotificationsRead, CaseFollowSet,
                 RoomMuteSet)
EVENT_SCHEMAS.update({"notification.new": NotificationNew})
EVENT_ENVELOPES.update({"notification.new": NO_ROOM})
REPLY_SCHEMAS.update({
    "notifications.list": NotificationsPage,
    "notifications.read": NotificationsReadReply,
    "case.follow": CaseFollowReply,
    "room.mute": RoomMuteReply,
})
_decoder, _by_op = _build_decoder()  # again, with the inbox ops


class ReportFiled(Payload):
    """To every open socket of each moderator as a report is filed (the envelope's ``room``
    says where): the moderator console fetches the new report. No reason, no reporter."""

    report: int


EVENT_SCHEMAS.update({"report.filed": ReportFiled})
EVENT_ENVELOPES.update({"report.filed": ROOM})


class RoomMembers(Payload):
    """The room's active member count changed (a new or returning member, or one who left
    for good); best-effort, like ``typing``: ``room.join``'s summary is the truth."""

    members: int


EVENT_SCHEMAS.update({"room.members": RoomMembers})
EVENT_ENVELOPES.update({"room.members": ROOM})
# --- Search (consult/search.py, gateway/ops_search.py, docs/search.md) -----------------------

SEARCH_QUERY_MAX_CHARS = 200  # consult.search.QUERY_MAX_CHARS; a test holds them equal


class Search(Request, tag="search"):
    """Cases and messages the caller may read that hold the query's words (accents and
    case folded), best first: ``offset`` pages (``next`` of the previous page)."""

    q: Annotated[str, msgspec.Meta(max_length=SEARCH_QUERY_MAX_CHARS, pattern=TEXT_PATTERN)]
    kind: Literal["cases", "messages"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 20
    offset: Annotated[int, msgspec.Meta(ge=0, le=500)] = 0


class SearchHit(Payload):
    kind: str  # case | message
    room: str
    case: str | None  # the case, or the case of the room the message is in
    seq: int | None  # a message's seq
    title: str
    snippet: str
    at: str
    matched: int  # distinct query words it holds


class SearchPage(Payload):
    hits: list[SearchHit]
    next: int | None  # ``offset`` of the next page; null at the end


REQUEST_TYPES = (*REQUEST_TYPES, Search)
REPLY_SCHEMAS.update({"search": SearchPage})
_decoder, _by_op = _build_decoder()  # again, with search
