"""Authenticated encryption and key wrapping, on ``cryptography``'s AES-256-GCM.

Every sealed blob is ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`` with a fresh random
96-bit nonce (NIST SP 800-38D §8.2.2, random construction); associated data binds the blob
to where it is stored, so a blob copied to another row fails to open.
"""

from __future__ import annotations

import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
# Wrapped-key layout: format byte, KEK version (uint32 big-endian), then a sealed blob.
WRAP_FORMAT = 1
_WRAP_HEADER = struct.Struct(">BI")


class DecryptError(Exception):
    """A blob failed authentication: wrong key, wrong associated data, or tampered bytes."""


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Raises: DecryptError when the blob does not authenticate under ``key`` and ``aad``."""
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptError("blob too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptError("authentication failed") from None


def wrap_key(kek: bytes, kek_version: int, data_key: bytes, aad: bytes) -> bytes:
    """Wrap ``data_key`` under a KEK; the header records the KEK version (and is bound too)."""
    header = _WRAP_HEADER.pack(WRAP_FORMAT, kek_version)
    return header + seal(kek, data_key, header + aad)


def wrapped_version(wrapped: bytes) -> int:
    fmt, version = _WRAP_HEADER.unpack_from(wrapped)
    if fmt != WRAP_FORMAT:
        raise DecryptError(f"unknown wrap format {fmt}")
    return version


def unwrap_key(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    header = wrapped[: _WRAP_HEADER.size]
    wrapped_version(wrapped)
    return open_(kek, wrapped[_WRAP_HEADER.size :], header + aad)


def hkdf_sha256(ikm: bytes, *, info: bytes, salt: bytes | None = None, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869): derive ``length`` bytes for the purpose named by ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
