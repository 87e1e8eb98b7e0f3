"""Envelope encryption of room messages: binding, tamper detection, epochs, erasure."""

from __future__ import annotations

import dataclasses

import pytest

from crypto import envelope
from crypto.aead import DecryptError
from crypto.envelope import (
    KeysDestroyed,
    Sealed,
    author_keys_destroy,
    blob_open,
    blob_seal,
    message_open,
    message_seal,
    room_epoch_advance,
)
from crypto.models import AuthorKey, RoomKey

pytestmark = pytest.mark.django_db

ROOM, OTHER_ROOM = "room-a", "room-b"
ALICE, BOB = "a" * 32, "b" * 32


def seal(body: bytes, *, room=ROOM, mid="m1", seq=1, author=ALICE) -> Sealed:
    return message_seal(room_id=room, message_id=mid, seq=seq, author=author, body=body)


def open_(sealed: Sealed, *, room=ROOM, mid="m1", seq=1, author=ALICE) -> bytes:
    return message_open(room_id=room, message_id=mid, seq=seq, author=author, sealed=sealed)


def test_round_trip_and_no_plaintext_in_what_is_stored():
    body = b"unexpected hyperkalaemia after the second dose"
    sealed = seal(body)
    assert open_(sealed) == body
    assert body not in sealed.blob
    # The data keys are stored only wrapped: nothing in the tables equals the body or a key
    # that opens it without the keyring.
    for row in RoomKey.objects.all():
        assert len(bytes(row.wrapped)) > 32 and row.kek_version == 1


def test_every_single_bit_flip_is_rejected():
    sealed = seal(b"grey-zone case: should we have intubated?")
    for i in range(len(sealed.blob) * 8):
        blob = bytearray(sealed.blob)
        blob[i // 8] ^= 1 << (i % 8)
        with pytest.raises(DecryptError):
            open_(dataclasses.replace(sealed, blob=bytes(blob)))
    # Truncated and extended blobs too.
    with pytest.raises(DecryptError):
        open_(dataclasses.replace(sealed, blob=sealed.blob[:-1]))
    with pytest.raises(DecryptError):
        open_(dataclasses.replace(sealed, blob=sealed.blob + b"\x00"))


@pytest.mark.parametrize(
    "moved",
    [
        {"mid": "m2"},
        {"seq": 2},
        {"author": BOB},
    ],
)
def test_ciphertext_moved_to_another_message_seq_or_author_is_rejected(moved):
    seal(b"bob speaks", author=BOB, mid="m0", seq=0)  # BOB has an author key in this room
    sealed = seal(b"what alice said")
    with pytest.raises(DecryptError):
        open_(sealed, **moved)


def test_ciphertext_moved_to_another_room_is_rejected():
    seal(b"other room exists", room=OTHER_ROOM)
    sealed = seal(b"what alice said")
    with pytest.raises(DecryptError):
        open_(sealed, room=OTHER_ROOM)
    # Even when the row claims the other room's key id.
    other_key = RoomKey.objects.get(room_id=OTHER_ROOM)
    forged = dataclasses.replace(sealed, key_id=other_key.pk)
    with pytest.raises(DecryptError):
        open_(forged, room=OTHER_ROOM)


def test_ciphertext_moved_to_another_epoch_is_rejected():
    sealed = seal(b"epoch one")
    room_epoch_advance(room_id=ROOM)
    later = seal(b"epoch two", mid="m2", seq=2)
    assert later.epoch == sealed.epoch + 1 and later.key_id != sealed.key_id
    with pytest.raises(DecryptError):
        open_(dataclasses.replace(sealed, epoch=later.epoch))
    with pytest.raises(DecryptError):
        open_(dataclasses.replace(sealed, epoch=later.epoch, key_id=later.key_id))
    assert open_(sealed) == b"epoch one"


def test_epoch_advance_uses_a_fresh_key_and_old_messages_still_open():
    first = seal(b"before the member left")
    new_epoch = room_epoch_advance(room_id=ROOM)
    second = seal(b"after the member left", mid="m2", seq=2)
    assert second.epoch == new_epoch == first.epoch + 1
    keys = {bytes(r.wrapped) for r in RoomKey.objects.filter(room_id=ROOM)}
    assert len(keys) == 2
    assert RoomKey.objects.filter(room_id=ROOM, current=True).count() == 1
    envelope.cache_clear()  # a fresh process reads everything back from the tables
    assert open_(first) == b"before the member left"
    assert open_(second, mid="m2", seq=2) == b"after the member left"


def test_epoch_rolls_over_after_the_configured_number_of_messages(settings):
    settings.CURBSIDE_EPOCH_MESSAGES = 3
    sealed = [seal(f"msg {i}".encode(), mid=f"m{i}", seq=i) for i in range(7)]
    assert [s.epoch for s in sealed] == [1, 1, 1, 2, 2, 2, 3]
    assert list(
        RoomKey.objects.filter(room_id=ROOM).order_by("epoch").values_list("message_count", flat=True)
    ) == [3, 3, 1]
    envelope.cache_clear()
    for i, s in enumerate(sealed):
        assert open_(s, mid=f"m{i}", seq=i) == f"msg {i}".encode()


def test_hot_room_seals_with_one_query_per_message(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        seal(b"warm the caches")
    with django_assert_num_queries(1):
        seal(b"second message", mid="m2", seq=2)


def test_keys_from_a_rolled_back_transaction_are_not_cached():
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        seal(b"never stored")
        raise RuntimeError("the message insert failed")
    assert not AuthorKey.objects.exists() and not RoomKey.objects.exists()
    # Another writer now creates the keys for real; this process must use theirs.
    AuthorKey.objects.all().delete()
    envelope._author_key_create(ROOM, ALICE)
    kept = seal(b"stored")
    envelope.cache_clear()
    assert open_(kept) == b"stored"


def test_erasure_destroys_one_author_and_leaves_the_rest_of_the_room():
    alice = seal(b"alice's doubt", mid="m1", seq=1, author=ALICE)
    bob = seal(b"bob's reply", mid="m2", seq=2, author=BOB)
    elsewhere = seal(b"alice elsewhere", room=OTHER_ROOM, author=ALICE)
    attachment = blob_seal(room_id=ROOM, attachment_id="att1", body=b"\x89PNG...", author=ALICE)

    assert author_keys_destroy(authors=[(ROOM, ALICE)]) == 1

    with pytest.raises(KeysDestroyed):
        open_(alice, mid="m1", seq=1, author=ALICE)
    with pytest.raises(KeysDestroyed):
        blob_open(room_id=ROOM, attachment_id="att1", sealed=attachment, author=ALICE)
    assert open_(bob, mid="m2", seq=2, author=BOB) == b"bob's reply"
    assert open_(elsewhere, room=OTHER_ROOM) == b"alice elsewhere"
    assert not AuthorKey.objects.filter(room_id=ROOM, pseudonym=ALICE).exists()

    # Posting again later makes a new author key: the old messages stay unreadable.
    again = seal(b"new message", mid="m3", seq=3)
    assert open_(again, mid="m3", seq=3) == b"new message"
    envelope.cache_clear()
    with pytest.raises(DecryptError):
        open_(alice, mid="m1", seq=1, author=ALICE)


def test_attachments_are_bound_to_room_and_attachment_id():
    sealed = blob_seal(room_id=ROOM, attachment_id="att1", body=b"image bytes")
    assert blob_open(room_id=ROOM, attachment_id="att1", sealed=sealed) == b"image bytes"
    with pytest.raises(DecryptError):
        blob_open(room_id=ROOM, attachment_id="att2", sealed=sealed)
    # Message and attachment domains are separate: an attachment is not a message.
    with pytest.raises(DecryptError):
        message_open(room_id=ROOM, message_id="att1", seq=0, author=ALICE, sealed=sealed)
    flipped = bytearray(sealed.blob)
    flipped[-1] ^= 1
    with pytest.raises(DecryptError):
        blob_open(room_id=ROOM, attachment_id="att1", sealed=dataclasses.replace(sealed, blob=flipped))


def test_destroyed_epoch_key_is_reported_as_destroyed():
    sealed = seal(b"gone")
    RoomKey.objects.all().delete()
    envelope.cache_clear()
    with pytest.raises(KeysDestroyed):
        open_(sealed)


def test_a_page_of_one_author_derives_the_content_key_once(monkeypatch):
    """History pages memoize the derived content key per (room, author, epoch, keys): a
    page of one author's messages derives it once, and every message still opens."""
    sealed = [seal(f"note {i}".encode(), mid=f"m{i}", seq=i) for i in range(1, 21)]
    envelope.cache_clear()
    derived = []
    real = envelope._derive
    monkeypatch.setattr(envelope, "_derive", lambda *a, **k: derived.append(a[0]) or real(*a, **k))
    for i, s in enumerate(sealed, start=1):
        assert open_(s, mid=f"m{i}", seq=i) == f"note {i}".encode()
    assert derived == [b"message"]
    # The memo never vouches for a message: a moved ciphertext still fails.
    with pytest.raises(DecryptError):
        open_(sealed[0], mid="m2", seq=2)


def test_erasure_also_drops_the_memoized_content_key():
    old = seal(b"before erasure", mid="m1", seq=1)
    assert open_(old) == b"before erasure"  # memoized now
    author_keys_destroy(authors=[(ROOM, ALICE)])
    assert not [m for m in envelope._content_keys._items if m[:2] == (ROOM, ALICE)]
    with pytest.raises(KeysDestroyed):
        open_(old)
    # A new author key for the same author: new messages open, old ones never do (the
    # memo is keyed by the key material too), without any cache being cleared.
    new = seal(b"after erasure", mid="m2", seq=2)
    assert open_(new, mid="m2", seq=2) == b"after erasure"
    with pytest.raises(DecryptError):
        open_(old)
