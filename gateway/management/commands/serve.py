"""serve: run daphne on asgi:application with the limits from settings.

Autobahn (under daphne) lets an application close a socket only with 1000 or 3000–4999, so
the 1009 "message too big" close of PROTOCOL.md has to come from the server itself: this
command hands daphne the frame limit from settings, and gateway/patches.py makes daphne send
the close frame. Any other daphne option can follow.

    manage.py serve -b 127.0.0.1 -p 8000 [daphne options…]

In development without ``CURBSIDE_WS_ORIGINS``, the allowed browser origins follow the
address daphne is bound to (gateway/origins.py), so ``make run PORT=18000`` just works.
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from gateway import origins, patches


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
        self.follow_bound_address(daphne_args)
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

    def follow_bound_address(self, daphne_args: list[str]) -> None:
        """Development, no ``CURBSIDE_WS_ORIGINS``: allow the origins of the address daphne
        is about to listen on (set before daphne loads the application and its middleware,
        which read them)."""
        if settings.PRODUCTION or settings.CURBSIDE_WS_ORIGINS_SET:
            return
        bound = origins.bound_address(daphne_args)
        if bound is None:
            return
        allowed = origins.served_origins(*bound, settings.ALLOWED_HOSTS)
        settings.CURBSIDE_WS_ORIGINS = allowed
        settings.CSRF_TRUSTED_ORIGINS = allowed
        self.stdout.write(f"Allowed browser origins (set CURBSIDE_WS_ORIGINS to change): "
                          f"{', '.join(allowed)}")
