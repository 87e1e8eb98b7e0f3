"""Personal data (e-mail, names, licence numbers) sealed under a per-user key.

Each user has a random 256-bit personal-data key, stored only wrapped under the keyring's
``personal`` KEK. Destroying that wrapped key (erasure) makes every field sealed under it
unreadable. Login finds the account through a blind index, ``HMAC-SHA256(K_index,
normalized e-mail)``, so the database never holds an address in the clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from crypto import aead
from crypto.keys import keyring

PERSONAL_KEY_BYTES = 32


def normalize_email(email: str) -> str:
    return email.strip().lower()


def blind_index(kind: str, value: str) -> str:
    """Deterministic lookup token for ``value``; ``kind`` separates index domains."""
    version, key = keyring().active("index")
    mac = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return mac


def email_index(email: str) -> str:
    return blind_index("email", normalize_email(email))


def new_personal_key(owner: str) -> tuple[bytes, bytes]:
    """(plain key, wrapped key) for a new user; ``owner`` (the user id) is bound to the wrap."""
    key = secrets.token_bytes(PERSONAL_KEY_BYTES)
    version, kek = keyring().active("personal")
    return key, aead.wrap_key(kek, version, key, _wrap_aad(owner))


def unwrap_personal_key(owner: str, wrapped: bytes) -> bytes:
    version = aead.wrapped_version(wrapped)
    return aead.unwrap_key(keyring().key("personal", version), wrapped, _wrap_aad(owner))


def rewrap_personal_key(owner: str, wrapped: bytes) -> bytes:
    """Re-wrap under the active ``personal`` KEK (rotation); the data key is unchanged."""
    key = unwrap_personal_key(owner, wrapped)
    version, kek = keyring().active("personal")
    return aead.wrap_key(kek, version, key, _wrap_aad(owner))


def seal_field(key: bytes, owner: str, field: str, value: str) -> bytes:
    return aead.seal(key, value.encode(), _field_aad(owner, field))


def open_field(key: bytes, owner: str, field: str, blob: bytes) -> str:
    return aead.open_(key, blob, _field_aad(owner, field)).decode()


def _wrap_aad(owner: str) -> bytes:
    return f"curbside/personal-key/{owner}".encode()


def _field_aad(owner: str, field: str) -> bytes:
    return f"curbside/personal/{owner}/{field}".encode()
