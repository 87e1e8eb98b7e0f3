"""Per-room pseudonyms: unlinkable across rooms, stable per room, readable handles."""

from __future__ import annotations

import re

from crypto import keys
from crypto.pseudonyms import ADJECTIVES, NOUNS, pseudonym_handle, pseudonym_id

USER = "5b1e7a3c-2f44-4c61-9d1e-0a8e6f3b2c11"


def test_same_user_differs_between_rooms_and_is_stable_within_one():
    a = pseudonym_id(user_id=USER, room_id="room-1")
    b = pseudonym_id(user_id=USER, room_id="room-2")
    assert a != b
    assert pseudonym_id(user_id=USER, room_id="room-1") == a
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    assert USER.replace("-", "") not in a


def test_different_users_in_one_room_differ():
    ids = {pseudonym_id(user_id=f"user-{i}", room_id="room-1") for i in range(200)}
    assert len(ids) == 200


def test_pseudonyms_depend_on_the_keyring(isolated_keys):
    before = pseudonym_id(user_id=USER, room_id="room-1")
    isolated_keys.unlink()
    keys.reset()
    assert pseudonym_id(user_id=USER, room_id="room-1") != before


def test_field_separator_prevents_ambiguous_inputs():
    assert pseudonym_id(user_id="ab", room_id="c") != pseudonym_id(user_id="a", room_id="bc")


def test_handles_read_well_and_end_with_the_id():
    pid = pseudonym_id(user_id=USER, room_id="room-1")
    handle = pseudonym_handle(pid)
    m = re.fullmatch(r"Dr\. (\w+) (\w+) · ([0-9a-f]{4})", handle)
    assert m and m.group(1) in ADJECTIVES and m.group(2) in NOUNS and m.group(3) == pid[-4:]
    assert pseudonym_handle(pid) == handle


def test_word_lists_cover_every_byte_without_bias():
    assert len(ADJECTIVES) == len(set(ADJECTIVES)) == 64
    assert len(NOUNS) == len(set(NOUNS)) == 64
    handles = {pseudonym_handle(f"{i:02x}{j:02x}" + "0" * 28) for i in (0, 63) for j in (0, 63)}
    assert len(handles) == 4
