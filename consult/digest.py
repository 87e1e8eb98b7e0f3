"""The digest mail: unread mentions, replies and answers, for physicians with no open socket.

``digests_send`` (run by ``manage.py send_digests``, once or in a loop: docs/operations.md)
mails each physician who is not online and has unread ``mention``, ``reply`` or ``answer``
notifications not yet counted by a digest one mail that gives **counts only** and a link to
the inbox of the web client: no message text, no case text, no room or case title (a case's
title is its question, which may carry patient details). The rows are claimed first — marked
``mailed_at`` under a row lock that a second run skips (``skip_locked``) — and mailed after
commit, so two runs at once never mail the same notification twice, and no notification is
counted by two digests. A mail server that is down loses that digest (logged), like the
offer alerts (consult/alerts.py).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from consult.models import Notification, NotificationKind
from physicians.models import Physician
from physicians.selectors import physician_profile

log = logging.getLogger(__name__)

# What a digest counts: someone spoke to me, or answered my case.
DIGEST_KINDS = (NotificationKind.MENTION, NotificationKind.REPLY, NotificationKind.ANSWER)
# The web client opens its inbox at this address (frontend/static/frontend/inbox.js).
INBOX_PATH = "/#inbox"


def _pending(user_id=None):
    rows = Notification.objects.filter(kind__in=DIGEST_KINDS, read_at__isnull=True,
                                       mailed_at__isnull=True)
    return rows if user_id is None else rows.filter(user_id=user_id)


def digests_send(*, online: set[str], now: datetime | None = None) -> int:
    """Mail one digest to each physician not ``online`` with uncounted unread mentions,
    replies or answers; returns how many mails were sent."""
    now = now or timezone.now()
    users = sorted({str(u) for u in _pending().values_list("user_id", flat=True).distinct()}
                   - {str(u) for u in online})
    sent = 0
    for user_id in users:
        with transaction.atomic():
            rows = list(_pending(user_id).select_for_update(skip_locked=True)
                        .values_list("id", "kind", "room_id"))
            if not rows:  # read meanwhile, or another run holds them
                continue
            Notification.objects.filter(pk__in=[r[0] for r in rows]).update(mailed_at=now)
        if _mail(user_id, rows):
            sent += 1
    return sent


def digest_text(rows: list[tuple[int, str, str]]) -> tuple[str, str]:
    """Subject and body of a digest of ``rows`` (id, kind, room id): counts and a link."""
    kinds = Counter(kind for _, kind, _ in rows)
    rooms = len({room for _, _, room in rows if room})
    lines = [f"{label}: {kinds[kind]}" for kind, label in (
        (NotificationKind.MENTION, "Mentions of you"),
        (NotificationKind.REPLY, "Replies to your messages"),
        (NotificationKind.ANSWER, "Answers on your cases and the cases you follow"),
    ) if kinds[kind]]
    total = sum(kinds.values())
    subject = f"Curbside: {total} unread notification{'s' if total != 1 else ''}"
    body = ("While you were away from Curbside:\n\n" + "\n".join(lines)
            + f"\n\nin {rooms} room{'s' if rooms != 1 else ''}. Sign in to read them in your "
            f"inbox:\n\n{settings.CURBSIDE_PUBLIC_URL}{INBOX_PATH}\n\n"
            "This mail holds no message text. Each notification is counted in one digest "
            "only.\n")
    return subject, body


def _mail(user_id: str, rows: list[tuple[int, str, str]]) -> bool:
    physician = Physician.objects.filter(user_id=user_id).first()
    to = physician_profile(physician=physician).email if physician is not None else None
    if not to:  # no physician profile, or an erased account
        return False
    subject, body = digest_text(rows)
    try:
        send_mail(subject, body, None, [to])
    except Exception:
        log.exception("digest mail failed (user %s, %d notifications)", user_id, len(rows))
        return False
    return True
