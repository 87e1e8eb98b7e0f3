"""serve: run asgi:application with the limits from settings, under uvicorn (the default,
chosen by measurement) or another ASGI server chosen with ``--server``.

    manage.py serve -b 127.0.0.1 -p 8000 [--proxy-headers]        # uvicorn, websockets-sansio
    manage.py serve --server daphne -b 127.0.0.1 -p 8000 [daphne options…]
    manage.py serve --server uvicorn-wsproto -b 127.0.0.1 -p 8000
    manage.py serve --server granian -b 127.0.0.1 -p 8000

uvicorn gets the incoming frame limit and the ping interval from settings, daphne's access
log, no permessage-deflate, and ``-b``/``-p``/``--proxy-headers`` only: its other options are
its own environment variables (``UVICORN_…``). A refused handshake during an outage is
answered HTTP 503 through ASGI's WebSocket Denial Response (gateway/consumer.py) and a client
that stops reading is dropped by gateway/backlog.py; none of the runtime patches is on its
path.

daphne: autobahn (under daphne) lets an application close a socket only with 1000 or
3000–4999, so the 1009 "message too big" close of PROTOCOL.md has to come from the server
itself: this command hands daphne the frame limit from settings, and gateway/patches.py makes
daphne send the close frame, answer 503, bound what it holds for a slow reader and close
every socket with 1012 on SIGTERM. Any other daphne option can follow.

uvicorn-wsproto and granian come with the optional ``[servers]`` extra (docs/benchmarks.md
has the measurements that compare them).

In development without ``CURBSIDE_WS_ORIGINS``, the allowed browser origins follow the
address the server is bound to (gateway/origins.py), so ``make run PORT=18000`` just works.
"""

from __future__ import annotations

import argparse
import copy
import os

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway import origins, patches

SERVERS = ("daphne", "uvicorn", "uvicorn-wsproto", "granian")
# uvicorn's WebSocket implementations: `websockets-sansio` (websockets' Sans-I/O layer on
# uvicorn's own asyncio protocol; the legacy `websockets` one is deprecated in uvicorn 0.55)
# and `wsproto`.
UVICORN_WS = {"uvicorn": "websockets-sansio", "uvicorn-wsproto": "wsproto"}
# Chosen by measurement (docs/benchmarks.md, "Which ASGI server"): uvicorn spends the least
# server CPU per delivery; daphne stays supported (`--server daphne`) and tested in CI.
DEFAULT_SERVER = "uvicorn"


def split_server(args: list[str]) -> tuple[str, list[str]]:
    """``--server NAME`` (or ``--server=NAME``) out of the arguments; uvicorn without it."""
    server, rest, i = DEFAULT_SERVER, [], 0
    while i < len(args):
        if args[i] == "--server" and i + 1 < len(args):
            server, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--server="):
            server = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    if server not in SERVERS:
        raise CommandError(f"--server must be one of {', '.join(SERVERS)}, not {server!r}")
    return server, rest


def host_port(args: list[str]) -> tuple[str, int, bool]:
    """``-b HOST -p PORT [--proxy-headers]`` (daphne's spelling) for the other servers."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-b", "--bind", default=origins.DEFAULT_HOST)
    p.add_argument("-p", "--port", type=int, default=origins.DEFAULT_PORT)
    p.add_argument("--proxy-headers", action="store_true")
    known, unknown = p.parse_known_args(args)
    if unknown:
        raise CommandError(
            f"only -b, -p and --proxy-headers are taken with this --server, not {unknown}")
    return known.bind, known.port, known.proxy_headers


class Command(BaseCommand):
    help = "Serve Curbside (HTTP + /ws/v1/) with uvicorn, or daphne/granian with --server."

    def add_arguments(self, parser):
        parser.add_argument("daphne_args", nargs="*", help="daphne options, after --")

    def run_from_argv(self, argv):
        # Pass everything after "serve" to the server untouched (its options are not ours).
        args = argv[2:]
        if args[:1] == ["--"]:
            args = args[1:]
        self.execute(daphne_args=args, no_color=False, force_color=False, skip_checks=False,
                     traceback=False, verbosity=1)

    def handle(self, *args, daphne_args: list[str], **opts):
        server, daphne_args = split_server(daphne_args)
        frame = settings.CURBSIDE_LIMITS["frame_bytes"]
        if server != "daphne":
            host, port, proxy_headers = host_port(daphne_args)
            self.follow_bound_address(["-b", host, "-p", str(port)])
            if server == "granian":
                if proxy_headers:
                    raise CommandError("--proxy-headers is not taken with --server granian")
                self.granian(host, port)
            else:
                self.uvicorn(host, port, UVICORN_WS[server], frame, proxy_headers)
            return
        patches.apply()  # the close-frame factory among them (gateway/patches.py)
        self.follow_bound_address(daphne_args)
        # daphne pings every open socket every 20 s by default, on top of the clients' own
        # heartbeat (a ping op every heartbeat_s): at 10,000 idle sockets that is 500
        # WebSocket pings and pongs a second — a fifth of the CPU at rest. Its ping stays as
        # the dead-peer check, at CURBSIDE_WS_PING_S (a later --ping-interval still wins).
        CommandLineInterface().run(
            ["--websocket-max-message-size", str(frame),
             "--ping-interval", str(settings.CURBSIDE_WS_PING_S), *daphne_args,
             "asgi:application"]
        )

    def uvicorn(self, host: str, port: int, ws: str, frame: int, proxy_headers: bool) -> None:
        import uvicorn  # a dependency; imported here so daphne's path never loads it

        # lifespan off: Channels' ProtocolTypeRouter has no lifespan handler. uvloop and
        # httptools are used when installed (uvicorn's "auto"), as `uvicorn[standard]` does.
        # The access log as daphne writes it (one line per request on stdout, which the
        # operator's log shipping and the suite's canary scan read); uvicorn's own messages
        # from warnings up.
        logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
        logging_config["loggers"]["uvicorn.error"]["level"] = "WARNING"
        uvicorn.run("asgi:application", host=host, port=port, ws=ws, ws_max_size=frame,
                    ws_ping_interval=float(settings.CURBSIDE_WS_PING_S),
                    ws_ping_timeout=float(settings.CURBSIDE_WS_PING_S),
                    # No permessage-deflate, as under daphne: a zlib context per socket
                    # (memory per idle socket) and a compression per delivery (CPU per
                    # delivery) for chat frames of a few hundred bytes.
                    ws_per_message_deflate=False,
                    lifespan="off", access_log=True, log_config=logging_config,
                    # --proxy-headers as daphne takes it: the client address from
                    # X-Forwarded-For of whatever connects (only nginx can: docker-compose.yml).
                    proxy_headers=proxy_headers,
                    forwarded_allow_ips="*" if proxy_headers else None,
                    server_header=False)

    def granian(self, host: str, port: int) -> None:
        from granian import Granian  # optional: the [servers] extra
        from granian.constants import Interfaces

        # ASGINL: ASGI without lifespan (Channels' router has no lifespan handler).
        Granian("asgi:application", address=host, port=port, interface=Interfaces.ASGINL,
                websockets=True, workers=1, log_access=False).serve()

    def follow_bound_address(self, daphne_args: list[str]) -> None:
        """Development, no ``CURBSIDE_WS_ORIGINS``: allow the origins of the address the
        server is about to listen on (set before it loads the application and its middleware,
        which read them)."""
        if settings.PRODUCTION or settings.CURBSIDE_WS_ORIGINS_SET:
            return
        bound = origins.bound_address(daphne_args)
        if bound is None:
            return
        allowed = origins.served_origins(*bound, settings.ALLOWED_HOSTS)
        settings.CURBSIDE_WS_ORIGINS = allowed
        settings.CSRF_TRUSTED_ORIGINS = allowed
        # granian runs the application in a worker process of its own, which reads settings
        # afresh: it learns the origins from the environment.
        os.environ["CURBSIDE_WS_ORIGINS"] = ",".join(allowed)
        self.stdout.write(f"Allowed browser origins (set CURBSIDE_WS_ORIGINS to change): "
                          f"{', '.join(allowed)}")
