"""serve: run daphne on asgi:application with the limits from settings.

Autobahn (under daphne) lets an application close a socket only with 1000 or 3000–4999, so
the 1009 "message too big" close of PROTOCOL.md has to come from the server itself: this
command hands daphne the frame limit from settings, and gateway/patches.py makes daphne send
the close frame. Any other daphne option can follow.

    manage.py serve -b 127.0.0.1 -p 8000 [daphne options…]
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from gateway import patches


class Command(BaseCommand):
    help = "Serve Curbside with daphne (HTTP + /ws/v1/)."

    def add_arguments(self, parser):
        parser.add_argument("daphne_args", nargs="*", help="daphne options, after --")

    def run_from_argv(self, argv):
        # Pass everything after "serve" to daphne untouched (its options are not ours).
        args = argv[2:]
        if args[:1] == ["--"]:
            args = args[1:]
        self.execute(daphne_args=args, no_color=False, force_color=False, skip_checks=False,
                     traceback=False, verbosity=1)

    def handle(self, *args, daphne_args: list[str], **opts):
        patches.apply()  # the close-frame factory among them (gateway/patches.py)
        frame = str(settings.CURBSIDE_LIMITS["frame_bytes"])
        # daphne pings every open socket every 20 s by default, on top of the clients' own
        # heartbeat (a ping op every heartbeat_s): at 10,000 idle sockets that is 500
        # WebSocket pings and pongs a second — a fifth of the CPU at rest. Its ping stays as
        # the dead-peer check, at CURBSIDE_WS_PING_S (a later --ping-interval still wins).
        CommandLineInterface().run(
            ["--websocket-max-message-size", frame,
             "--ping-interval", str(settings.CURBSIDE_WS_PING_S), *daphne_args,
             "asgi:application"]
        )
