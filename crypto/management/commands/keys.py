"""manage.py keys generate|rotate|rewrap|retire|status — keyring lifecycle.

Rotation, step by step: ``keys rotate --purpose P`` (new version, active for new material),
restart/reload the servers so they read the new keyring, ``keys rewrap`` (moves every wrapped
data key to the active versions; bodies are untouched), ``keys status`` (nothing left under
the old version), ``keys retire --purpose P --version OLD``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crypto import keys, rotation
from crypto.keyring import PURPOSES, Keyring, KeyringError, load_keyring, write_keyring

# Deterministic MAC keys: rotating them would change every pseudonym / blind index, and the
# database cannot recompute them (it never holds the inputs in the clear).
NOT_ROTATABLE = ("pseudonym", "index")


class Command(BaseCommand):
    help = "Generate, rotate, rewrap, retire and inspect the keyring's key-encryption keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        gen = sub.add_parser("generate", help="write a new keyring file")
        gen.add_argument("--out", help="file to write ('-' for stdout); default: configured")
        gen.add_argument("--force", action="store_true", help="overwrite an existing file")
        rot = sub.add_parser("rotate", help="add a new active version for one purpose")
        rot.add_argument("--purpose", required=True, choices=PURPOSES)
        sub.add_parser("rewrap", help="rewrap every wrapped key under the active versions")
        ret = sub.add_parser("retire", help="drop an old version nothing depends on")
        ret.add_argument("--purpose", required=True, choices=PURPOSES)
        ret.add_argument("--version", required=True, type=int, dest="key_version")
        sub.add_parser("status", help="wrapped keys per purpose and version")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _generate(self, *, out: str | None, force: bool, **_):
        ring = Keyring.generate()
        if out == "-":
            sys.stdout.write(ring.to_json() + "\n")
            return
        path = Path(out or settings.CURBSIDE_KEYRING_FILE or "")
        if not str(path) or str(path) == ".":
            raise CommandError("no --out and no CURBSIDE_KEYRING_FILE configured")
        if path.exists() and not force:
            raise CommandError(f"{path} exists; pass --force to overwrite (old keys are lost)")
        write_keyring(ring, path)
        self.stdout.write(f"wrote a new keyring to {path}")

    def _rotate(self, *, purpose: str, **_):
        if purpose in NOT_ROTATABLE:
            raise CommandError(
                f"the {purpose} key is a deterministic MAC key and is not rotatable "
                "(it would change every pseudonym or login index)"
            )
        path = self._keyring_file()
        ring = load_keyring(path=str(path))
        version = ring.rotate(purpose)
        write_keyring(ring, path)
        keys.reset()
        self.stdout.write(f"{purpose}: v{version} is now active; run `keys rewrap` next")

    def _rewrap(self, **_):
        keys.reset()
        for name, n in rotation.rewrap_all().items():
            self.stdout.write(f"{name}: rewrapped {n}")
        self._status()

    def _retire(self, *, purpose: str, key_version: int, **_):
        path = self._keyring_file()
        keys.reset()
        left = rotation.in_use(purpose, key_version)
        if left:
            raise CommandError(f"{left} key(s) still depend on {purpose} v{key_version}; run `keys rewrap`")
        ring = load_keyring(path=str(path))
        try:
            ring.retire(purpose, key_version)
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        write_keyring(ring, path)
        keys.reset()
        self.stdout.write(f"{purpose}: v{key_version} retired")

    def _status(self, **_):
        ring = keys.keyring()
        for purpose in PURPOSES:
            series = ring.series(purpose)
            versions = ", ".join(f"v{v}" for v in sorted(series.keys))
            self.stdout.write(f"{purpose}: active v{series.active} (keys: {versions})")
        for (purpose, name), counts in rotation.status().items():
            shown = ", ".join(f"v{v}={n}" for v, n in sorted(counts.items())) or "none"
            self.stdout.write(f"  {purpose:<9} {name}: {shown}")

    def _keyring_file(self) -> Path:
        if settings.CURBSIDE_KEYRING:
            raise CommandError(
                "the keyring comes from CURBSIDE_KEYRING (environment): edit it where it is "
                "stored; rotate/retire only edit a CURBSIDE_KEYRING_FILE"
            )
        if not settings.CURBSIDE_KEYRING_FILE:
            raise CommandError("no CURBSIDE_KEYRING_FILE configured")
        try:
            keys.keyring()  # in development this creates the file on first use
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        return Path(settings.CURBSIDE_KEYRING_FILE)
