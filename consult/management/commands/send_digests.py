"""send_digests [--loop]: mail the digest of unread mentions, replies and answers to
physicians with no open socket (consult/digest.py).

Once (for cron), or ``--loop`` to repeat every ``CURBSIDE_DIGEST_EVERY_S`` seconds until
stopped (a process beside ``serve``). Who is online comes from the presence store: with
Redis (``REDIS_URL``) every server process's sockets count; without it (embedded, one
process) this command cannot see the server's sockets and treats everyone as offline.
"""

from __future__ import annotations

import asyncio
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from consult.digest import digests_send
from presence import runtime


async def _online() -> set[str]:
    store = runtime.store()
    try:
        return {p.user_id for p in await store.online(now=time.time())}
    finally:
        if settings.REDIS_URL:
            await store.close()
            runtime.reset()


class Command(BaseCommand):
    help = "Mail the digest of unread mentions, replies and answers to offline physicians."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true",
                            help="repeat every CURBSIDE_DIGEST_EVERY_S seconds until stopped")

    def handle(self, *args, **opts) -> None:
        while True:
            sent = digests_send(online=asyncio.run(_online()))
            self.stdout.write(f"digests sent: {sent}")
            if not opts["loop"]:
                return
            time.sleep(settings.CURBSIDE_DIGEST_EVERY_S)
