"""The audit log: append-only, hash-chained and signed.

Each entry's ``hash`` is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of
``seq, timestamp, actor, action, subject, details, prev_hash, key_version``; ``prev_hash`` is
the previous entry's hash (64 zeros for the first); ``signature`` is Ed25519 over the 32
hash bytes with a key derived (HKDF-SHA256) from the keyring's ``audit`` seed of
``key_version``. Editing an entry breaks its hash, deleting or reordering breaks the chain,
and forging a whole new chain needs the audit key, which never touches the database.

Deleting the *newest* entries leaves a valid shorter chain; that is caught by anchoring: keep
the head hash that ``manage.py audit verify`` prints somewhere else and pass it back with
``--head``.

Actors are pseudonyms or labels such as ``officer:Dr Ruiz`` / ``system:rewrap``, never a
user id (``audit_append`` refuses UUID-shaped actors): the log is read by auditors and sits
in every backup.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connection, transaction
from django.utils import timezone

from crypto.aead import hkdf_sha256
from crypto.keyring import KeyringError
from crypto.keys import keyring
from crypto.models import AuditEntry

PURPOSE = "audit"
GENESIS = "0" * 64
# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends.
_PG_LOCK_ID = 0x637572627369  # "curbsi"


def audit_append(
    *, action: str, actor: str, subject: str, details: dict, now: datetime | None = None
) -> AuditEntry:
    """Append one signed entry at the end of the chain.

    Appends are serialised (an advisory lock on PostgreSQL, the write lock on SQLite, and
    unique ``seq``/``prev_hash`` as a last line), so two writers cannot fork the chain.

    Raises:
        ValueError: ``actor`` looks like a user id.
        KeyringError: the keyring has no usable ``audit`` key.
    """
    if _looks_like_uuid(actor):
        raise ValueError("audit actors are pseudonyms or labels, never user ids")
    stamp = (now or timezone.now()).astimezone(UTC)
    version, _ = keyring().active(PURPOSE)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_ID])
        last = AuditEntry.objects.select_for_update().order_by("-seq").first()
        seq = last.seq + 1 if last else 1
        prev = last.hash if last else GENESIS
        digest = entry_hash(
            seq=seq,
            timestamp=stamp,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            prev_hash=prev,
            key_version=version,
        )
        signature = signing_key(version).sign(bytes.fromhex(digest)).hex()
        return AuditEntry.objects.create(
            seq=seq,
            timestamp=stamp,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            prev_hash=prev,
            hash=digest,
            signature=signature,
            key_version=version,
        )


def audit_verify(*, expected_head: str | None = None) -> list[str]:
    """Check the whole chain; returns human-readable problems (empty when intact)."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    last_pk = 0
    hashes_seen: set[str] = set()
    for e in AuditEntry.objects.order_by("seq", "pk"):
        if e.seq > expected_seq:
            problems.append(f"entries #{expected_seq}..#{e.seq - 1} are missing (deleted)")
        elif e.seq < expected_seq:
            problems.append(f"entry #{e.seq} appears twice (duplicated)")
        if e.pk < last_pk:
            problems.append(f"entry #{e.seq} was stored after a later entry (reordered)")
        recomputed = entry_hash(
            seq=e.seq,
            timestamp=e.timestamp,
            actor=e.actor,
            action=e.action,
            subject=e.subject,
            details=e.details,
            prev_hash=e.prev_hash,
            key_version=e.key_version,
        )
        if recomputed != e.hash:
            problems.append(f"entry #{e.seq}: content does not match its hash (edited)")
        if e.prev_hash != prev:
            problems.append(f"entry #{e.seq}: does not follow the entry before it (deleted or reordered)")
        problems.extend(_signature_problems(e))
        prev = e.hash
        expected_seq = e.seq + 1
        last_pk = max(last_pk, e.pk)
        hashes_seen.add(e.hash)
    if expected_head and expected_head not in hashes_seen:
        problems.append(
            f"the anchored head {expected_head[:16]}… is not in the log (entries truncated or rewritten)"
        )
    return problems


def audit_head() -> str:
    """Hash of the newest entry (``GENESIS`` when empty): the value to anchor elsewhere."""
    last = AuditEntry.objects.order_by("-seq").first()
    return last.hash if last else GENESIS


def entry_hash(
    *,
    seq: int,
    timestamp: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict,
    prev_hash: str,
    key_version: int,
) -> str:
    doc = {
        "seq": seq,
        "timestamp": timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "prev_hash": prev_hash,
        "key_version": key_version,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def signing_key(version: int) -> Ed25519PrivateKey:
    """The Ed25519 key for ``version``, derived from the keyring's audit seed."""
    seed = keyring().key(PURPOSE, version)
    derived = hkdf_sha256(seed, info=b"curbside/audit-signing/v1")
    return Ed25519PrivateKey.from_private_bytes(derived)


def _signature_problems(e: AuditEntry) -> list[str]:
    try:
        public = signing_key(e.key_version).public_key()
    except KeyringError:
        return [f"entry #{e.seq}: audit key v{e.key_version} is not in the keyring"]
    try:
        public.verify(bytes.fromhex(e.signature), bytes.fromhex(e.hash))
    except (InvalidSignature, ValueError):
        return [f"entry #{e.seq}: bad signature"]
    return []


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    # A 32-hex pseudonym also parses as a UUID; only the dashed form is a user id.
    return "-" in value
