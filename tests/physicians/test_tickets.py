"""Stateless single-use WebSocket tickets (physicians/tickets.py, physicians.services.ws_ticket_*),
and the spent-nonce store contract, run against both implementations."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from bus import hub
from crypto import keys
from crypto.keyring import Keyring
from physicians import services, tickets

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
redeem = async_to_sync(services.ws_ticket_redeem)


@pytest.fixture
def user(make_physician):
    return make_physician()[0].user


def test_ticket_redeems_once(user):
    ticket, expires = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    assert expires == T0 + timedelta(seconds=settings.CURBSIDE_TICKET_TTL_S)
    assert redeem(ticket=ticket, now=T0 + timedelta(seconds=1)) == str(user.pk)
    assert redeem(ticket=ticket, now=T0 + timedelta(seconds=2)) is None


def test_ticket_is_valid_for_its_ttl_and_no_longer(user):
    ttl = timedelta(seconds=settings.CURBSIDE_TICKET_TTL_S)
    assert ttl <= timedelta(seconds=30)
    ticket, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    assert redeem(ticket=ticket, now=T0 + ttl) == str(user.pk)
    late, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    assert redeem(ticket=late, now=T0 + ttl + timedelta(milliseconds=1)) is None


def test_issuing_writes_nothing_to_the_database(user, django_assert_num_queries):
    with django_assert_num_queries(0):
        first, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
        second, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    assert first != second  # a fresh nonce each time


def test_a_session_ticket_names_the_session_by_its_group_never_its_key(user):
    """Issue 11 (8): the ticket a browser session asks for carries the session's reference
    (its socket group, a keyed digest) so its socket closes at that session's logout; the
    session key itself is in neither the ticket nor what redeeming it yields."""
    key = "k" * 32
    spend = async_to_sync(services.ws_ticket_spend)
    ticket, _ = services.ws_ticket_issue(user_id=str(user.pk), session_key=key, now=T0)
    raw = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
    group = hub.session_group(key)
    assert key.encode() not in raw and bytes.fromhex(group[2:]) not in raw  # sealed
    opened = spend(ticket=ticket, now=T0)
    assert (opened.user_id, opened.session_group) == (str(user.pk), group)
    assert key not in repr(opened)
    by_password, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    assert spend(ticket=by_password, now=T0).session_group is None
    with pytest.raises(ValueError):
        tickets.ticket_seal(user_id=str(user.pk), expires_at=0, session_group=key)


def test_the_ticket_does_not_reveal_the_user(user):
    """The URL (and so the access log) carries the ticket: it must not name the user."""
    ticket, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    raw = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
    uid = uuid.UUID(str(user.pk))
    for form in (uid.bytes, uid.hex.encode(), str(uid).encode()):
        assert form not in raw and form not in ticket.encode()


def test_unknown_malformed_and_tampered_tickets_are_refused(user):
    ticket, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    raw = bytearray(base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4)))
    for i in (0, 5, 20, len(raw) - 1):  # format, header, body, tag
        bad = bytearray(raw)
        bad[i] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(bad)).rstrip(b"=").decode()
        assert redeem(ticket=forged, now=T0) is None
    for junk in ("", "not-a-ticket", "A" * 98, "%%%", ticket[:-4], "x" * 5000):
        assert redeem(ticket=junk, now=T0) is None
    assert redeem(ticket=ticket, now=T0) == str(user.pk)  # the original still works once


def test_a_ticket_from_another_keyring_is_refused(user, settings):
    ticket, _ = services.ws_ticket_issue(user_id=str(user.pk), now=T0)
    settings.CURBSIDE_KEYRING = Keyring.generate().to_json()
    keys.reset()
    try:
        assert redeem(ticket=ticket, now=T0) is None
    finally:
        keys.reset()


# --- the spent-nonce store contract, for both implementations ------------------------------

@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return tickets.MemorySpentNonces()
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    from redis.asyncio import Redis

    return tickets.RedisSpentNonces(Redis.from_url(settings.REDIS_URL),
                                    f"test:ticket:{uuid.uuid4().hex}:")


def test_a_nonce_is_spent_once(store):
    @async_to_sync
    async def run():
        nonce, other = uuid.uuid4().bytes, uuid.uuid4().bytes
        first = await store.spend(nonce, expires_at=130.0, now=100.0)
        again = await store.spend(nonce, expires_at=130.0, now=101.0)
        fresh = await store.spend(other, expires_at=130.0, now=101.0)
        return first, again, fresh

    assert run() == (True, False, True)


def test_the_memory_store_forgets_nonces_once_their_tickets_are_dead():
    store = tickets.MemorySpentNonces()
    late = tickets.CLOCK_SKEW_S + 1
    for i in range(tickets.SWEEP_EVERY):
        assert store.spend_now(i.to_bytes(16, "big"), expires_at=10.0, now=0.0)
    assert len(store) == tickets.SWEEP_EVERY
    assert store.spend_now(b"x" * 16, expires_at=10.0 + late + 30, now=10.0 + late)
    assert len(store) == 1  # the sweep dropped every nonce whose ticket had expired


def test_the_redis_store_keeps_a_nonce_only_as_long_as_its_ticket_could_be_used():
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    from redis.asyncio import Redis

    prefix = f"test:ticket:{uuid.uuid4().hex}:"

    @async_to_sync
    async def run():
        client = Redis.from_url(settings.REDIS_URL)
        store = tickets.RedisSpentNonces(client, prefix)
        nonce = uuid.uuid4().bytes
        await store.spend(nonce, expires_at=130.0, now=100.0)
        ttl = await client.ttl(prefix + nonce.hex())
        await client.delete(prefix + nonce.hex())
        await client.aclose()
        return ttl

    assert 30 <= run() <= 30 + tickets.CLOCK_SKEW_S + 1
