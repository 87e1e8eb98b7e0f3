"""Erasure of a physician (crypto-shredding): their keys and their traces in every room.

It lives with rooms, not with physicians, because most of what it destroys is per room: the
author keys of their messages, their memberships, their escrowed pseudonyms, the cached
roster cards.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.utils import timezone

from bus import outbox
from crypto.envelope import author_keys_destroy
from crypto.models import EscrowRecord
from crypto.pseudonyms import pseudonym_id
from physicians.models import Physician, User
from physicians.services import CLOSE_FORBIDDEN, physician_get
from rooms.models import Membership, Message, MessageTerm
from rooms.roster import roster_forget


def physician_erase(*, user_id: str, keep_escrow: bool = False, now: datetime | None = None) -> int:
    """Erase a physician by destroying keys (crypto-shredding); returns rooms affected.

    The personal-data key goes, so e-mail, names and licence number can no longer be opened;
    their author keys in every room they were in go, so their messages and attachments can no
    longer be opened while everyone else's still can. The account is deactivated, its live
    sockets closed, its blind indexes replaced by random values (so the e-mail and licence can
    register again), and — unless ``keep_escrow`` (a legal hold) — the escrow records that
    tie their pseudonyms to the account are deleted. What stays: message rows with their seqs
    (shown with an empty body), country, specialty and the licence decisions.

    Raises:
        NotFound: no such physician.
    """
    now = now or timezone.now()
    physician = physician_get(user_id=user_id)
    user = physician.user
    room_ids = list(Membership.objects.filter(user=user).values_list("room_id", flat=True))
    authors = [(room, pseudonym_id(user_id=str(user.pk), room_id=room)) for room in room_ids]
    with outbox.atomic():
        author_keys_destroy(authors=authors)
        # Their messages can no longer be opened: nor found (docs/search.md).
        for room, pseudonym in authors:
            MessageTerm.objects.filter(message__in=Message.objects.filter(
                room_id=room, author=pseudonym)).delete()
        if not keep_escrow:
            for room, pseudonym in authors:
                EscrowRecord.objects.filter(room_id=room, pseudonym=pseudonym).delete()
        User.objects.filter(pk=user.pk).update(
            personal_key=None, email_sealed=None, is_active=False, erased_at=now,
            email_index=f"erased:{secrets.token_hex(24)}", password="!")
        Physician.objects.filter(pk=physician.pk).update(
            display_name_sealed=None, real_name_sealed=None, licence_number_sealed=None,
            licence_index=f"erased:{secrets.token_hex(24)}")
        Membership.objects.filter(user=user).update(active=False)
        outbox.close_user_sockets(user_id=str(user.pk), code=CLOSE_FORBIDDEN)
    for room in room_ids:
        roster_forget(room)
    return len(room_ids)
