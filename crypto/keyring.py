"""The keyring: versioned key-encryption keys (KEKs), one series per purpose.

Format (JSON, in ``CURBSIDE_KEYRING`` or the file named by ``CURBSIDE_KEYRING_FILE``)::

    {
      "format": "curbside-keyring/1",
      "purposes": {
        "messages":  {"active": 2, "keys": {"1": "<base64 32 bytes>", "2": "..."},
                      "retired": [1]},
        "personal":  {"active": 1, "keys": {"1": "..."}},
        "pseudonym": {"active": 1, "keys": {"1": "..."}},
        "index":     {"active": 1, "keys": {"1": "..."}},
        "audit":     {"active": 1, "keys": {"1": "<base64 Ed25519 private seed>"}}
      }
    }

``active`` is the version that new material is wrapped under; every listed version still
unwraps (so rotation never breaks reads) until it is removed from ``keys``. ``retired``
versions are kept for reference but are refused for new wrapping.

The keys never touch the database; this module imports nothing from the other apps.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "curbside-keyring/1"
# The purposes a keyring must hold. Separate keys per purpose: a leak of one (say the
# lookup index key) does not decrypt messages.
PURPOSES = ("messages", "personal", "pseudonym", "index", "audit")
KEY_BYTES = 32


class KeyringError(Exception):
    """The keyring is missing, malformed, or lacks a requested key version."""


@dataclass
class KeySeries:
    active: int
    keys: dict[int, bytes]
    retired: list[int] = field(default_factory=list)

    def get(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise KeyringError(f"key version {version} is not in the keyring") from None


@dataclass
class Keyring:
    purposes: dict[str, KeySeries]

    def series(self, purpose: str) -> KeySeries:
        try:
            return self.purposes[purpose]
        except KeyError:
            raise KeyringError(f"the keyring has no '{purpose}' keys") from None

    def active(self, purpose: str) -> tuple[int, bytes]:
        """(version, key) that new material for ``purpose`` is protected with."""
        s = self.series(purpose)
        return s.active, s.get(s.active)

    def key(self, purpose: str, version: int) -> bytes:
        return self.series(purpose).get(version)

    # --- (de)serialisation ---------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "purposes": {
                    name: {
                        "active": s.active,
                        "keys": {
                            str(v): base64.b64encode(k).decode() for v, k in sorted(s.keys.items())
                        },
                        "retired": sorted(s.retired),
                    }
                    for name, s in self.purposes.items()
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise KeyringError(f"keyring is not valid JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError(f"keyring format must be '{FORMAT}'")
        purposes: dict[str, KeySeries] = {}
        for name in PURPOSES:
            raw = doc.get("purposes", {}).get(name)
            if raw is None:
                raise KeyringError(f"keyring lacks purpose '{name}'")
            keys = {int(v): base64.b64decode(k) for v, k in raw["keys"].items()}
            for v, k in keys.items():
                if len(k) != KEY_BYTES:
                    raise KeyringError(f"{name} v{v}: keys are {KEY_BYTES} bytes")
            series = KeySeries(active=int(raw["active"]), keys=keys, retired=raw.get("retired", []))
            if series.active not in keys:
                raise KeyringError(f"{name}: active version {series.active} has no key")
            if series.active in series.retired:
                raise KeyringError(f"{name}: the active version cannot be retired")
            purposes[name] = series
        return cls(purposes=purposes)

    @classmethod
    def generate(cls) -> Keyring:
        """A fresh keyring, version 1 of every purpose, from the OS CSPRNG."""
        return cls(
            purposes={
                name: KeySeries(active=1, keys={1: secrets.token_bytes(KEY_BYTES)})
                for name in PURPOSES
            }
        )

    def rotate(self, purpose: str) -> int:
        """Add a new version for ``purpose`` and make it active; returns the new version."""
        s = self.series(purpose)
        new = max(s.keys) + 1
        s.keys[new] = secrets.token_bytes(KEY_BYTES)
        s.active = new
        return new

    def retire(self, purpose: str, version: int) -> None:
        """Drop ``version`` of ``purpose``: run ``keys rewrap`` first, or reads will fail."""
        s = self.series(purpose)
        if version == s.active:
            raise KeyringError("cannot retire the active version; rotate first")
        s.get(version)
        del s.keys[version]
        if version not in s.retired:
            s.retired.append(version)


def write_keyring(keyring: Keyring, path: Path, *, exclusive: bool = False) -> None:
    """Write atomically (temp file + rename). With ``exclusive``, never replace a file
    that appeared meanwhile: concurrent first starts must all end up on the same keyring.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temp name: two writers must not share (and steal) one temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keyring.to_json())
    if not exclusive:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if the file exists: the first writer wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def load_keyring(*, inline: str = "", path: str = "", autocreate: bool = False) -> Keyring:
    """Load the keyring from ``inline`` JSON, else from ``path``.

    Raises:
        KeyringError: nothing configured, or the file is missing and ``autocreate`` is off.
    """
    if inline:
        return Keyring.from_json(inline)
    if not path:
        raise KeyringError("no keyring configured (CURBSIDE_KEYRING or CURBSIDE_KEYRING_FILE)")
    p = Path(path)
    if not p.exists():
        if not autocreate:
            raise KeyringError(f"keyring file {p} does not exist")
        write_keyring(Keyring.generate(), p, exclusive=True)
    return Keyring.from_json(p.read_text())
