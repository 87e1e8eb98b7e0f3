"""Hypothesis strategies for socket frames, structure-aware: built from the op schemas in
``bus/protocol.py`` (``msgspec.inspect``), so a new op or field is fuzzed without an edit here.

Two families:

* ``valid_frames()`` — every op of ``protocol.REQUEST_TYPES`` with values its schema accepts
  (identifiers by ``core.text.identifier_ok``, text by ``text_ok``, integers within their
  bounds), aimed at a few real and unknown rooms;
* ``hostile_frames()`` — a valid frame with one thing wrong: a field of the wrong JSON type,
  out of bounds (integers past int64, strings past their length), holding a NUL, control,
  bidi or zero-width character, an id that is no identifier, a required field missing, an
  unknown field, an unknown or ``$``-prefixed op, a ``ref`` that breaks its own rule; or no
  frame at all (not JSON, not an object, nested past the parser's depth).

Each example is a ``Frame``: the text to send, what was done to it (``kind``) and whether
the schema must refuse it (``refused``) — a strategy that builds a "hostile" frame the schema
happens to accept would test nothing, so the fuzz test checks that too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from bus import protocol
from core.text import (
    IDENTIFIER_PATTERN,
    INT64_MAX,
    INT64_MIN,
    ROOM_ID_PATTERN,
    SLUG_PATTERN,
    TEXT_PATTERN,
    identifier_ok,
    room_id_ok,
    text_ok,
)

# Ops by name, and each op's fields (``ref`` aside: it is fuzzed on its own).
OPS: dict[str, type[protocol.Request]] = {t.__struct_config__.tag: t
                                          for t in protocol.REQUEST_TYPES}
FIELDS: dict[str, tuple[mi.Field, ...]] = {
    op: tuple(f for f in mi.type_info(t).fields if f.name != "ref") for op, t in OPS.items()}

# Rooms a valid frame names: set by the test to the ones it joined, plus rooms that exist
# but the socket has not joined, and well-formed ids of no room at all.
ROOMS = ["lounge-cardiology", "lounge-dermatology", "lounge-no-such-specialty", "case-0",
         "case-00ff00ff00ff00ff"]
SPECIALTIES = ["cardiology", "nephrology", "no-such-specialty"]
# Longest strings a valid frame carries where the schema sets no bound (message bodies):
# long enough to matter, short enough for many examples a second.
TEXT_MAX = 300
# Characters that break identifiers (all of them) and text (all but TAB/LF/CR): C0, DEL, C1,
# bidi overrides and isolates, zero-width and invisible formatting characters, the BOM.
FORBIDDEN_CHARS = ["\x00", "\x01", "\x08", "\x1b", "\x7f", "\x85", "\x9f", "\u061c", "\u200b",
                   "\u200e", "\u202e", "\u2066", "\u2069", "\u2028", "\u2060", "\ufeff"]
# Also refused in identifiers and one-line fields (fine in message text).
LINE_BREAKS = ["\t", "\n", "\r"]
# Strings no room id may be: spaces, slashes, capitals, emoji, path tricks, other prefixes.
NOT_ROOM_IDS = ["lounge cardiology", "lounge-/..", "../lounge-x", "LOUNGE-X", "lounge-🫀",
                "lounge--x", "lounge-x-", "case-XYZ", "room-1", "", "lounge-" + "a" * 60,
                "case-0\n", "lounge-x\u200b"]
# Names no client op may have: "$"-prefixed (reserved for the server's own tags, such as
# the decoder's placeholder), the server's frame kinds, JavaScript's magic keys.
RESERVED_OPS = ["$reserved", "$", "$ping", "$room.join", "$message.send", "reply", "event",
                "__proto__", "constructor", "hasOwnProperty"]
# Integers past what a signed 64-bit column holds, both ways.
OUT_OF_INT64 = [INT64_MAX + 1, INT64_MIN - 1, 2**64, -(2**64), 10**30]


@dataclass(frozen=True)
class Frame:
    text: str
    kind: str  # what was done: "valid", "wrong_type:room", "unknown_op" …
    refused: bool  # the schema must refuse it (bus.protocol.parse_request raises)
    ref: Any = None  # the ref it carries when that ref is valid (the reply echoes it)

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return f"Frame({self.kind}: {self.text[:300]!r})"


def _chars() -> st.SearchStrategy[str]:
    # Any Unicode scalar value except surrogates (JSON text cannot carry them alone).
    return st.characters(codec="utf-8")


def identifiers(min_size: int = 1, max_size: int = 64) -> st.SearchStrategy[str]:
    return st.text(_chars(), min_size=min_size, max_size=max_size).filter(identifier_ok)


def texts(min_size: int = 0, max_size: int = TEXT_MAX) -> st.SearchStrategy[str]:
    return st.text(_chars(), min_size=min_size, max_size=max_size).filter(text_ok)


def _valid_str(t: mi.StrType) -> st.SearchStrategy[str]:
    low = t.min_length or 0
    high = t.max_length if t.max_length is not None else TEXT_MAX
    if t.pattern == ROOM_ID_PATTERN:
        return st.sampled_from(ROOMS) | st.from_regex(ROOM_ID_PATTERN, fullmatch=True).filter(
            room_id_ok)
    if t.pattern == SLUG_PATTERN:
        return st.sampled_from(SPECIALTIES) | st.from_regex(SLUG_PATTERN, fullmatch=True).filter(
            lambda s: low <= len(s) <= high)
    if t.pattern == IDENTIFIER_PATTERN:
        return identifiers(max(low, 1) if low else 0, min(high, 64))
    if t.pattern == TEXT_PATTERN:
        return texts(low, min(high, TEXT_MAX))
    return st.text(min_size=low, max_size=min(high, TEXT_MAX))


def valid_value(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values the schema type ``t`` accepts."""
    if isinstance(t, mi.StrType):
        return _valid_str(t)
    if isinstance(t, mi.IntType):
        return st.integers(min_value=t.ge, max_value=t.le)
    if isinstance(t, mi.FloatType):  # JSON numbers; msgspec takes an int for a float too
        low = t.ge if t.ge is not None else -1e12
        high = t.le if t.le is not None else 1e12
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.UnionType):
        return st.one_of([valid_value(member) for member in t.types])
    if isinstance(t, mi.ListType):
        return st.lists(valid_value(t.item_type), max_size=min(t.max_length or 5, 5))
    raise TypeError(f"no strategy for {t!r}: extend tests/support/frames.py")


def _accepts(t: mi.Type, kind: type) -> bool:
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    return any(isinstance(m, kind) for m in members)


def _str_types(t: mi.Type) -> list[mi.StrType]:
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    return [m for m in members if isinstance(m, mi.StrType)]


def wrong_type(t: mi.Type) -> st.SearchStrategy[Any]:
    """JSON values of a kind ``t`` does not take."""
    options = [st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)]
    if not _accepts(t, mi.FloatType):  # a float field takes any number, integers included
        options.append(st.floats(allow_nan=False, allow_infinity=False)
                       .filter(lambda f: f != int(f)))
    if not _accepts(t, mi.StrType) and not _accepts(t, mi.LiteralType):
        options.append(st.text(max_size=20))
    if not _accepts(t, mi.IntType) and not _accepts(t, mi.FloatType):
        options.append(st.integers())
    if not _accepts(t, mi.BoolType):
        options.append(st.booleans())
    if not _accepts(t, mi.NoneType):
        options.append(st.none())
    if not _accepts(t, mi.ListType):
        options.append(st.lists(st.integers(), max_size=3))
    else:  # a list whose items are of the wrong kind
        options.append(st.lists(st.integers() | st.none() | st.booleans(), min_size=1, max_size=3))
    return st.one_of(options)


def out_of_bounds(t: mi.Type) -> st.SearchStrategy[Any] | None:
    """Values of the right kind that break a bound: past int64 or the field's range, longer
    than its limit, a literal it does not list, a list longer than it may be."""
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    options = []
    for m in members:
        if isinstance(m, mi.IntType):
            options.append(st.sampled_from(OUT_OF_INT64))
            if m.ge is not None and m.ge > INT64_MIN:
                options.append(st.integers(max_value=m.ge - 1, min_value=m.ge - 1000))
            if m.le is not None and m.le < INT64_MAX:
                options.append(st.integers(min_value=m.le + 1, max_value=m.le + 1000))
        elif isinstance(m, mi.FloatType):
            if m.ge is not None:
                options.append(st.floats(min_value=m.ge - 1000, max_value=m.ge - 0.5))
            if m.le is not None:
                options.append(st.floats(min_value=m.le + 0.5, max_value=m.le + 1000))
        elif isinstance(m, mi.StrType) and m.max_length is not None:
            # Oversize, and well within the 64 KB frame limit (a larger frame closes: 1009).
            options.append(st.integers(m.max_length + 1, m.max_length + 2000).map(lambda n: "a" * n))
        elif isinstance(m, mi.StrType) and m.min_length:
            options.append(st.just(""))
        elif isinstance(m, mi.LiteralType):
            options.append(st.text(max_size=20).filter(lambda s, v=m.values: s not in v))
        elif isinstance(m, mi.ListType) and m.max_length is not None:
            options.append(st.lists(valid_value(m.item_type), min_size=m.max_length + 1,
                                    max_size=m.max_length + 3))
    return st.one_of(options) if options else None


def with_forbidden_char(t: mi.StrType) -> st.SearchStrategy[str]:
    """A string the field would take but for one control, bidi or invisible character."""
    chars = FORBIDDEN_CHARS + (LINE_BREAKS if t.pattern != TEXT_PATTERN else [])
    base = _valid_str(t) if t.pattern != ROOM_ID_PATTERN else st.sampled_from(ROOMS)
    return st.tuples(base, st.sampled_from(chars), st.integers(0, 64)).map(
        lambda v: v[0][:v[2]] + v[1] + v[0][v[2]:])


def not_an_identifier(t: mi.StrType) -> st.SearchStrategy[str]:
    if t.pattern == ROOM_ID_PATTERN:
        return st.sampled_from(NOT_ROOM_IDS) | st.text(_chars(), max_size=30).filter(
            lambda s: not room_id_ok(s))
    if t.pattern == SLUG_PATTERN:
        return st.sampled_from(["Cardiology", "cardio logy", "-x", "x--y", "ü", "x/y"])
    return st.text(_chars(), min_size=1, max_size=30).filter(lambda s: not identifier_ok(s))


def _valid_ref() -> st.SearchStrategy[Any]:
    # Unique per example (drawn from a counter by the caller); here: its shape.
    return st.sampled_from(["str", "int"])


_counter = iter(range(1, 10**12))


def _ref(shape: str) -> str | int:
    n = next(_counter)
    return f"fz{n}" if shape == "str" else 10**12 + n


@st.composite
def _valid_args(draw, op: str) -> dict[str, Any]:
    args = {}
    for f in FIELDS[op]:
        if f.required or draw(st.booleans()):
            args[f.name] = draw(valid_value(f.type))
    return args


def _frame(obj: Any, kind: str, refused: bool, ref: Any) -> Frame:
    return Frame(json.dumps(obj, ensure_ascii=False), kind, refused, ref)


@st.composite
def valid_frames(draw, ops: list[str] | None = None) -> Frame:
    op = draw(st.sampled_from(ops or sorted(OPS)))
    ref = _ref(draw(_valid_ref()))
    return _frame({"op": op, "ref": ref, **draw(_valid_args(op))}, f"valid:{op}", False, ref)


def _field_mutations(op: str) -> list[tuple[str, str, st.SearchStrategy[Any], bool]]:
    """(kind, field, strategy of a bad value, whether the schema refuses it) for ``op``."""
    out = []
    for f in FIELDS[op]:
        out.append(("wrong_type", f.name, wrong_type(f.type), True))
        bound = out_of_bounds(f.type)
        if bound is not None:
            out.append(("out_of_bounds", f.name, bound, True))
        for s in _str_types(f.type):
            if s.pattern in (IDENTIFIER_PATTERN, TEXT_PATTERN, ROOM_ID_PATTERN, SLUG_PATTERN):
                out.append(("control_char", f.name, with_forbidden_char(s), True))
            if s.pattern in (IDENTIFIER_PATTERN, ROOM_ID_PATTERN, SLUG_PATTERN):
                out.append(("not_identifier", f.name, not_an_identifier(s), True))
            if s.pattern == TEXT_PATTERN and s.max_length is None:
                # Past the message limit, which the handler checks (too_large), not the schema.
                out.append(("oversize_text", f.name,
                            st.integers(8001, 12000).map(lambda n: "x" * n), False))
    return out


def _field_frames(op: str, field: str, values: st.SearchStrategy[Any], kind: str,
                  refused: bool) -> st.SearchStrategy[Frame]:
    @st.composite
    def build(draw) -> Frame:
        ref = _ref(draw(_valid_ref()))
        frame = {"op": op, "ref": ref, **draw(_valid_args(op)), field: draw(values)}
        return _frame(frame, f"{kind}:{op}.{field}", refused, ref)

    return build()


def _missing(op: str, field: str) -> st.SearchStrategy[Frame]:
    @st.composite
    def build(draw) -> Frame:
        ref = _ref(draw(_valid_ref()))
        frame = {"op": op, "ref": ref, **draw(_valid_args(op))}
        frame.pop(field, None)
        return _frame(frame, f"missing:{op}.{field}", True, ref)

    return build()


def _extra(op: str) -> st.SearchStrategy[Frame]:
    names = {f.name for f in FIELDS[op]} | {"op", "ref"}

    @st.composite
    def build(draw) -> Frame:
        ref = _ref(draw(_valid_ref()))
        frame = {"op": op, "ref": ref, **draw(_valid_args(op))}
        name = draw(st.text(_chars(), min_size=1, max_size=70).filter(lambda n: n not in names))
        frame[name] = draw(st.integers() | st.text(max_size=10) | st.none())
        return _frame(frame, f"extra_field:{op}", True, ref)

    return build()


@st.composite
def _bad_op(draw, names: st.SearchStrategy[str]) -> Frame:
    ref = _ref("str")
    op = draw(names)
    # Bare (as a ping would be), or with the fields of some real op.
    args = draw(st.just({}) | st.sampled_from(sorted(OPS)).flatmap(_valid_args))
    return _frame({"op": op, "ref": ref, **args}, "unknown_op", True, ref)


@st.composite
def _bad_ref(draw) -> Frame:
    ref = draw(st.one_of(
        st.sampled_from(OUT_OF_INT64),
        st.integers(65, 3000).map(lambda n: "r" * n),
        st.tuples(identifiers(0, 20), st.sampled_from(FORBIDDEN_CHARS + LINE_BREAKS)).map(
            lambda v: v[0] + v[1]),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
        st.booleans(), st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ))
    op = draw(st.sampled_from(sorted(OPS)))
    return _frame({"op": op, "ref": ref, **draw(_valid_args(op))}, "bad_ref", True, None)


@st.composite
def _no_frame(draw) -> Frame:
    """Not a JSON object at all: the reply is ``bad_frame`` (its ref cannot be read)."""
    text = draw(st.one_of(
        st.sampled_from(["", "{", "nul", "{'op': 'ping'}", '{"op": "ping",}', "\x00",
                         '{"op": "ping"} {"op": "ping"}', "\ufeff{}"]),
        st.builds(json.dumps, st.one_of(st.integers(), st.text(max_size=20), st.none(),
                                        st.lists(st.integers(), max_size=3), st.booleans())),
        st.text(_chars(), max_size=50),
    ))
    return Frame(text, "no_frame", True, None)


@st.composite
def _too_deep(draw) -> Frame:
    """Nested past the server's parsing depth (msgspec recurses once per level, up to the
    interpreter's limit, 1000 in the server): ``bad_frame``. Not parsed in the test process,
    whose limit hypothesis raises."""
    n = draw(st.integers(1500, 6000))
    text = draw(st.sampled_from(["[" * n + "]" * n,
                                 '{"op":"ping","x":' + "[" * n + "]" * n + "}",
                                 '{"op":"ping","ref":' + '{"a":' * n + "1" + "}" * n + "}"]))
    return Frame(text, "too_deep", True, None)


def hostile_cases() -> dict[str, st.SearchStrategy[Frame]]:
    """Every way to get a frame wrong, by name, each its own strategy: per op, per field,
    per mutation (wrong type, out of bounds, a forbidden character, not an identifier),
    a missing required field, an unknown field; unknown, reserved and ``$`` ops; bad refs;
    no frame at all; nesting past the parser's depth. One strategy per case, so that a
    modest number of examples still reaches all of them (hypothesis favours the first
    choices of a ``one_of``/``sampled_from``)."""
    cases: dict[str, st.SearchStrategy[Frame]] = {}
    for op in sorted(OPS):
        for kind, field, values, refused in _field_mutations(op):
            cases[f"{kind}:{op}.{field}"] = _field_frames(op, field, values, kind, refused)
        for f in FIELDS[op]:
            if f.required:
                cases[f"missing:{op}.{f.name}"] = _missing(op, f.name)
        cases[f"extra_field:{op}"] = _extra(op)
    cases["reserved_op"] = _bad_op(st.sampled_from(RESERVED_OPS))
    cases["dollar_op"] = _bad_op(st.text(_chars(), max_size=20).map(lambda s: "$" + s))
    cases["unknown_op"] = _bad_op(st.text(_chars(), max_size=40).filter(lambda s: s not in OPS)
                                  | st.sampled_from([o.upper() for o in OPS]
                                                    + [o + " " for o in OPS]))
    cases["bad_ref"] = _bad_ref()
    cases["no_frame"] = _no_frame()
    cases["too_deep"] = _too_deep()
    return cases


def hostile_frames() -> st.SearchStrategy[Frame]:
    """Any one of ``hostile_cases()``."""
    return st.one_of(list(hostile_cases().values()))


def refusal_code(frame: Frame) -> str | None:
    """The error code the schema answers ``frame`` with, or None when it parses."""
    if frame.kind == "too_deep":
        return protocol.BAD_FRAME
    text = frame.text
    try:
        protocol.parse_request(text)
    except protocol.ProtocolError as exc:
        return exc.code
    except msgspec.MsgspecError:  # never expected: parse_request maps every parse failure
        return "internal"
    return None
