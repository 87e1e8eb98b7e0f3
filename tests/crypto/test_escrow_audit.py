"""Escrow unmasking (k of n officers) and the tamper-evident audit log."""

from __future__ import annotations

import base64

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crypto import escrow
from crypto.audit import audit_append, audit_head, audit_verify
from crypto.models import AuditEntry, EscrowRecord

pytestmark = pytest.mark.django_db

ROOM, PSEUDONYM, USER = "room-7", "c0ffee" * 5 + "ab", "5b1e7a3c-2f44-4c61-9d1e-0a8e6f3b2c11"


@pytest.fixture
def shares(tmp_path, settings, capsys):
    """`escrow init --shares 5 --threshold 3` into tmp; returns the share file paths."""
    out = tmp_path / "shares"
    call_command("escrow", "init", "--shares", "5", "--threshold", "3", "--out-dir", str(out))
    capsys.readouterr()
    return sorted(out.iterdir())


def unmask(share_files, capsys) -> str:
    args = ["escrow", "unmask", "--room", ROOM, "--pseudonym", PSEUDONYM]
    for f in share_files:
        args += ["--share", str(f)]
    call_command(*args, "--officer", "Dr Ruiz (legal)", "--reason", "court order 2025-114")
    return capsys.readouterr().out.strip()


def test_init_writes_the_public_key_and_n_shares_but_never_the_private_key(shares, settings):
    public_file = escrow.public_key_path()
    assert len(base64.b64decode(public_file.read_text())) == 32
    assert len(shares) == 5
    # Only the public key and the shares exist; each share alone is a SLIP-0039 mnemonic.
    files = sorted(p.name for p in public_file.parent.rglob("*") if p.is_file())
    assert files == sorted(["escrow_public.key", *(s.name for s in shares)])
    assert {escrow.share_read(s).escrow_key_id for s in shares} == {
        escrow.escrow_key_id(escrow.escrow_public_key())
    }


def test_init_refuses_to_replace_an_existing_key(shares, tmp_path):
    with pytest.raises(CommandError, match="exists"):
        call_command("escrow", "init", "--shares", "3", "--threshold", "2", "--out-dir", str(tmp_path / "x"))


def test_escrow_record_is_idempotent_and_sealed(shares):
    first = escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)
    again = escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)
    assert first.pk == again.pk and EscrowRecord.objects.count() == 1
    assert USER.encode() not in bytes(first.sealed_user_id)


def test_unmask_needs_k_shares_and_leaves_exactly_one_signed_entry(shares, capsys):
    escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)
    escrow.escrow_record(room_id=ROOM, pseudonym="other" * 6 + "00", user_id="someone-else")

    with pytest.raises(CommandError, match="unmask refused"):
        unmask(shares[:2], capsys)
    out = capsys.readouterr()
    assert USER not in out.out + out.err
    # Our call: a refused attempt is itself recorded (who tried, why, with how many shares).
    failed = AuditEntry.objects.get()
    assert failed.action == "escrow.unmask_failed"
    assert failed.details["shares_presented"] == 2
    assert USER not in str(failed.details)

    # The same share twice does not count twice.
    with pytest.raises(CommandError):
        unmask([shares[0], shares[0], shares[1]], capsys)
    assert AuditEntry.objects.count() == 2

    assert unmask([shares[4], shares[1], shares[2]], capsys) == USER
    entries = AuditEntry.objects.filter(action="escrow.unmask")
    assert entries.count() == 1
    entry = entries.get()
    assert entry.actor == "officer:Dr Ruiz (legal)"
    assert entry.subject == f"room:{ROOM} pseudonym:{PSEUDONYM}"
    assert entry.details["reason"] == "court order 2025-114"
    # The disclosed identity is recorded as a keyed index, not in the clear.
    assert USER not in str(entry.details) and entry.details["revealed_user_index"]
    assert audit_verify() == []


def test_a_record_moved_to_another_pseudonym_does_not_open(shares):
    record = escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)
    EscrowRecord.objects.create(
        room_id=ROOM,
        pseudonym="f" * 32,
        sealed_user_id=bytes(record.sealed_user_id),
        escrow_key_id=record.escrow_key_id,
    )
    loaded = [escrow.share_read(s) for s in shares[:3]]
    with pytest.raises(escrow.EscrowError, match="does not open"):
        escrow.escrow_unmask(room_id=ROOM, pseudonym="f" * 32, shares=loaded, officer="o", reason="test")


def test_shares_of_another_escrow_key_are_refused(shares, tmp_path):
    escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)
    _, foreign = escrow.escrow_init(shares=3, threshold=2, public_path=tmp_path / "other.key")
    with pytest.raises(escrow.EscrowError, match="another escrow key"):
        escrow.escrow_unmask(room_id=ROOM, pseudonym=PSEUDONYM, shares=foreign[:2], officer="o", reason="r")


def test_missing_escrow_key_is_reported():
    with pytest.raises(escrow.EscrowNotConfigured):
        escrow.escrow_record(room_id=ROOM, pseudonym=PSEUDONYM, user_id=USER)


# --- the audit log ---------------------------------------------------------------------------


@pytest.fixture
def chain():
    for i in range(5):
        audit_append(
            action="moderation.hide",
            actor="a" * 32,
            subject=f"message:{i}",
            details={"n": i, "note": "ñandú"},
        )
    return list(AuditEntry.objects.order_by("seq"))


def verify_problems() -> str:
    with pytest.raises(CommandError):
        call_command("audit", "verify")
    return "\n".join(audit_verify())


def test_intact_chain_verifies(chain, capsys):
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert "intact: 5 entries" in out and audit_head() in out
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]


def test_edited_entry_is_reported(chain):
    AuditEntry.objects.filter(seq=3).update(details={"n": 99, "note": "ñandú"})
    assert "entry #3: content does not match its hash (edited)" in verify_problems()


def test_edited_entry_with_recomputed_hash_fails_the_signature(chain):
    from crypto.audit import entry_hash

    e = chain[2]
    new_hash = entry_hash(
        seq=e.seq,
        timestamp=e.timestamp,
        actor=e.actor,
        action="moderation.unhide",
        subject=e.subject,
        details=e.details,
        prev_hash=e.prev_hash,
        key_version=e.key_version,
    )
    AuditEntry.objects.filter(pk=e.pk).update(action="moderation.unhide", hash=new_hash)
    problems = verify_problems()
    assert "entry #3: bad signature" in problems
    assert "entry #4: does not follow" in problems


def test_deleted_entry_is_reported(chain):
    AuditEntry.objects.filter(seq=2).delete()
    problems = verify_problems()
    assert "entries #2..#2 are missing (deleted)" in problems
    assert "entry #3: does not follow" in problems


def test_reordered_entries_are_reported(chain):
    # Swap the positions of #2 and #4 (through a temporary seq to satisfy uniqueness).
    AuditEntry.objects.filter(seq=2).update(seq=1000)
    AuditEntry.objects.filter(seq=4).update(seq=2)
    AuditEntry.objects.filter(seq=1000).update(seq=4)
    problems = verify_problems()
    assert "reordered" in problems


def test_truncation_is_caught_with_an_anchored_head(chain):
    head = audit_head()
    AuditEntry.objects.filter(seq=5).delete()
    assert audit_verify() == []  # a shorter chain is self-consistent ...
    with pytest.raises(CommandError):
        call_command("audit", "verify", "--head", head)  # ... but not with the anchor


def test_user_ids_are_refused_as_actors():
    with pytest.raises(ValueError, match="never user ids"):
        audit_append(action="x", actor=USER, subject="s", details={})


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_do_not_fork_the_chain():
    import threading

    from django.db import connection

    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(5):
                audit_append(action="test.append", actor=f"system:w{n}", subject=str(i), details={})
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list(AuditEntry.objects.values_list("seq", flat=True)) == list(range(1, 21))
    assert audit_verify() == []
