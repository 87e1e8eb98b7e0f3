"""Suite-wide fixtures. The header says which database and channel layer the run used.

In CI (``CI=true``) the suite must run on the real PostgreSQL and Redis: a run that was
pointed at SQLite or the in-memory layer fails at start-up instead of passing quietly.
"""

from __future__ import annotations

import functools
import os

import pytest
from django.conf import settings


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db['HOST']}:{db['PORT']}"
    return [
        f"curbside database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"curbside channel layer: {settings.CHANNEL_LAYER_NAME}"
        + (f" ({settings.REDIS_URL})" if settings.REDIS_URL else ""),
    ]


def _forget_stale_presence() -> None:
    """Presence keys left in the test Redis database by an earlier, interrupted run (a
    killed server's connections, a fake clock far in the future) would make physicians look
    online who do not exist in this run's database. Start every session without them."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    for pattern in (f"{prefix}:presence:*", "test-presence-*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    client.close()


def pytest_sessionstart(session):
    if settings.REDIS_URL:
        _forget_stale_presence()
    if os.environ.get("CI") == "true":
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine or not settings.REDIS_URL:
            raise pytest.UsageError(
                "CI must run on PostgreSQL and Redis: set DATABASE_URL and REDIS_URL "
                f"(got engine={engine}, REDIS_URL={settings.REDIS_URL!r})"
            )


def pytest_sessionfinish(session, exitstatus):
    """The whole-suite canary scan of the logs: no test server logged the fixture password
    or a fixture e-mail address (tests/support/canaries.py). Fails the run if one did."""
    from tests.support.canaries import suite_log_leaks
    from tests.support.servers import LOG_PATHS

    leaks = suite_log_leaks(LOG_PATHS)
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"canary scan: planted values in server logs: {leaks}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def specialties(db):
    """The taxonomy rows. Loaded by a data migration, but a transactional test's flush
    removes them, so tests that need them ask for this (an idempotent upsert)."""
    from physicians.models import Specialty
    from physicians.taxonomy import load_specialties
    from rooms.lounges import lounges_ensure
    from rooms.models import Room

    load_specialties(Specialty)
    lounges_ensure(Room, Specialty)


@pytest.fixture(scope="session", autouse=True)
def _force_login_passes_the_code():
    """``Client.force_login(user)`` logs in through a bare request that has no ``user``, so
    django-otp's own login hook cannot store ``user.otp_device`` in the session; this does,
    as a real login with a code would (``make_physician`` sets it on staff users)."""
    from django.contrib.auth.signals import user_logged_in
    from django_otp import DEVICE_ID_SESSION_KEY

    def store(sender, request, user, **kwargs):
        device = getattr(user, "otp_device", None)
        if device is not None and not hasattr(request, "user"):
            request.session[DEVICE_ID_SESSION_KEY] = device.persistent_id

    user_logged_in.connect(store, dispatch_uid="tests-force-login-otp")
    yield
    user_logged_in.disconnect(dispatch_uid="tests-force-login-otp")


@pytest.fixture
def make_physician(specialties):
    """Create a physician through the real registration service."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from physicians import services, twofactor
    from physicians.states import LicenceStatus

    counter = iter(range(1, 10_000))

    def make(*, status: str = LicenceStatus.VERIFIED, role: str = "physician",
             specialty: str = "cardiology", languages: tuple[str, ...] = ("en",),
             email: str | None = None, password: str = "correct-horse-battery") -> tuple:
        n = next(counter)
        email = email or f"dr{n}.{os.getpid()}@example.test"
        physician = services.physician_register(
            data=services.Registration(
                email=email, password=password, first_name=f"Test{n}", last_name="Doctor",
                country="GB", licence_number=f"{7000000 + n * 7919 % 999999:07d}",
                specialty=specialty, languages=languages,
            ),
            role=role,
        )
        if status != LicenceStatus.PENDING:
            services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED,
                                    by=None, backend="test", reason="fixture")
        if status in (LicenceStatus.SUSPENDED,):
            services.licence_decide(physician=physician, to_status=status, by=None,
                                    backend="test", reason="fixture")
        if twofactor.otp_required(physician.user):
            # Staff sign in with a one-time code: a confirmed authenticator, whose codes
            # tests.support.otp computes. Set as ``otp_device``, it marks a session verified
            # (``_force_login_passes_the_code``), so ``client.force_login(physician.user)``
            # gives a staff session that passed a code, as a real login would.
            physician.user.otp_device = TOTPDevice.objects.create(
                user=physician.user, name="test", confirmed=True)
        return physician, email, password

    return make


@pytest.fixture
def fresh_presence(settings):
    """A presence namespace of this test's own: nobody is online until the test says so
    (other tests and servers share the Redis database)."""
    import uuid

    from presence import runtime

    settings.CURBSIDE_PRESENCE_PREFIX = f"test-presence-{uuid.uuid4().hex}"
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture(autouse=True)
def _every_frame_checked(monkeypatch):
    """Zulip's ``verify_action``, suite-wide: every frame the server emits while a test runs is
    checked against the wire schema (``bus.protocol.validate_server_frame``), not only the
    frames the test reads, and any invalid one fails the test here, at teardown.

    - frames built in this process: ``event_frame``, ``reply_ok`` and ``reply_error`` are
      wrapped (services' outbox events in unit tests; an invalid one also raises at once);
    - frames a consumer sends in this process: ``CurbsideConsumer.send`` is wrapped, with
      each reply checked against the op of the request it answers;
    - frames a test socket receives: tests/support/clients.py checks each and records it;
    - frames test daphnes send (browser tests too): they run with CURBSIDE_VALIDATE_FRAMES=1
      and log invalid ones; each running server's new log lines are read here.
    """
    from bus import protocol
    from gateway import consumer
    from tests.support import clients, servers

    errors: list[str] = []

    def report(problem: str, frame: str) -> None:
        errors.append(f"{problem}; frame: {frame[:2000]}")

    def checked(build):
        @functools.wraps(build)
        def wrapper(*args, **kwargs):
            frame = build(*args, **kwargs)
            try:
                protocol.validate_server_frame(frame)
            except protocol.InvalidFrame as exc:
                report(f"{build.__name__}: {exc}", frame)
                raise
            return frame

        return wrapper

    for name in ("event_frame", "reply_ok", "reply_error"):
        monkeypatch.setattr(protocol, name, checked(getattr(protocol, name)))
    for name, method in consumer.frame_checked_methods(report).items():
        monkeypatch.setattr(consumer.CurbsideConsumer, name, method)
    clients.FRAME_ERRORS.clear()
    yield errors  # a test that provokes an invalid frame on purpose checks and clears it
    problems = errors + clients.FRAME_ERRORS + servers.invalid_frames_logged()
    clients.FRAME_ERRORS.clear()
    if problems:
        pytest.fail("the server emitted frames that break the protocol (bus/protocol.py):\n"
                    + "\n".join(problems), pytrace=False)
