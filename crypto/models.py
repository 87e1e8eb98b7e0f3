"""Tables of the crypto library: wrapped keys, escrowed identities, the audit chain.

Nothing here holds a key or an identity in the clear: data keys are stored wrapped under a
keyring KEK (``kek_version`` repeats the version recorded in the wrapped header so that
``keys status`` and ``keys retire`` can count in SQL), user ids are sealed to the escrow
public key, and the audit log carries pseudonyms and officer labels.
"""

from __future__ import annotations

from django.db import models


class RoomKey(models.Model):
    """The data key of one (room, epoch); ``current`` marks the epoch new messages use."""

    room_id = models.CharField(max_length=64)
    epoch = models.PositiveIntegerField()
    wrapped = models.BinaryField()
    kek_version = models.PositiveIntegerField()
    message_count = models.PositiveIntegerField(default=0)
    current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room_id", "epoch"], name="roomkey_room_epoch"),
            # At most one current epoch per room, enforced by the database.
            models.UniqueConstraint(
                fields=["room_id"], condition=models.Q(current=True), name="roomkey_one_current"
            ),
        ]
        indexes = [models.Index(fields=["kek_version"])]

    def __str__(self) -> str:
        return f"room key {self.room_id} epoch {self.epoch} (kek v{self.kek_version})"


class AuthorKey(models.Model):
    """A random key per (room, author pseudonym); deleting it erases that author's messages."""

    room_id = models.CharField(max_length=64)
    pseudonym = models.CharField(max_length=64)
    wrapped = models.BinaryField()
    kek_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room_id", "pseudonym"], name="authorkey_room_pseud")]
        indexes = [models.Index(fields=["kek_version"])]

    def __str__(self) -> str:
        return f"author key {self.room_id}/{self.pseudonym} (kek v{self.kek_version})"


class EscrowRecord(models.Model):
    """The user id behind (room, pseudonym), sealed to the escrow public key (HPKE)."""

    room_id = models.CharField(max_length=64)
    pseudonym = models.CharField(max_length=64)
    sealed_user_id = models.BinaryField()
    escrow_key_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room_id", "pseudonym"], name="escrow_room_pseud")]

    def __str__(self) -> str:
        return f"escrow {self.room_id}/{self.pseudonym}"


class AuditEntry(models.Model):
    """One link of the hash-chained, Ed25519-signed audit log (crypto/audit.py)."""

    seq = models.PositiveBigIntegerField(unique=True)
    timestamp = models.DateTimeField()
    actor = models.CharField(max_length=128)
    action = models.CharField(max_length=64)
    subject = models.CharField(max_length=256)
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=128)
    key_version = models.PositiveIntegerField()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"audit #{self.seq} {self.action}"
