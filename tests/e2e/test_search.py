"""Issue 14's search acceptance on a real daphne (PostgreSQL + Redis): a case is found by a
word of its question — in English and in Spanish, with and without accents — over the socket
op and over HTTP by a physician who may read it, never by one who may not (an urgent private
case; a routine case for another specialty); an edited message stops matching its old words;
bad queries are ``bad_request`` with a stable reason and the socket stays open. The canary
scan of the dumps with search terms is tests/e2e/test_canaries.py."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.support.clients import request
from tests.support.sockets import open_socket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ES = "¿Qué antibiótico daría en una neumonía con derrame pleural en un niño de tres años?"
EN = "Would you start colchicine for recurrent pericarditis after two relapses?"


async def _case(ws, **body) -> dict:
    status, posted = await sync_to_async(ws.http.call)("POST", "/api/v1/cases", {
        "specialty": "cardiology", "urgency": "routine", **body})
    assert status == 201, posted
    return posted["case"]


async def _cases(ws, q: str) -> set[str]:
    reply = await request(ws, "search", q=q, kind="cases")
    assert reply["ok"] is True, reply
    return {h["case"] for h in reply["data"]["hits"]}


async def test_a_case_is_found_in_both_languages_only_by_who_may_read_it(daphne_server,
                                                                        make_physician):
    poster = await open_socket(daphne_server, make_physician, specialty="pediatrics")
    es = await _case(poster, question=ES, specialty="pediatrics", language="es",
                     title="Neumonía complicada")
    en = await _case(poster, question=EN, audience="specialty")
    urgent = await _case(poster, question="Neumonía grave, ¿intubamos ya?", urgency="urgent",
                         specialty="pediatrics", language="es")
    reader = await open_socket(daphne_server, make_physician, specialty="cardiology")
    outsider = await open_socket(daphne_server, make_physician, specialty="neurology")

    for q in ("neumonía", "neumonia", "NEUMONIA", "antibiotico", "antibiótico pleural"):
        assert await _cases(reader, q) == {es["id"]}, q
    assert await _cases(poster, "neumonia") == {es["id"], urgent["id"]}
    hit = (await request(reader, "search", q="derrame"))["data"]["hits"][0]
    assert hit["kind"] == "case" and hit["title"] == "Neumonía complicada"
    assert "derrame" in hit["snippet"] and hit["room"] == es["room"]
    # The specialty audience: the cardiologist finds it, the neurologist never.
    assert await _cases(reader, "pericarditis colchicine") == {en["id"]}
    assert await _cases(outsider, "pericarditis") == set()
    assert await _cases(outsider, "intubamos") == set()

    # Over HTTP, the same.
    status, body = await sync_to_async(reader.http.call)(
        "POST", "/api/v1/search", {"q": "Antibiótico", "kind": "cases"})
    assert status == 200, body
    assert [h["case"] for h in body["hits"]] == [es["id"]] and body["next"] is None
    status, body = await sync_to_async(outsider.http.call)(
        "POST", "/api/v1/search", {"q": "intubamos"})
    assert (status, body["hits"]) == (200, [])
    for ws in (poster, reader, outsider):
        await ws.close()


async def test_messages_match_until_edited_and_bad_queries_are_refused(daphne_server,
                                                                      make_physician):
    writer = await open_socket(daphne_server, make_physician)
    reader = await open_socket(daphne_server, make_physician, specialty="neurology")
    room = "lounge-cardiology"
    assert (await request(writer, "room.join", room=room))["ok"]
    sent = await request(writer, "message.send", room=room, client_id="s1",
                         body="Ivabradina en taquicardia sinusal inapropiada")
    assert sent["ok"], sent
    found = await request(reader, "search", q="taquicardia", kind="messages")
    assert [(h["room"], h["seq"]) for h in found["data"]["hits"]] == [(room, sent["data"]["seq"])]
    edited = await request(writer, "message.edit", room=room, seq=sent["data"]["seq"],
                           body="Betabloqueante primero")
    assert edited["ok"], edited
    assert (await request(reader, "search", q="taquicardia"))["data"]["hits"] == []

    for args, reason in (({"q": ""}, "empty"), ({"q": "  "}, "empty"),
                         ({"q": "a b c d e f g h i j k l m n o p q r s"}, None),
                         ({"q": "one two three four five six seven eight nine"},
                          "too_many_terms"), ({"q": "the of y el"}, "no_terms")):
        reply = await request(reader, "search", **args)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request", reply
        if reason:
            assert reply["error"]["details"]["reason"] == reason, reply
    reply = await request(reader, "search", q="x" * 201)
    assert reply["error"]["code"] == "bad_request" and reply["error"]["details"]["field"] == "q"
    assert (await request(reader, "ping"))["ok"] is True  # the socket stayed open
    status, body = await sync_to_async(reader.http.call)("POST", "/api/v1/search", {"q": ""})
    assert status == 400 and body["error"]["code"] == "bad_request", body
    for ws in (writer, reader):
        await ws.close()
