"""Which characters client-supplied strings may hold: one place for the socket schema
(bus/protocol.py) and the HTTP API (core/http.py). docs/protocol.md ("Identifiers and
limits") is the contract.

Three rules:

* identifiers (room ids, client_ids, pseudonyms, offer ids, refs, slugs …): no control
  character at all — C0 (NUL … US, so no TAB or newline either), DEL, C1 — and none of the
  invisible formatting characters below. PostgreSQL cannot store a NUL in text, and an
  identifier nobody can see whole cannot be told apart from another one.
* text people read (message bodies, case summaries, reasons): TAB, LF and CR are fine; the
  other controls and the invisible formatting characters are refused. These are the
  bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069: "Trojan
  Source" reordering), the marks U+200E, U+200F, U+061C, the zero-width space U+200B, the
  word joiner and invisible operators U+2060–U+206F, the line/paragraph separators
  U+2028–U+2029 and the byte-order mark U+FEFF. Right-to-left *letters* (Arabic, Hebrew,
  Persian …) are ordinary characters and pass: they need none of these controls.
* the zero-width non-joiner and joiner (U+200C, U+200D) are part of how Persian, Urdu and
  Indic scripts are spelled and of emoji sequences (👩‍⚕️ is three code points held together
  by U+200D), so text may hold them — but only between two non-ASCII characters. Anywhere
  else (inside "John", inside a phone number) they only hide something, and are refused.

Refusing, never stripping: what the author sees is exactly what is stored and shown, and a
client that inserts these characters by mistake learns it at once.
"""

from __future__ import annotations

import re

# Regex fragments (inside a character class). Kept as escapes so the patterns print legibly.
_C0_C1 = r"\x00-\x1f\x7f-\x9f"
_C0_C1_BUT_TAB_LF_CR = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_INVISIBLE = r"\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff"
_JOINERS = r"\u200c\u200d"

# ``\Z``, not ``$``: ``$`` also matches before a final newline ("room\n" would pass).
IDENTIFIER_PATTERN = rf"^[^{_C0_C1}{_INVISIBLE}{_JOINERS}]*\Z"
TEXT_PATTERN = rf"^[^{_C0_C1_BUT_TAB_LF_CR}{_INVISIBLE}]*\Z"
LINE_PATTERN = rf"^[^{_C0_C1}{_INVISIBLE}]*\Z"  # text on one line: a name, a country …

# A specialty slug as physicians/taxonomy.py writes them: "cardiology", "heart-failure".
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z"
# Every room id the server creates: "lounge-<slug>" (rooms/lounges.py; "lounge-general" too)
# and "case-<hex>" (rooms.services.case_room_create).
ROOM_ID_PATTERN = r"^(?:lounge-[a-z0-9]+(?:-[a-z0-9]+)*|case-[0-9a-f]+)\Z"

# The largest integer a PostgreSQL bigint (and an SQLite INTEGER) holds.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

_identifier = re.compile(IDENTIFIER_PATTERN)
_text = re.compile(TEXT_PATTERN)
_line = re.compile(LINE_PATTERN)
# A joiner that is not between two non-ASCII characters (or sits next to another joiner).
_stray_joiner = re.compile(rf"(?<![^\x00-\x7f{_JOINERS}])[{_JOINERS}]"
                           rf"|[{_JOINERS}](?![^\x00-\x7f{_JOINERS}])")


def joiner_misplaced(value: str) -> bool:
    """Whether ``value`` has a ZWNJ/ZWJ that is not between two non-ASCII characters.
    Costs two substring scans for the text that has none (nearly all)."""
    if "\u200c" not in value and "\u200d" not in value:
        return False
    return _stray_joiner.search(value) is not None


_room_id = re.compile(ROOM_ID_PATTERN)


def room_id_ok(value: str) -> bool:
    return len(value) <= 64 and _room_id.search(value) is not None


def identifier_ok(value: str) -> bool:
    return _identifier.search(value) is not None


def text_ok(value: str, *, multiline: bool = True) -> bool:
    """Whether ``value`` is acceptable text to store and show (see the module docstring)."""
    return ((_text if multiline else _line).search(value) is not None
            and not joiner_misplaced(value))


# The rules in words, for refusals ("'client_id' may hold …").
IDENTIFIER_RULE = "may hold no control, invisible or bidirectional formatting characters"
TEXT_RULE = ("may hold no control characters but tab and newlines, and no invisible or "
             "bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069, U+200B, "
             "U+200E, U+200F, U+FEFF …); U+200C and U+200D only between two non-ASCII characters")
LINE_RULE = ("may hold no control characters and no invisible or bidirectional formatting "
             "characters; U+200C and U+200D only between two non-ASCII characters")
