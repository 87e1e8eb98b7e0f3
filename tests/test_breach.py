"""The breach test: a stolen database dump and a Redis dump reveal neither what was said nor
who said it. Populated through the real code paths, dumped with the real tools."""

from __future__ import annotations

import re
import secrets

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from bus import hub
from consult import services as cases
from crypto.pseudonyms import pseudonym_id
from physicians import services
from physicians.models import User
from physicians.states import LicenceStatus
from rooms import messages, roster
from rooms import services as room_services
from tests.support import canaries
from tests.support.canaries import npi

pytestmark = pytest.mark.django_db(transaction=True)


def _register(specialties, tag: str) -> dict:
    canary = {
        "email": f"canary.{tag}.{secrets.token_hex(4)}@hospital.example",
        "first": f"Zebulon{secrets.token_hex(3)}",
        "last": f"Quixote{secrets.token_hex(3)}",
        "licence": npi(),
    }
    physician = services.physician_register(data=services.Registration(
        email=canary["email"], password="correct-horse-battery", first_name=canary["first"],
        last_name=canary["last"], country="US", jurisdiction="CA",
        licence_number=canary["licence"], specialty="cardiology", languages=("en", "es")))
    services.licence_decide(physician=physician, to_status=LicenceStatus.VERIFIED, by=None,
                            backend="test", reason="breach test")
    canary["user"] = User.objects.get(pk=physician.user_id)
    return canary


@pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"]
                    or not settings.REDIS_URL,
                    reason="the breach test dumps PostgreSQL and Redis (CI always runs it)")
def test_dumps_reveal_no_plaintext_and_no_pseudonym_to_user_link(specialties):
    doctors = [_register(specialties, tag) for tag in ("a", "b", "c")]
    lounge = "lounge-cardiology"
    words = []
    # A live subscriber on the room group, so fan-out payloads really sit in Redis.
    layer = get_channel_layer()
    listener = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(hub.room_group(lounge), listener)
    for i, doc in enumerate(doctors):
        room, _ = room_services.room_join(room_id=lounge, user=doc["user"])
        author = roster.author_for(user_id=str(doc["user"].pk), room_id=lounge,
                                   role=doc["user"].role, specialty="cardiology", verified=True)
        text = f"canarymessage{i}{secrets.token_hex(6)} the troponin was 4.2"
        words.append(text.split()[0])
        posted = messages.message_post(room_id=lounge, user=doc["user"], author=author,
                                            body=text, client_id=f"c{i}")
        if i == 0:
            edited = f"canaryedit{secrets.token_hex(6)}"
            words.append(edited)
            room_services.message_edit(room_id=lounge, seq=posted.seq, user=doc["user"],
                                       author=author, body=edited)
    summary = f"canarycase{secrets.token_hex(6)} 58F with syncope"
    words.append(summary.split()[0])
    case = cases.case_open(poster=doctors[0]["user"], specialty="cardiology", summary=summary,
                           urgency="urgent")

    db_dump, redis_dump = canaries.pg_dump(), canaries.redis_dump()
    assert b"COPY public.rooms_message" in db_dump  # the dump really holds the tables
    # … and Redis holds the fan-out payloads queued for the listener (sealed by the layer).
    assert listener.split("!")[0].encode() in redis_dump
    secrets_ = [*words]
    for doc in doctors:
        secrets_ += [doc["email"], doc["first"], doc["last"], doc["licence"]]
    for dump, name in ((db_dump, "pg_dump"), (redis_dump, "redis")):
        for canary in secrets_:
            assert canary.encode() not in dump, f"{canary!r} leaked into the {name}"
            assert canary.lower().encode() not in dump.lower()

    # No row that holds a pseudonym also holds a user id (in any spelling).
    rooms = [lounge, case.room_id]
    ids = {str(d["user"].pk) for d in doctors}
    pseudonyms = {pseudonym_id(user_id=u, room_id=r) for u in ids for r in rooms}
    id_forms = {form for u in ids for form in (u, u.replace("-", ""))}
    rows = [line for line in db_dump.decode().splitlines() if "\t" in line]
    checked = 0
    for row in rows:
        if any(p in row for p in pseudonyms):
            checked += 1
            assert not any(form in row for form in id_forms), row[:200]
    assert checked >= 3  # message rows, author keys, escrow records carried pseudonyms

    # One physician's pseudonyms in two rooms differ and do not contain each other or the id.
    u = str(doctors[0]["user"].pk)
    p1, p2 = (pseudonym_id(user_id=u, room_id=r) for r in rooms)
    assert p1 != p2 and not set(re.findall(r"[0-9a-f]{8}", p1)) & set(re.findall(r"[0-9a-f]{8}", p2))
    assert u.replace("-", "")[:8] not in p1 + p2
