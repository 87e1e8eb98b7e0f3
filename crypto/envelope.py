"""Envelope encryption of room messages and attachments.

Keys, from the outside in:

- the keyring's ``messages`` KEK (outside the database) wraps
- one random **epoch key** per (room, epoch) (``RoomKey``) and one random **author key** per
  (room, author pseudonym) (``AuthorKey``);
- each message's **content key** is ``HKDF-SHA256(epoch key ‖ author key)`` with the room,
  author, epoch and key id in ``info``, so destroying one author key (erasure) makes exactly
  that author's messages in that room unreadable while everyone else's still open.

Bodies are sealed with AES-256-GCM and a fresh random 96-bit nonce (crypto/aead.py). The
associated data binds the format byte, room id, message id, seq, epoch, author pseudonym and
key id: a ciphertext copied to another row, or presented with another seq or author, fails.

A new epoch starts on ``room_epoch_advance`` (membership change) and automatically after
``settings.CURBSIDE_EPOCH_MESSAGES`` messages, so a key that leaked (or a removed member's
view of one) covers a bounded stretch of the room.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max

from crypto import aead
from crypto.aead import DecryptError
from crypto.keycache import KeyCache
from crypto.keys import keyring
from crypto.models import AuthorKey, RoomKey

PURPOSE = "messages"
DATA_KEY_BYTES = 32
# First byte of every blob; bound into the associated data so it cannot be swapped.
BLOB_FORMAT = 1
# Messages per epoch when settings.CURBSIDE_EPOCH_MESSAGES is not set.
DEFAULT_EPOCH_MESSAGES = 1000


class KeysDestroyed(DecryptError):
    """The epoch or author key this blob needs no longer exists (erased)."""


@dataclass(frozen=True)
class Sealed:
    """What a message row stores: the epoch, the ``RoomKey`` id and the sealed bytes."""

    epoch: int
    key_id: int
    blob: bytes

    def packed(self) -> bytes:
        """The three in one value, for a row that keeps a sealed field in a single column:
        epoch (4 bytes, big-endian), key id (8 bytes), then the blob."""
        return _PACK.pack(self.epoch, self.key_id) + self.blob

    @classmethod
    def unpacked(cls, data: bytes) -> Sealed:
        """The inverse of ``packed``.

        Raises:
            DecryptError: too short to be a packed blob.
        """
        data = bytes(data)
        if len(data) <= _PACK.size:
            raise DecryptError("not a packed sealed value")
        epoch, key_id = _PACK.unpack_from(data)
        return cls(epoch, key_id, data[_PACK.size:])


_PACK = struct.Struct(">IQ")


# key_id -> (room_id, epoch, epoch key); room_id -> key_id of the current epoch;
# (room_id, pseudonym) -> author key.
_epoch_keys = KeyCache()
_current = KeyCache()
_author_keys = KeyCache()
# (room_id, pseudonym, epoch, key_id, epoch key, author key) -> message content key: a
# memo of the HKDF (~2/3 of opening one message), so a history page — or a reconnect storm
# reading the same authors' messages — derives each author's key once per epoch. The key
# material is part of the memo's key, so it is a pure function's cache: a re-created author
# key (after erasure) or a different epoch key can never meet a stale derived key. The
# epoch and author keys are still looked up (and checked) on every open, as before, so the
# erasure bound of the caches above is unchanged.
_content_keys = KeyCache()


def cache_clear() -> None:
    """Forget every unwrapped key held by this process (tests; after a restore)."""
    _epoch_keys.clear()
    _current.clear()
    _author_keys.clear()
    _content_keys.clear()


# --- public API ------------------------------------------------------------------------------


def message_seal(*, room_id: str, message_id: str, seq: int, author: str, body: bytes) -> Sealed:
    """Seal a message body under the room's current epoch and the author's key.

    Counts the message against the epoch (starting a new one when the limit is reached);
    call it inside the transaction that stores the message so the count rolls back with it.
    """
    key_id, epoch, epoch_key = _claim_epoch(room_id, count=True)
    author_key = _author_key(room_id, author, create=True)
    content_key = _derive(b"message", epoch_key, author_key, room_id, author, epoch, key_id)
    aad = _message_aad(room_id, message_id, seq, epoch, author, key_id)
    return Sealed(epoch, key_id, bytes([BLOB_FORMAT]) + aead.seal(content_key, body, aad))


@dataclass(frozen=True)
class Plain:
    """One message body to seal with ``messages_seal``."""

    room_id: str
    message_id: str
    seq: int
    author: str
    body: bytes


def messages_seal(items: list[Plain]) -> list[Sealed]:
    """``message_seal`` for a batch (any rooms): each room's epoch is charged for all its
    items at once — one UPDATE for every room whose current epoch this process knows and that
    has room left, instead of one per message — and each author's content key is derived once.
    A room whose epoch is unknown here or would overflow takes the one-by-one path, which
    starts the next epoch exactly at the limit. Call it inside the storing transaction.
    """
    counts: dict[str, int] = {}
    for item in items:
        counts[item.room_id] = counts.get(item.room_id, 0) + 1
    claimed = _claim_epochs(counts)
    author_keys = _author_keys_load({(i.room_id, i.author) for i in items if i.room_id in claimed})
    content_keys: dict[tuple[str, str], tuple[int, int, bytes]] = {}
    out = []
    for item in items:
        room, author = item.room_id, item.author
        if room not in claimed:
            out.append(message_seal(room_id=room, message_id=item.message_id, seq=item.seq,
                                    author=author, body=item.body))
            continue
        ck = content_keys.get((room, author))
        if ck is None:
            key_id, epoch, epoch_key = claimed[room]
            author_key = author_keys.get((room, author)) or _author_key(room, author, create=True)
            ck = content_keys[(room, author)] = (key_id, epoch, _derive(
                b"message", epoch_key, author_key, room, author, epoch, key_id))
        key_id, epoch, content_key = ck
        aad = _message_aad(room, item.message_id, item.seq, epoch, author, key_id)
        out.append(Sealed(epoch, key_id, bytes([BLOB_FORMAT]) + aead.seal(content_key, item.body, aad)))
    return out


def _claim_epochs(counts: dict[str, int]) -> dict[str, tuple[int, int, bytes]]:
    """Charge ``counts[room]`` messages to each room's current epoch in one UPDATE that also
    checks each epoch is still current and has room; returns the rooms it charged (room →
    key id, epoch, epoch key). Current epochs this process does not know yet are read in
    one query first."""
    limit = epoch_limit()
    known: dict[int, str] = {}
    keys: dict[int, tuple[str, int, bytes]] = {}
    unknown = []
    for room, n in counts.items():
        if n > limit:
            continue
        key_id = _current.get(room)
        if key_id is None:
            unknown.append(room)
        else:
            known[key_id] = room  # type: ignore[index]
    if unknown:
        for row in RoomKey.objects.filter(room_id__in=unknown, current=True):
            known[row.pk] = row.room_id
            keys[row.pk] = _epoch_key(row.pk, row)
            _remember(_current, row.room_id, row.pk)
    if not known:
        return {}
    ids = sorted(known)
    table, current = RoomKey._meta.db_table, connection.ops.quote_name("current")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Arrays: one statement text whatever the batch size (see rooms.services._next_seqs).
            cursor.execute(
                f"UPDATE {table} AS k SET message_count = k.message_count + v.n "
                "FROM unnest(%s::bigint[], %s::int[]) AS v(id, n) "
                f"WHERE k.id = v.id AND k.{current} AND k.message_count + v.n <= %s "
                "RETURNING k.id, k.room_id", [ids, [counts[known[i]] for i in ids], limit])
        else:
            marks = ", ".join(["%s"] * len(ids))
            case = " ".join(["WHEN %s THEN %s"] * len(ids))
            adds = [x for key_id in ids for x in (key_id, counts[known[key_id]])]
            cursor.execute(
                f"UPDATE {table} SET message_count = message_count + CASE id {case} END "
                f"WHERE id IN ({marks}) AND {current} AND message_count + CASE id {case} END "
                "<= %s RETURNING id, room_id", [*adds, *ids, *adds, limit])
        charged = cursor.fetchall()
    out = {}
    for key_id, room in charged:
        if known.get(key_id) != room:
            continue
        cached_room, epoch, key = keys.get(key_id) or _epoch_key(key_id)
        if cached_room == room:
            out[room] = (key_id, epoch, key)
    return out


def _author_keys_load(pairs: set[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
    """The author keys of these (room, pseudonym) pairs that exist: cached ones, the rest
    read in one query. Missing ones are left to ``_author_key(create=True)``."""
    out: dict[tuple[str, str], bytes] = {}
    missing = []
    for pair in pairs:
        cached = _author_keys.get(pair)
        if cached is None:
            missing.append(pair)
        else:
            out[pair] = cached  # type: ignore[assignment]
    if missing:
        rows = AuthorKey.objects.filter(room_id__in={r for r, _ in missing},
                                        pseudonym__in={p for _, p in missing})
        wanted = set(missing)
        for row in rows:
            pair = (row.room_id, row.pseudonym)
            if pair not in wanted:
                continue
            out[pair] = _author_key_unwrap(row)
            _remember(_author_keys, pair, out[pair])
    return out


def message_open(*, room_id: str, message_id: str, seq: int, author: str, sealed: Sealed) -> bytes:
    """Open a sealed message body.

    Raises:
        KeysDestroyed: the epoch or author key was destroyed (erasure).
        DecryptError: the blob was altered or belongs to another room, message, seq,
            author or epoch.
    """
    _check_format(sealed.blob)
    epoch_key = _epoch_key_for(sealed, room_id)
    author_key = _author_key(room_id, author, create=False)
    memo = (room_id, author, sealed.epoch, sealed.key_id, epoch_key, author_key)
    content_key = _content_keys.get(memo)
    if content_key is None:
        content_key = _derive(b"message", epoch_key, author_key, room_id, author, sealed.epoch,
                              sealed.key_id)
        _content_keys.put(memo, content_key)
    aad = _message_aad(room_id, message_id, seq, sealed.epoch, author, sealed.key_id)
    return aead.open_(content_key, sealed.blob[1:], aad)  # type: ignore[arg-type]


def blob_seal(*, room_id: str, attachment_id: str, body: bytes, author: str | None = None) -> Sealed:
    """Seal an attachment under the room's current epoch key (not counted as a message).

    With ``author`` the author key is mixed in too, so erasing the author erases the file.
    """
    key_id, epoch, epoch_key = _claim_epoch(room_id, count=False)
    author_key = _author_key(room_id, author, create=True) if author else b""
    content_key = _derive(b"attachment", epoch_key, author_key, room_id, author or "", epoch, key_id)
    aad = _attachment_aad(room_id, attachment_id, epoch, author or "", key_id)
    return Sealed(epoch, key_id, bytes([BLOB_FORMAT]) + aead.seal(content_key, body, aad))


def blob_open(*, room_id: str, attachment_id: str, sealed: Sealed, author: str | None = None) -> bytes:
    """Open an attachment sealed by ``blob_seal`` (same ``author`` argument).

    Raises:
        KeysDestroyed: the epoch or author key was destroyed.
        DecryptError: the blob was altered or belongs to another room or attachment.
    """
    _check_format(sealed.blob)
    epoch_key = _epoch_key_for(sealed, room_id)
    author_key = _author_key(room_id, author, create=False) if author else b""
    content_key = _derive(
        b"attachment", epoch_key, author_key, room_id, author or "", sealed.epoch, sealed.key_id
    )
    aad = _attachment_aad(room_id, attachment_id, sealed.epoch, author or "", sealed.key_id)
    return aead.open_(content_key, sealed.blob[1:], aad)


def room_epoch_advance(*, room_id: str) -> int:
    """Start a new epoch (fresh data key) for ``room_id``; returns the new epoch number.

    Call on every membership change: messages after it are sealed under a key that was never
    in use while the departed member was present.
    """
    with transaction.atomic():
        previous = RoomKey.objects.select_for_update().filter(room_id=room_id, current=True)
        row = _start_epoch(room_id, previous.first())
    _remember(_current, room_id, row.pk)
    return row.epoch


def author_keys_destroy(*, authors: list[tuple[str, str]]) -> int:
    """Delete the author keys of these (room_id, pseudonym) pairs; returns how many existed.

    Crypto-shredding: every message and attachment those authors sealed in those rooms is
    unreadable from now on (in other processes once their key cache expires, see keycache).
    """
    deleted = 0
    with transaction.atomic():
        for room_id, pseudonym in authors:
            n, _ = AuthorKey.objects.filter(room_id=room_id, pseudonym=pseudonym).delete()
            deleted += n
    for pair in authors:
        _author_keys.discard(tuple(pair))
    gone = {tuple(pair) for pair in authors}
    _content_keys.discard_where(lambda memo: (memo[0], memo[1]) in gone)
    return deleted


def epoch_limit() -> int:
    return int(getattr(settings, "CURBSIDE_EPOCH_MESSAGES", DEFAULT_EPOCH_MESSAGES))


# --- keys ------------------------------------------------------------------------------------


def _claim_epoch(room_id: str, *, count: bool) -> tuple[int, int, bytes]:
    """(key_id, epoch, epoch key) to seal the next item with, counting it if ``count``."""
    limit = epoch_limit()
    cached = _current.get(room_id)
    if cached is not None:
        # Fast path: one UPDATE that also checks the epoch is still current (another
        # process may have advanced it) and not full.
        rows = RoomKey.objects.filter(pk=cached, room_id=room_id, current=True)
        if count:
            rows = rows.filter(message_count__lt=limit)
            hit = rows.update(message_count=F("message_count") + 1)
        else:
            hit = rows.exists()
        if hit:
            room, epoch, key = _epoch_key(cached)
            if room == room_id:
                return cached, epoch, key
    for attempt in range(3):
        try:
            with transaction.atomic():
                row = RoomKey.objects.select_for_update().filter(room_id=room_id, current=True).first()
                if row is None or (count and row.message_count >= limit):
                    row = _start_epoch(room_id, row)
                if count:
                    RoomKey.objects.filter(pk=row.pk).update(message_count=F("message_count") + 1)
        except IntegrityError:
            # Another process created the first epoch at the same moment; use theirs.
            if attempt == 2:
                raise
            continue
        _remember(_current, room_id, row.pk)
        _, epoch, key = _epoch_key(row.pk, row)
        return row.pk, epoch, key
    raise AssertionError("unreachable")


def _start_epoch(room_id: str, previous: RoomKey | None) -> RoomKey:
    if previous is not None:
        RoomKey.objects.filter(pk=previous.pk).update(current=False)
        epoch = previous.epoch + 1
    else:
        last = RoomKey.objects.filter(room_id=room_id).aggregate(m=Max("epoch"))["m"]
        epoch = (last or 0) + 1
    key = secrets.token_bytes(DATA_KEY_BYTES)
    version, kek = keyring().active(PURPOSE)
    with transaction.atomic():
        row = RoomKey.objects.create(
            room_id=room_id,
            epoch=epoch,
            wrapped=aead.wrap_key(kek, version, key, room_key_aad(room_id, epoch)),
            kek_version=version,
            current=True,
        )
    _remember(_epoch_keys, row.pk, (room_id, epoch, key))
    return row


def _epoch_key(key_id: int, row: RoomKey | None = None) -> tuple[str, int, bytes]:
    cached = _epoch_keys.get(key_id)
    if cached is not None and (row is None or cached[:2] == (row.room_id, row.epoch)):
        return cached  # type: ignore[return-value]
    if row is None:
        row = RoomKey.objects.filter(pk=key_id).first()
        if row is None:
            raise KeysDestroyed("the epoch key no longer exists")
    wrapped = bytes(row.wrapped)
    kek = keyring().key(PURPOSE, aead.wrapped_version(wrapped))
    key = aead.unwrap_key(kek, wrapped, room_key_aad(row.room_id, row.epoch))
    value = (row.room_id, row.epoch, key)
    _remember(_epoch_keys, key_id, value)
    return value


def _epoch_key_for(sealed: Sealed, room_id: str) -> bytes:
    room, epoch, key = _epoch_key(sealed.key_id)
    if (room, epoch) != (room_id, sealed.epoch):
        raise DecryptError("the blob belongs to another room or epoch")
    return key


def _author_key(room_id: str, pseudonym: str, *, create: bool) -> bytes:
    cached = _author_keys.get((room_id, pseudonym))
    if cached is not None:
        return cached  # type: ignore[return-value]
    row = AuthorKey.objects.filter(room_id=room_id, pseudonym=pseudonym).first()
    if row is None:
        if not create:
            raise KeysDestroyed("the author key no longer exists")
        row = _author_key_create(room_id, pseudonym)
    key = _author_key_unwrap(row)
    _remember(_author_keys, (room_id, pseudonym), key)
    return key


def _author_key_unwrap(row: AuthorKey) -> bytes:
    wrapped = bytes(row.wrapped)
    kek = keyring().key(PURPOSE, aead.wrapped_version(wrapped))
    return aead.unwrap_key(kek, wrapped, author_key_aad(row.room_id, row.pseudonym))


def _author_key_create(room_id: str, pseudonym: str) -> AuthorKey:
    version, kek = keyring().active(PURPOSE)
    key = secrets.token_bytes(DATA_KEY_BYTES)
    try:
        with transaction.atomic():
            return AuthorKey.objects.create(
                room_id=room_id,
                pseudonym=pseudonym,
                wrapped=aead.wrap_key(kek, version, key, author_key_aad(room_id, pseudonym)),
                kek_version=version,
            )
    except IntegrityError:
        # Created concurrently by another writer: theirs wins.
        return AuthorKey.objects.get(room_id=room_id, pseudonym=pseudonym)


def _remember(cache: KeyCache, key: object, value: object) -> None:
    """Cache ``value`` once it is known to be committed.

    A key created (or read) inside a transaction that later rolls back must not stay cached:
    another writer may then create the row with a different key, and this process would
    seal with a key that no table holds. ``on_commit`` callbacks are dropped on rollback.
    """
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.put(key, value))
    else:
        cache.put(key, value)


def room_key_aad(room_id: str, epoch: int) -> bytes:
    return _encode("curbside/room-key/v1", room_id, epoch)


def author_key_aad(room_id: str, pseudonym: str) -> bytes:
    return _encode("curbside/author-key/v1", room_id, pseudonym)


# --- derivation and binding ------------------------------------------------------------------


def _derive(
    kind: bytes,
    epoch_key: bytes,
    author_key: bytes,
    room_id: str,
    author: str,
    epoch: int,
    key_id: int,
) -> bytes:
    info = _encode("curbside/content-key/v1", kind.decode(), room_id, author, epoch, key_id)
    return aead.hkdf_sha256(epoch_key + author_key, info=info, length=DATA_KEY_BYTES)


def _message_aad(room_id: str, message_id: str, seq: int, epoch: int, author: str, key_id: int) -> bytes:
    return _encode("curbside/message/v1", BLOB_FORMAT, room_id, message_id, seq, epoch, author, key_id)


def _attachment_aad(room_id: str, attachment_id: str, epoch: int, author: str, key_id: int) -> bytes:
    return _encode("curbside/attachment/v1", BLOB_FORMAT, room_id, attachment_id, epoch, author, key_id)


def _encode(*parts: str | int) -> bytes:
    """Length-prefixed concatenation: no two different tuples encode to the same bytes."""
    out = bytearray()
    for part in parts:
        raw = str(part).encode()
        out += struct.pack(">I", len(raw)) + raw
    return bytes(out)


def _check_format(blob: bytes) -> None:
    if not blob or blob[0] != BLOB_FORMAT:
        raise DecryptError("unknown blob format")
