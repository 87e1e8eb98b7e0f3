"""Rooms, memberships and messages.

Message rows carry the author's per-room pseudonym and never a user id; memberships carry
the user and never the pseudonym (it is recomputed with the keyring's pseudonym key), so no
row links the two (SECURITY.md). Bodies are stored only sealed (crypto/envelope.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

# Every case room's id starts with this (rooms.services.case_room_create).
CASE_ROOM_PREFIX = "case-"


class RoomKind(models.TextChoices):
    LOUNGE = "lounge", "Lounge"
    CASE = "case", "Case room"


class MemberRole(models.TextChoices):
    MEMBER = "member", "Member"
    POSTER = "poster", "Case poster"
    MODERATOR = "moderator", "Moderator"


class Room(models.Model):
    # Public id, also bound into every envelope and pseudonym: "lounge-<slug>", "case-<hex>".
    id = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=16, choices=RoomKind.choices)
    title = models.CharField(max_length=200)
    specialty = models.ForeignKey(
        "physicians.Specialty", null=True, blank=True, on_delete=models.PROTECT, related_name="rooms"
    )
    # The last seq handed out; the next message takes last_seq + 1 under this row's lock.
    last_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id

    @property
    def is_open(self) -> bool:
        """Lounges are open to every verified physician; case rooms to their members."""
        return self.kind == RoomKind.LOUNGE


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.MEMBER)
    # Appear under the real display name instead of the pseudonym handle in this room.
    real_name = models.BooleanField(default=False)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    muted_until = models.DateTimeField(null=True, blank=True)
    banned = models.BooleanField(default=False)
    active = models.BooleanField(default=True)  # False after leaving or a kick
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="membership_room_user")]


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    author = models.CharField(max_length=64)  # pseudonym id, never a user id
    client_id = models.CharField(max_length=64)
    epoch = models.PositiveIntegerField()
    key_id = models.PositiveBigIntegerField()
    body_sealed = models.BinaryField()
    reply_to = models.PositiveBigIntegerField(null=True, blank=True)
    mentions = models.JSONField(default=list)  # pseudonym ids
    attachments = models.JSONField(default=list)  # attachment ids
    sent_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # The moderator's reason, sealed under the room key (rooms/reasons.py); NULL when shown.
    hidden_reason_sealed = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq"),
            # message.send is idempotent on client_id, per author and room.
            models.UniqueConstraint(fields=["room", "author", "client_id"],
                                    name="message_room_author_client"),
        ]


class MessageTerm(models.Model):
    """One search term of a message's current body, as a keyed blind token
    (crypto/search_terms.py; docs/search.md): never the term. Written in the transaction
    that stores, edits, hides or deletes the message; a hidden or deleted message has none."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    room_id = models.CharField(max_length=64)
    at = models.DateTimeField()  # the message's sent_at: recency ranks without a join
    term = models.BinaryField(max_length=16)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "term"],
                                               name="message_term_once")]
        indexes = [models.Index(fields=["term", "room_id"], name="message_term_lookup")]


class MessageRevision(models.Model):
    """An earlier body of an edited or deleted message, kept sealed for moderators."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    epoch = models.PositiveIntegerField()
    key_id = models.PositiveBigIntegerField()
    body_sealed = models.BinaryField()
    replaced_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "revision"],
                                               name="revision_message_rev")]


class Report(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reports")
    seq = models.PositiveBigIntegerField()
    reporter = models.CharField(max_length=64)  # the reporter's pseudonym in that room
    # Free text, so sealed (rooms/reasons.py): the reason under the room key and the
    # reporter's author key (erasing the reporter shreds it), the moderator's resolution note
    # under the room key (NULL until resolved).
    reason_sealed = models.BinaryField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_sealed = models.BinaryField(null=True, blank=True)


class BanScope(models.TextChoices):
    ROOM = "room", "Room"
    NETWORK = "network", "Network"


class Ban(models.Model):
    """One ban as a moderator issued it, with its reason sealed under the room key.

    Whether a member is banned lives elsewhere (``Membership.banned``, ``User.is_active``);
    this row is the why, which the audit log (codes only) points at by id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    pseudonym = models.CharField(max_length=64)  # the banned member's pseudonym in that room
    scope = models.CharField(max_length=16, choices=BanScope.choices)
    reason_sealed = models.BinaryField()
    banned_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["room", "pseudonym"])]


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="attachments")
    author = models.CharField(max_length=64)  # pseudonym id
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    epoch = models.PositiveIntegerField()
    key_id = models.PositiveBigIntegerField()
    data_sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
