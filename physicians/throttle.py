"""Login and sign-up limits, counted in the database so every server process shares them.

Each counter (``AuthThrottle``) is keyed by a scope and a keyed hash of what it counts:

- ``login-account``: failed logins (wrong password or one-time code, ticket by password
  included) for one e-mail address, through the e-mail's blind index — an address that has
  no account is counted exactly like one that has, so the answers do not tell them apart;
- ``login-ip``: failed logins from one client address (an IPv6 client by its /64);
- ``signup-ip``: accepted sign-ups from one client address.

When a counter reaches its limit within ``window_s`` it is locked for ``lockout_s``; every
further failure counted after that (the lock has to run out first) doubles the lock, up to
``lockout_max_s``. While locked, every attempt is refused with ``RateLimited`` and the seconds
left (``retry_after_s``) before the password is even looked at. A successful login forgets
the account's counter but not the address's: an attacker who owns one account must not be
able to reset the address's count between guesses. Counters with nothing recent are swept.

Why not django-axes (docs/security.md, "Login throttling"): it applies one failure limit to
every lockout parameter, so an address shared by a whole hospital would be locked as soon as
one account is; it keeps the submitted username and the client address in clear in its
tables; and it has no notion of sign-ups or of one-time-code failures.
"""

from __future__ import annotations

import ipaddress
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import RateLimited
from crypto import personal
from physicians.models import AuthThrottle

# The clock (tests move it).
now = timezone.now
# A stale counter is swept with this probability per counted failure.
SWEEP_CHANCE = 0.01


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window_s: float
    lockout_s: float
    lockout_max_s: float


def _limits() -> dict:
    return settings.CURBSIDE_AUTH_LIMITS


def login_account_limit() -> Limit:
    c = _limits()
    return Limit("login-account", c["login_failures_per_account"], c["login_window_s"],
                 c["lockout_s"], c["lockout_max_s"])


def login_ip_limit() -> Limit:
    c = _limits()
    return Limit("login-ip", c["login_failures_per_ip"], c["login_window_s"],
                 c["lockout_s"], c["lockout_max_s"])


def signup_ip_limit() -> Limit:
    c = _limits()
    return Limit("signup-ip", c["signups_per_ip"], c["signup_window_s"],
                 c["signup_window_s"], max(c["signup_window_s"], c["lockout_max_s"]))


def account_key(email: str) -> str:
    """The account counter's key: the e-mail's blind index, whether or not it has an account."""
    return "login-account:" + personal.email_index(email or "")


def client_key(scope: str, client_ip: str | None) -> str:
    """``scope`` plus a keyed hash of the client address (IPv6 by its /64 prefix)."""
    address = (client_ip or "").strip()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        pass
    else:
        if ip.version == 6 and ip.ipv4_mapped is not None:
            address = str(ip.ipv4_mapped)
        elif ip.version == 6:
            address = str(ipaddress.ip_network(f"{ip}/64", strict=False))
        else:
            address = str(ip)
    return f"{scope}:" + personal.blind_index("client-ip", address)


def check(*keys: str) -> None:
    """Refuse while any of ``keys`` is locked.

    Raises:
        RateLimited: with ``retry_after_s``, the whole seconds until the last lock ends.
    """
    at = now()
    ends = [until for until in AuthThrottle.objects.filter(key__in=keys, locked_until__gt=at)
            .values_list("locked_until", flat=True)]
    if ends:
        wait = math.ceil((max(ends) - at).total_seconds())
        raise RateLimited("Too many attempts. Try again later.",
                          details={"retry_after_s": wait})


def count(limit: Limit, key: str) -> None:
    """Count one failure (or sign-up) against ``key``; lock it when the limit is reached."""
    at = now()
    with transaction.atomic():
        AuthThrottle.objects.bulk_create([AuthThrottle(key=key)], ignore_conflicts=True)
        row = AuthThrottle.objects.select_for_update().get(key=key)
        window = timedelta(seconds=limit.window_s)
        quiet = row.last_failure_at is None or at - row.last_failure_at > window
        if quiet and (row.locked_until is None or at - row.locked_until > window):
            row.failures = 0
        row.failures += 1
        row.last_failure_at = at
        if row.failures >= limit.limit:
            seconds = min(limit.lockout_max_s,
                          limit.lockout_s * 2 ** min(row.failures - limit.limit, 32))
            row.locked_until = at + timedelta(seconds=seconds)
        row.save()
    if random.random() < SWEEP_CHANCE:  # noqa: S311  not a secret
        sweep(at=at)


def forget(key: str) -> None:
    AuthThrottle.objects.filter(key=key).delete()


def sweep(*, at: datetime | None = None) -> int:
    """Delete counters with no failure and no lock for longer than any window could need."""
    at = at or now()
    c = _limits()
    horizon = at - timedelta(seconds=max(c["login_window_s"], c["signup_window_s"])
                             + max(c["lockout_max_s"], c["signup_window_s"]))
    stale = AuthThrottle.objects.filter(last_failure_at__lt=horizon).exclude(locked_until__gt=at)
    return stale.delete()[0]
