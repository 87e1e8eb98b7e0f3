"""Which browser origins may open ``/ws/v1/`` (and send unsafe API requests), when the
operator did not say.

``CURBSIDE_WS_ORIGINS`` lists them. In production it is required (settings.py). In
development, when it is not set, ``manage.py serve`` makes the list follow the address it
was started on (``served_origins``): ``make run PORT=18000`` serves a working chat at
``http://127.0.0.1:18000`` and ``http://localhost:18000`` with no extra setting. Anything
else is still refused — a foreign page must never open a socket with the user's cookie
(cross-site WebSocket hijacking) — and each refused origin is logged once per process,
with the variable that would admit it (``log_refused``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from daphne.cli import DEFAULT_HOST, DEFAULT_PORT, CommandLineInterface

log = logging.getLogger(__name__)

# Addresses that mean "this machine, any interface": the names a browser on it would use.
_ANY = frozenset({"0.0.0.0", "::", ""})
_LOOPBACK = ("127.0.0.1", "localhost")
# Distinct refused origins logged per process: an attacker cycling origins cannot grow the
# set (or the log) without bound.
MAX_LOGGED = 256


def bound_address(daphne_args: list[str]) -> tuple[str, int] | None:
    """(host, port) daphne will listen on for ``daphne_args``, with its own defaults; None
    when it listens on a UNIX socket, a file descriptor or endpoint strings only."""
    args = CommandLineInterface().parser.parse_args([*daphne_args, "asgi:application"])
    if args.unix_socket or args.file_descriptor is not None or args.socket_strings:
        if not args.host and args.port is None:
            return None
    return (args.host or DEFAULT_HOST), (args.port if args.port is not None else DEFAULT_PORT)


def _origin(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal, as a browser writes it in an Origin
    return f"http://{host}" if port == 80 else f"http://{host}:{port}"


def served_origins(host: str, port: int, allowed_hosts: Iterable[str]) -> list[str]:
    """The ``http://`` origins of a development server bound to ``host:port``: the bound
    host itself (unless it is every interface), the loopback names when it listens on them,
    and each literal name of ``ALLOWED_HOSTS`` (the names Django answers to) on that port."""
    names: list[str] = []
    if host not in _ANY:
        names.append(host)
    if host in _ANY or host in _LOOPBACK or host == "::1":
        names += _LOOPBACK
    names += [h for h in allowed_hosts if h and h != "*" and not h.startswith(".")]
    return list(dict.fromkeys(_origin(name, port) for name in names))


_logged: set[str] = set()
_lock = threading.Lock()


def log_refused(origin: str, allowed: list[str]) -> None:
    """Log a refused ``Origin`` once per process, with the fix."""
    with _lock:
        if origin in _logged or len(_logged) >= MAX_LOGGED:
            return
        _logged.add(origin)
    log.warning(
        "WebSocket refused from origin %r: not an allowed origin (%s). If users reach this "
        "server at that address, add it to CURBSIDE_WS_ORIGINS (comma-separated "
        "scheme://host[:port] list) and restart. Logged once per origin.",
        origin[:200], ", ".join(allowed) or "none")


def reset() -> None:
    """Forget which origins were logged (tests)."""
    with _lock:
        _logged.clear()
