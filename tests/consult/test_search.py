"""Search over what the searcher may read (consult/search.py, docs/search.md), on the real
database through the services: English and Spanish, accents folded, access, edits, deletes,
hides, erasure, ranking and paging, bad queries."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from consult import search, services
from consult.models import CaseTerm
from core.errors import ValidationFailed
from core.terms import terms
from rooms import messages, moderation, roster
from rooms import services as room_services
from rooms.models import Message, MessageTerm

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]

ES_QUESTION = "¿Qué antibiótico elegiría para una neumonía con derrame pleural en un niño?"
EN_QUESTION = "Would you anticoagulate paroxysmal fibrillation with a low stroke score?"


def _found(user, q, **kw):
    hits, _ = search.search(user=user, q=q, **kw)
    return hits


def _post(user, room_id: str, body: str, client_id: str | None = None) -> int:
    room_services.room_join(room_id=room_id, user=user)
    author = roster.author_for(user_id=str(user.pk), room_id=room_id, role=user.role,
                               specialty="cardiology", verified=True)
    return messages.message_post(room_id=room_id, user=user, author=author, body=body,
                                 client_id=client_id or body[:60]).seq


def _author(user, room_id):
    return roster.author_for(user_id=str(user.pk), room_id=room_id, role=user.role,
                             specialty="cardiology", verified=True)


def test_terms_fold_accents_and_case_and_drop_stop_words():
    assert terms("¿Qué NEUMONÍA? l'hôpital, Straße y el niño") == [
        "neumonia", "hopital", "strasse", "nino"]
    assert terms("the of and a") == []


def test_a_case_is_found_by_a_word_of_its_question_in_both_languages(make_physician):
    poster, _, _ = make_physician(specialty="pediatrics")
    es = services.case_open(poster=poster.user, specialty="pediatrics", summary=ES_QUESTION,
                            language="es")
    en = services.case_open(poster=poster.user, specialty="cardiology", summary=EN_QUESTION)
    reader, _, _ = make_physician(specialty="neurology")
    for q in ("neumonía", "neumonia", "NEUMONIA", "antibiotico", "Antibiótico derrame"):
        hits = _found(reader.user, q, kind="cases")
        assert [h.case for h in hits] == [str(es.pk)], q
        assert "neumonía" in hits[0].snippet
    hits = _found(reader.user, "fibrillation", kind="cases")
    assert [h.case for h in hits] == [str(en.pk)] and hits[0].kind == "case"
    # No plaintext term in the index: 16-byte tokens only.
    rows = list(CaseTerm.objects.filter(case=es).values_list("term", flat=True))
    assert rows and all(len(bytes(t)) == 16 and b"neumonia" not in bytes(t) for t in rows)


def test_never_for_one_who_may_not_read_it(make_physician):
    poster, _, _ = make_physician(specialty="cardiology")
    urgent = services.case_open(poster=poster.user, specialty="cardiology", urgency="urgent",
                                summary="Tamponade suspected after ablation, pericardiocentesis?")
    specialty_only = services.case_open(poster=poster.user, specialty="cardiology",
                                        audience="specialty",
                                        summary="Pericardiocentesis guided by echo or by CT?")
    outsider, _, _ = make_physician(specialty="neurology")
    cardiologist, _, _ = make_physician(specialty="cardiology")
    assert _found(outsider.user, "pericardiocentesis") == []
    assert [h.case for h in _found(cardiologist.user, "pericardiocentesis")] == [
        str(specialty_only.pk)]
    assert {h.case for h in _found(poster.user, "pericardiocentesis")} == {
        str(urgent.pk), str(specialty_only.pk)}
    moderator, _, _ = make_physician(role="moderator")
    assert str(urgent.pk) in {h.case for h in _found(moderator.user, "pericardiocentesis")}
    # The urgent case's messages too: its poster finds them, the outsider never.
    _post(poster.user, urgent.room_id, "effusion with swinging heart on echo")
    assert [h.seq for h in _found(poster.user, "swinging", kind="messages")] == [1]
    assert _found(outsider.user, "swinging") == []
    assert _found(cardiologist.user, "swinging") == []
    pending, _, _ = make_physician(status="pending")
    assert _found(pending.user, "pericardiocentesis") == []


def test_messages_are_found_and_stop_matching_when_edited_deleted_or_hidden(make_physician):
    writer, _, _ = make_physician()
    reader, _, _ = make_physician(specialty="neurology")
    lounge = "lounge-cardiology"
    seq = _post(writer.user, lounge, "Amiodarona o dronedarona en la fibrilación auricular?")
    hit, = _found(reader.user, "fibrilacion", kind="messages")
    assert (hit.room, hit.seq, hit.case, hit.kind) == (lounge, seq, None, "message")
    room_services.message_edit(room_id=lounge, seq=seq, user=writer.user,
                               author=_author(writer.user, lounge), body="flecainida mejor")
    assert _found(reader.user, "fibrilación") == []
    assert [h.seq for h in _found(reader.user, "flecainida")] == [seq]
    room_services.message_delete(room_id=lounge, seq=seq, user=writer.user,
                                 author=_author(writer.user, lounge))
    assert _found(reader.user, "flecainida") == []
    assert not MessageTerm.objects.filter(message__room_id=lounge, message__seq=seq).exists()

    other = _post(writer.user, lounge, "digoxin toxicity with hyperkalaemia")
    mod, _, _ = make_physician(role="moderator")
    moderation.message_hide(room_id=lounge, seq=other, moderator=mod.user, reason="off topic")
    assert _found(reader.user, "digoxin") == [] and _found(mod.user, "digoxin") == []
    moderation.message_unhide(room_id=lounge, seq=other, moderator=mod.user)
    assert [h.seq for h in _found(reader.user, "digoxin")] == [other]


def test_an_erased_authors_messages_stop_matching(make_physician):
    writer, _, _ = make_physician()
    reader, _, _ = make_physician()
    _post(writer.user, "lounge-cardiology", "takotsubo after bereavement")
    assert len(_found(reader.user, "takotsubo")) == 1
    call_command("erase_physician", "--user", str(writer.user_id))
    assert _found(reader.user, "takotsubo") == []


def test_ranked_by_matching_terms_then_recency_and_paged(make_physician):
    writer, _, _ = make_physician()
    reader, _, _ = make_physician()
    lounge = "lounge-cardiology"
    best = _post(writer.user, lounge, "syncope bradycardia pacemaker", "c1")
    for i in range(4):
        _post(writer.user, lounge, f"syncope number {i + 2}", f"c{i + 2}")
    hits, nxt = search.search(user=reader.user, q="syncope pacemaker", kind="messages", limit=2)
    assert hits[0].seq == best and hits[0].matched == 2 and hits[1].matched == 1
    assert hits[1].seq == 5 and nxt == 2  # the newest of the one-term matches next
    rest, end = search.search(user=reader.user, q="syncope pacemaker", kind="messages",
                              limit=10, offset=nxt)
    assert [h.seq for h in rest] == [4, 3, 2] and end is None


@pytest.mark.parametrize(("q", "reason"), [
    ("", "empty"), ("   ", "empty"), ("x" * 201, "too_long"),
    ("one two three four five six seven eight nine", "too_many_terms"),
    ("the of y el", "no_terms"), (None, "empty")])
def test_bad_queries_have_a_stable_reason(make_physician, q, reason):
    user, _, _ = make_physician()
    with pytest.raises(ValidationFailed) as caught:
        search.search(user=user, q=q)
    assert caught.value.code == "bad_request" and caught.value.details["reason"] == reason


def test_the_backfill_indexes_existing_rows(make_physician):
    poster, _, _ = make_physician()
    case = services.case_open(poster=poster.user, specialty="cardiology",
                              summary="Brugada pattern after fever, what next?")
    _post(poster.user, "lounge-cardiology", "Brugada in the lounge as well")
    CaseTerm.objects.all().delete()
    MessageTerm.objects.all().delete()
    assert _found(poster.user, "brugada") == []
    call_command("search_reindex")
    assert {h.kind for h in _found(poster.user, "brugada")} == {"case", "message"}
    assert _found(poster.user, "brugada", kind="cases")[0].case == str(case.pk)
    rows = CaseTerm.objects.count()
    # --missing indexes only what has no terms: the case's stay as they are.
    MessageTerm.objects.all().delete()
    call_command("search_reindex", "--missing")
    assert CaseTerm.objects.count() == rows
    assert {h.kind for h in _found(poster.user, "brugada")} == {"case", "message"}
    # A deleted message is not indexed again.
    seq = Message.objects.get(room_id="lounge-cardiology").seq
    room_services.message_delete(room_id="lounge-cardiology", seq=seq, user=poster.user,
                                 author=_author(poster.user, "lounge-cardiology"))
    call_command("search_reindex")
    assert _found(poster.user, "brugada", kind="messages") == []


def test_the_wire_bounds_are_the_services():
    import msgspec

    from bus import protocol
    from gateway.http_bodies import SearchRequest

    assert protocol.SEARCH_QUERY_MAX_CHARS == search.QUERY_MAX_CHARS
    for struct in (protocol.Search, SearchRequest):
        fields = {f.name: f for f in msgspec.structs.fields(struct)}
        assert fields["limit"].default == search.PAGE and fields["offset"].default == 0
        for name, top in (("q", search.QUERY_MAX_CHARS), ("limit", search.PAGE_MAX),
                          ("offset", search.OFFSET_MAX)):
            bound = msgspec.inspect.type_info(fields[name].type)
            assert top in (getattr(bound, "max_length", None), getattr(bound, "le", None)), (
                struct, name)
