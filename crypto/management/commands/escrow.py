"""manage.py escrow init|unmask — the escrow key pair, its shares, and unmasking."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crypto.escrow import EscrowError, escrow_init, escrow_unmask, public_key_path, share_read, share_write


class Command(BaseCommand):
    help = "Create the escrow key and its k-of-n shares, or unmask one (room, pseudonym)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="generate the escrow key pair and n share files")
        init.add_argument("--shares", type=int, required=True)
        init.add_argument("--threshold", type=int, required=True)
        init.add_argument("--out-dir", required=True, help="where the share files go")
        init.add_argument("--public-out", help="public key file (default: the one served)")
        init.add_argument("--force", action="store_true", help="replace an existing key")
        unmask = sub.add_parser("unmask", help="reveal the user behind a pseudonym (audited)")
        unmask.add_argument("--room", required=True)
        unmask.add_argument("--pseudonym", required=True)
        unmask.add_argument("--share", action="append", required=True, dest="share_files")
        unmask.add_argument("--officer", required=True)
        unmask.add_argument("--reason", required=True)

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _init(self, *, shares: int, threshold: int, out_dir: str, public_out, force, **_):
        public = Path(public_out) if public_out else public_key_path()
        if public.exists() and not force:
            raise CommandError(
                f"{public} exists; records sealed to it need its shares. Pass --force to "
                "replace it (old records then open only with the old shares)."
            )
        out = Path(out_dir)
        targets = [out / f"escrow-share-{n}-of-{shares}.json" for n in range(1, shares + 1)]
        if any(t.exists() for t in targets):
            raise CommandError(f"share files already exist in {out}")
        try:
            key_id, share_list = escrow_init(shares=shares, threshold=threshold, public_path=public)
        except EscrowError as exc:
            raise CommandError(str(exc)) from None
        for share, target in zip(share_list, targets, strict=True):
            share_write(share, target)
        self.stdout.write(f"escrow key {key_id}: public key written to {public}")
        self.stdout.write(
            f"{shares} share files in {out} ({threshold} needed to unmask): hand one to each "
            "officer and delete them from this machine"
        )

    def _unmask(self, *, room, pseudonym, share_files, officer, reason, **_):
        try:
            shares = [share_read(Path(f)) for f in share_files]
        except (OSError, EscrowError) as exc:
            raise CommandError(f"cannot read a share: {exc}") from None
        try:
            user_id = escrow_unmask(
                room_id=room, pseudonym=pseudonym, shares=shares, officer=officer, reason=reason
            )
        except EscrowError as exc:
            raise CommandError(f"unmask refused: {exc} (attempt recorded in the audit log)") from None
        self.stdout.write(user_id)
