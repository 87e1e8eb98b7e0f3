"""Identity escrow: who is behind (room, pseudonym), readable only by k of n officers.

Each (room, pseudonym) gets an ``EscrowRecord`` holding the user id sealed with HPKE
(RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to the escrow
public key, with ``info`` binding the room and pseudonym so a record moved to another row
does not open. The private key exists whole only inside ``escrow unmask`` while it runs: at
``escrow init`` it is split into SLIP-0039 Shamir shares (k-of-n over GF(256), Trezor's
reference implementation ``shamir-mnemonic``), one file per officer, and never written.

Every unmasking attempt, successful or not, appends one signed audit entry (crypto/audit.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import shamir_mnemonic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from django.conf import settings
from django.db import IntegrityError, transaction

from crypto.audit import audit_append
from crypto.models import EscrowRecord
from crypto.personal import blind_index

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
SHARE_FORMAT = "curbside-escrow-share/1"
# SLIP-0039 allows at most 16 shares per group; a threshold of 1 would not be a split.
MAX_SHARES = 16
MIN_THRESHOLD = 2


class EscrowError(Exception):
    """Escrow is misconfigured, or a record or share is missing or does not match."""


class EscrowNotConfigured(EscrowError):
    """No escrow public key is configured (run ``manage.py escrow init``)."""


class NotEnoughShares(EscrowError):
    """Fewer shares than the threshold, or shares that do not combine: nothing revealed."""


@dataclass(frozen=True)
class Share:
    escrow_key_id: str
    threshold: int
    shares: int
    number: int
    mnemonic: str

    def to_json(self) -> str:
        return json.dumps({"format": SHARE_FORMAT, **self.__dict__}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Share:
        """Raises: EscrowError for anything that is not a share file."""
        try:
            doc = json.loads(text)
            if doc.pop("format") != SHARE_FORMAT:
                raise ValueError("format")
            return cls(**doc)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EscrowError(f"not a {SHARE_FORMAT} file") from None


# --- configuration ---------------------------------------------------------------------------


def public_key_path() -> Path:
    default = Path(settings.VAR_DIR) / "escrow_public.key"
    return Path(getattr(settings, "CURBSIDE_ESCROW_PUBLIC_KEY_FILE", "") or default)


def escrow_public_key() -> X25519PublicKey:
    """The escrow public key: ``CURBSIDE_ESCROW_PUBLIC_KEY`` (base64 raw 32 bytes), else the file.

    Raises:
        EscrowNotConfigured: neither is set and development auto-creation is off.
    """
    inline = getattr(settings, "CURBSIDE_ESCROW_PUBLIC_KEY", "") or os.environ.get(
        "CURBSIDE_ESCROW_PUBLIC_KEY", ""
    )
    if inline:
        return X25519PublicKey.from_public_bytes(base64.b64decode(inline))
    path = public_key_path()
    if not path.exists():
        autocreate = getattr(settings, "CURBSIDE_ESCROW_AUTOCREATE", settings.CURBSIDE_KEYRING_AUTOCREATE)
        if not autocreate:
            raise EscrowNotConfigured(f"no escrow public key ({path}); run `escrow init`")
        # Development only: 2-of-3 shares next to the public key, so unmasking can be tried.
        _, shares = escrow_init(shares=3, threshold=2, public_path=path)
        share_dir = path.parent / "escrow-shares"
        for share in shares:
            share_write(share, share_dir / f"share-{share.number}.json")
    return X25519PublicKey.from_public_bytes(base64.b64decode(path.read_text().strip()))


def escrow_key_id(public: X25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- init and shares -------------------------------------------------------------------------


def escrow_init(*, shares: int, threshold: int, public_path: Path) -> tuple[str, list[Share]]:
    """Generate the escrow key pair; write the public key; return (key id, n shares).

    The private key is split in memory and dropped; it is never written whole.

    Raises:
        EscrowError: thresholds or counts SLIP-0039 cannot express.
    """
    if not (MIN_THRESHOLD <= threshold <= shares <= MAX_SHARES):
        raise EscrowError(f"need {MIN_THRESHOLD} <= threshold <= shares <= {MAX_SHARES}")
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    [mnemonics] = shamir_mnemonic.generate_mnemonics(1, [(threshold, shares)], raw)
    public = private.public_key()
    key_id = escrow_key_id(public)
    del private, raw
    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_text(base64.b64encode(raw_public).decode() + "\n")
    return key_id, [
        Share(key_id, threshold, shares, number, mnemonic)
        for number, mnemonic in enumerate(mnemonics, start=1)
    ]


def share_write(share: Share, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(share.to_json())


def share_read(path: Path) -> Share:
    return Share.from_json(Path(path).read_text())


# --- records and unmasking -------------------------------------------------------------------


def escrow_record(*, room_id: str, pseudonym: str, user_id: str) -> EscrowRecord:
    """Seal ``user_id`` for (room, pseudonym) unless a record exists already (idempotent).

    Raises:
        EscrowNotConfigured: no escrow public key.
    """
    existing = EscrowRecord.objects.filter(room_id=room_id, pseudonym=pseudonym).first()
    if existing is not None:
        return existing
    public = escrow_public_key()
    sealed = SUITE.encrypt(user_id.encode(), public, info=_info(room_id, pseudonym))
    try:
        with transaction.atomic():
            return EscrowRecord.objects.create(
                room_id=room_id,
                pseudonym=pseudonym,
                sealed_user_id=sealed,
                escrow_key_id=escrow_key_id(public),
            )
    except IntegrityError:
        return EscrowRecord.objects.get(room_id=room_id, pseudonym=pseudonym)


def escrow_unmask(*, room_id: str, pseudonym: str, shares: list[Share], officer: str, reason: str) -> str:
    """Reveal the user id behind (room, pseudonym) with at least k shares.

    Appends exactly one audit entry: ``escrow.unmask`` on success, ``escrow.unmask_failed``
    (with the cause, never a partial secret) otherwise.

    Raises:
        NotEnoughShares: fewer than k shares, or shares that do not combine.
        EscrowError: no record, or shares of another escrow key.
    """
    if not officer.strip() or not reason.strip():
        raise EscrowError("an officer name and a reason are required")
    record = EscrowRecord.objects.filter(room_id=room_id, pseudonym=pseudonym).first()
    details = {"reason": reason, "shares_presented": len(shares)}
    try:
        if record is None:
            raise EscrowError("no escrow record for this room and pseudonym")
        user_id = _reveal(record, shares)
    except EscrowError as exc:
        _audit("escrow.unmask_failed", officer, room_id, pseudonym, {**details, "error": str(exc)})
        raise
    details["escrow_key_id"] = record.escrow_key_id
    # The log proves which identity was disclosed to anyone holding the keyring, without
    # putting the user id itself (and so the pseudonym ↔ person link) into every backup.
    details["revealed_user_index"] = blind_index("user-id", user_id)
    _audit("escrow.unmask", officer, room_id, pseudonym, details)
    return user_id


def _reveal(record: EscrowRecord, shares: list[Share]) -> str:
    if any(s.escrow_key_id != record.escrow_key_id for s in shares):
        raise EscrowError("a share belongs to another escrow key")
    distinct = {s.mnemonic for s in shares}
    threshold = shares[0].threshold if shares else MIN_THRESHOLD
    if len(distinct) < threshold:
        raise NotEnoughShares(f"{len(distinct)} distinct share(s); {threshold} needed")
    try:
        raw = shamir_mnemonic.combine_mnemonics(sorted(distinct))
    except shamir_mnemonic.MnemonicError as exc:
        raise NotEnoughShares(f"the shares do not combine: {exc}") from None
    private = X25519PrivateKey.from_private_bytes(raw)
    if escrow_key_id(private.public_key()) != record.escrow_key_id:
        raise EscrowError("the shares rebuild a different escrow key")
    try:
        plain = SUITE.decrypt(
            bytes(record.sealed_user_id), private, info=_info(record.room_id, record.pseudonym)
        )
    except Exception as exc:  # cryptography raises InvalidTag / ValueError here
        raise EscrowError(f"the escrow record does not open: {type(exc).__name__}") from None
    return plain.decode()


def _audit(action: str, officer: str, room_id: str, pseudonym: str, details: dict) -> None:
    audit_append(
        action=action,
        actor=f"officer:{officer}",
        subject=f"room:{room_id} pseudonym:{pseudonym}",
        details=details,
    )


def _info(room_id: str, pseudonym: str) -> bytes:
    return b"curbside/escrow/v1\x00" + room_id.encode() + b"\x00" + pseudonym.encode()
