"""Hostile frames against the wire schema (bus/protocol.py), without a server.

Every string and integer field of every op is found by walking the schema itself
(``msgspec.inspect``), so an op added later is covered without editing this file: its
identifier fields must refuse control characters, its integers must fit a signed 64-bit
column, and the refusal is ``bad_request`` naming the field.
"""

from __future__ import annotations

import json
import re
import uuid

import msgspec
import pytest

from bus import protocol
from bus.protocol import ProtocolError, parse_request

# A valid frame per op; each test below spoils one field of it.
VALID: dict[str, dict] = {
    "ping": {},
    "room.join": {"room": "lounge-cardiology", "since": 3},
    "room.leave": {"room": "lounge-cardiology"},
    "room.history": {"room": "lounge-cardiology", "before": 10, "limit": 20},
    "message.send": {"room": "lounge-cardiology", "body": "hello", "client_id": "c-1",
                     "reply_to": 1, "mentions": ["ab" * 16], "attachments": [str(uuid.uuid4())]},
    "message.edit": {"room": "lounge-cardiology", "seq": 1, "body": "hello"},
    "message.delete": {"room": "lounge-cardiology", "seq": 1},
    "typing": {"room": "lounge-cardiology"},
    "read": {"room": "lounge-cardiology", "seq": 1},
    "mod.hide": {"room": "lounge-cardiology", "seq": 1, "reason": "rude"},
    "mod.unhide": {"room": "lounge-cardiology", "seq": 1},
    "mod.mute": {"room": "lounge-cardiology", "pseudonym": "ab" * 16, "minutes": 5},
    "mod.kick": {"room": "lounge-cardiology", "pseudonym": "ab" * 16},
    "mod.ban": {"room": "lounge-cardiology", "pseudonym": "ab" * 16, "reason": "spam"},
    "mod.unban": {"room": "lounge-cardiology", "pseudonym": "ab" * 16},
    "report": {"room": "lounge-cardiology", "seq": 1, "reason": "spam"},
    "presence.set": {"status": "available", "on_call": True},
    "offer.accept": {"offer": f"{uuid.uuid4()}:1"},
    "offer.decline": {"offer": f"{uuid.uuid4()}:1"},
    "oncall.list": {"specialty": "cardiology"},
    "rooms.list": {},
    "offers.list": {},
    "notifications.list": {"limit": 10},
    "notifications.read": {"ids": [1]},
    "case.follow": {"case": str(uuid.uuid4())},
    "room.mute": {"room": "lounge-cardiology", "until": 2_000_000_000.0},
    "search": {"q": "syncope"},
}
# Free text (bodies, moderation reasons, a search query pasted from a note): newlines and tabs
# are fine there.
TEXT_FIELDS = {"body", "reason", "q"}
OPS = [t.__struct_config__.tag for t in protocol.REQUEST_TYPES]

# C0 (NUL first), DEL, C1, and the invisible bidi / zero-width / BOM controls.
CONTROLS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
            "\u202a", "\u202e", "\u2066", "\u2069", "\u200b", "\u200e", "\u200f", "\ufeff"]
INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200b", "\u200e", "\u200f", "\ufeff", "\u061c", "\u2060"]


def _frame(op: str, ref="r-1", **overrides) -> str:
    return json.dumps({"op": op, "ref": ref, **VALID[op], **overrides})


def _refused(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_request(text)
    return info.value


def _fields(kind: type[msgspec.inspect.Type]) -> list[tuple[str, str, bool]]:
    """(op, field, in_a_list) for every field of every op whose type includes ``kind``."""
    out = []
    for t in protocol.REQUEST_TYPES:
        for f in msgspec.inspect.type_info(t).fields:
            types = f.type.types if isinstance(f.type, msgspec.inspect.UnionType) else (f.type,)
            for member in types:
                if isinstance(member, kind):
                    out.append((t.__struct_config__.tag, f.name, False))
                elif (isinstance(member, msgspec.inspect.ListType)
                      and isinstance(member.item_type, kind)):
                    out.append((t.__struct_config__.tag, f.name, True))
    return out


STRING_FIELDS = [x for x in _fields(msgspec.inspect.StrType) if x[1] != "ref"]
IDENTIFIER_FIELDS = [x for x in STRING_FIELDS if x[1] not in TEXT_FIELDS]
INT_FIELDS = [x for x in _fields(msgspec.inspect.IntType) if x[1] != "ref"]


def test_the_valid_frames_cover_every_op_and_parse():
    assert sorted(VALID) == sorted(OPS)
    for op in OPS:
        assert parse_request(_frame(op)).ref == "r-1"
    # The walk found the identifier fields the schema has today (and will find new ones).
    assert {(op, f) for op, f, _ in IDENTIFIER_FIELDS} >= {
        ("room.join", "room"), ("message.send", "client_id"), ("message.send", "mentions"),
        ("message.send", "attachments"), ("mod.ban", "pseudonym"), ("offer.decline", "offer"),
        ("offer.accept", "offer"), ("oncall.list", "specialty"), ("mod.mute", "pseudonym")}


@pytest.mark.parametrize("at", ["middle", "end"])
@pytest.mark.parametrize("control", [*CONTROLS, "\n", "\t", "\r"])
@pytest.mark.parametrize(("op", "field", "listed"), IDENTIFIER_FIELDS,
                         ids=[f"{op}.{f}" for op, f, _ in IDENTIFIER_FIELDS])
def test_control_characters_in_any_identifier_are_a_bad_request_naming_the_field(
        op, field, listed, control, at):
    good = VALID[op].get(field, "room")
    good = good[0] if listed else good
    # At the end too: a regex's ``$`` also matches before a final newline.
    spoiled = good[:3] + control + good[3:] if at == "middle" else good + control
    error = _refused(_frame(op, **{field: [spoiled] if listed else spoiled}))
    assert error.code == protocol.BAD_REQUEST
    assert error.details["field"] == (f"{field}[0]" if listed else field)
    assert field in error.message and "regex" not in error.message
    assert error.ref == "r-1"  # the frame's own ref is fine, so it is echoed


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize(("op", "field", "listed"),
                         [x for x in STRING_FIELDS if x[1] in TEXT_FIELDS],
                         ids=[f"{op}.{f}" for op, f, _ in STRING_FIELDS if f in TEXT_FIELDS])
def test_control_and_invisible_characters_in_free_text_are_refused(op, field, listed, control):
    error = _refused(_frame(op, **{field: f"see{control}here"}))
    assert error.code == protocol.BAD_REQUEST and error.details["field"] == field
    assert "regex" not in error.message


@pytest.mark.parametrize("body", [
    "مرحبا، المريض مستقر",  # Arabic
    "שלום, המטופל יציב",  # Hebrew
    "BP 120/80 — مرحبا — ok",  # mixed directions, no controls
    "می\u200cخواهم",  # Persian needs ZWNJ between its letters
    "👩\u200d⚕\ufe0f on call",  # an emoji ZWJ sequence (woman health worker)
    "line one\nline two\ttabbed\r\n",
])
def test_legitimate_text_passes(body):
    for op in ("message.send", "message.edit"):
        assert parse_request(_frame(op, body=body)).body == body


@pytest.mark.parametrize("body", ["Jo\u200dhn Smith", "555\u200c1234", "\u200dstart",
                                  "end\u200c", "ok \u200d ok", "مرحبا\u200d", "مرحبا\u200d\n"])
def test_joiners_outside_a_script_that_needs_them_are_refused(body):
    error = _refused(_frame("message.send", body=body))
    assert error.code == protocol.BAD_REQUEST and error.details["field"] == "body"


@pytest.mark.parametrize("char", INVISIBLE)
def test_bidi_and_zero_width_controls_are_refused_in_bodies(char):
    error = _refused(_frame("message.send", body=f"مرحبا {char}abc"))
    assert error.code == protocol.BAD_REQUEST and error.details["field"] == "body"


@pytest.mark.parametrize(("op", "field", "listed"), INT_FIELDS,
                         ids=[f"{op}.{f}" for op, f, _ in INT_FIELDS])
@pytest.mark.parametrize("value", [2**63, 2**64, 10**30, -(2**63) - 1])
def test_integers_outside_a_bigint_are_a_bad_request_naming_the_field(op, field, listed, value):
    error = _refused(json.dumps({"op": op, "ref": "r-2", **VALID[op], field: value}))
    assert error.code == protocol.BAD_REQUEST and error.details["field"] == field
    assert error.ref == "r-2"


def test_the_largest_bigint_is_accepted_where_the_field_has_no_smaller_bound():
    big = 2**63 - 1
    assert parse_request(_frame("message.send", reply_to=big)).reply_to == big
    assert parse_request(_frame("room.join", since=big)).since == big
    assert parse_request(_frame("room.history", before=big)).before == big
    assert parse_request(_frame("read", seq=big)).seq == big
    assert parse_request(json.dumps({"op": "ping", "ref": big})).ref == big
    assert _refused(json.dumps({"op": "ping", "ref": big + 1})).details["field"] == "ref"


# --- room ids -------------------------------------------------------------------------------

@pytest.mark.parametrize("room", [
    "lounge cardiology", " lounge-cardiology", "lounge-cardiology ", "lounge-\x00",
    "lounge-cardio\x00logy", "lounge/../case-1", "lounge-card/iology", "lounge-🫀", "🫀",
    "LOUNGE-CARDIOLOGY", "lounge-", "lounge--x", "lounge-x-", "case-", "case-xyz", "case-ABCD",
    "room-1", "general", "", "lounge-" + "a" * 60, "lounge-\u202ecardiology", "lounge_x",
    "lounge-cardiology\n", "case-0123456789abcdef\n",
])
def test_room_ids_outside_the_alphabet_are_a_bad_request(room):
    for op in ("room.join", "message.send", "mod.kick"):
        error = _refused(_frame(op, room=room))
        assert error.code == protocol.BAD_REQUEST and error.details["field"] == "room", room
        assert "room" in error.message and "regex" not in error.message


def test_every_room_the_server_creates_fits_the_alphabet():
    from physicians.taxonomy import SPECIALTIES
    from rooms.lounges import GENERAL_LOUNGE, lounge_id

    names = [GENERAL_LOUNGE, "lounge-no-such-thing", f"case-{uuid.uuid4().hex[:16]}",
             *(lounge_id(slug) for slug, *_ in SPECIALTIES)]
    for name in names:
        assert parse_request(_frame("room.join", room=name)).room == name
    # The case-room id format of rooms.services.case_room_create.
    import inspect

    from rooms import services
    assert 'id=f"case-{uuid.uuid4().hex[:16]}"' in inspect.getsource(services.case_room_create)


def test_specialty_slugs_follow_the_taxonomy_alphabet():
    from physicians.taxonomy import SPECIALTIES

    for slug, *_ in SPECIALTIES:
        assert parse_request(_frame("oncall.list", specialty=slug)).specialty == slug
    for bad in ("Cardiology", "cardio logy", "cardio/../x", "cardiology\x00", "-x", ""):
        assert _refused(_frame("oncall.list", specialty=bad)).details["field"] == "specialty"


# --- nesting --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,  # not even an object: the slow path's generic decode
    "[" * 100_000,  # unterminated
    '{"op": "ping", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",  # the fast path skips it
    '{"op": "ping", "x": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}",
    '{"op": "room.join", "room": ' + "[" * 100_000 + "]" * 100_000 + "}",  # slow path
    '{"op": "ping", "ref": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
def test_deeply_nested_json_is_a_bad_frame(text):
    error = _refused(text)
    assert error.code == protocol.BAD_FRAME and error.ref is None
    assert "nested" in error.message


def test_nesting_just_under_the_decoders_limit_never_escapes_as_an_exception():
    """Whatever the depth, parse_request answers with a Request or a ProtocolError (the
    recursion limit depends on how deep the caller's stack already is)."""
    for depth in range(800, 1200, 7):
        for text in ('{"op": "ping", "x": ' + "[" * depth + "]" * depth + "}",
                     '{"op": "room.join", "room": ' + "[" * depth + "]" * depth + "}"):
            try:
                parse_request(text)
            except ProtocolError as exc:
                assert exc.code in (protocol.BAD_FRAME, protocol.BAD_REQUEST)


# --- ref ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["x" * 30_000, "x" * (protocol.REF_MAX_CHARS + 1),
                                 "r\x00", "r\n1", "\u202eref"])
@pytest.mark.parametrize("op", ["ping", "room.join", "message.send", "no.such.op"])
def test_a_bad_ref_is_refused_and_never_echoed(op, ref):
    args = VALID.get(op, {})
    # Both paths: a frame that is otherwise valid (the fast decode) and one that is not.
    for frame in ({"op": op, "ref": ref, **args}, {"op": op, "ref": ref}):
        error = _refused(json.dumps(frame))
        assert error.code == protocol.BAD_REQUEST and error.details["field"] == "ref"
        assert error.ref is None
        reply = error.reply()
        assert ref not in reply and json.loads(reply)["ref"] is None
        assert len(reply) < 300


def test_a_ref_at_the_limit_is_echoed():
    ref = "r" * protocol.REF_MAX_CHARS
    assert parse_request(_frame("ping", ref=ref)).ref == ref
    assert _refused(json.dumps({"op": "room.join", "ref": ref})).ref == ref


def test_refusal_messages_do_not_dump_the_schema_regexes():
    for text in (_frame("room.join", room="lounge x"), _frame("message.send", client_id="a\x00"),
                 _frame("message.send", body="\u202e")):
        message = _refused(text).message
        assert not re.search(r"\\x|\\u|\[\^", message), message


def test_refusals_never_quote_a_long_or_hostile_value():
    long = "x" * 30_000
    for text in (json.dumps({"op": "presence.set", "ref": "r", "status": long}),
                 json.dumps({"op": "mod.ban", "ref": "r", **VALID["mod.ban"], "scope": long}),
                 json.dumps({"op": "room.join", "ref": "r", "room": long})):
        reply = _refused(text).reply()
        assert "xxxx" not in reply and len(reply) < 400, reply
    error = _refused(json.dumps({"op": "evil\x00\u202eop", "ref": "r"}))
    assert error.code == protocol.UNKNOWN_OP and error.details["op"] == "?"
