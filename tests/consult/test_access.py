"""Who may open a case, the structured template, images, the feed and the dashboard, over
HTTP on the real database (Django's test client)."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from PIL import Image

from consult.models import Case, CaseSeen
from core.errors import NotFound
from crypto.pseudonyms import pseudonym_id
from rooms.services import room_join

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fresh_presence")]

QUESTION = "Would you anticoagulate this AF with a CHA2DS2-VASc of 1?"


def _login(make_physician, **kw):
    physician, email, password = make_physician(**kw)
    c = Client()
    assert c.post("/api/v1/auth/login", {"email": email, "password": password},
                  content_type="application/json").status_code == 200
    c.physician = physician
    return c


def _post(c, **body):
    body = {"question": QUESTION, "specialty": "cardiology", "urgency": "routine", **body}
    r = c.post("/api/v1/cases", body, content_type="application/json")
    assert r.status_code == 201, r.json()
    return r.json()["case"]


def test_a_routine_case_opens_to_every_verified_physician_and_counts_viewers(make_physician):
    poster = _login(make_physician, specialty="family-medicine")
    case = _post(poster, title="AF in a young man", age_band="30-44", sex="male",
                 chief_complaint="palpitations", history="two episodes in a month",
                 findings="ECG: AF 120/min")
    assert case["title"] == "AF in a young man" and case["history"] == "two episodes in a month"
    assert case["metrics"]["viewers"] == 0 and case["metrics"]["participants"] == 1
    neuro = _login(make_physician, specialty="neurology")
    seen = neuro.get(f"/api/v1/cases/{case['id']}").json()["case"]
    assert seen["summary"] == QUESTION and seen["mine"] is False
    assert seen["metrics"]["viewers"] == 1
    neuro.get(f"/api/v1/cases/{case['id']}")  # a second opening is not a second viewer
    assert poster.get(f"/api/v1/cases/{case['id']}").json()["case"]["metrics"]["viewers"] == 1
    pending = _login(make_physician, status="pending")
    assert pending.get(f"/api/v1/cases/{case['id']}").status_code == 404
    # Sealed at rest: no template text in the row.
    row = Case.objects.get(pk=case["id"])
    assert b"palpitations" not in bytes(row.template_sealed) and b"AF" not in bytes(
        row.summary_sealed)


def test_a_specialty_audience_keeps_the_case_among_its_specialists(make_physician):
    poster = _login(make_physician, specialty="family-medicine")
    case = _post(poster, audience="specialty")
    assert _login(make_physician, specialty="neurology").get(
        f"/api/v1/cases/{case['id']}").status_code == 404
    assert _login(make_physician, specialty="cardiology").get(
        f"/api/v1/cases/{case['id']}").status_code == 200


def test_opening_over_the_socket_joins_the_case_room_under_a_fresh_pseudonym(make_physician):
    poster = _login(make_physician, specialty="family-medicine")
    one, two = _post(poster), _post(poster, question="Second question, other patient?")
    colleague, *_ = make_physician(specialty="neurology")
    handles = set()
    for case in (one, two):
        room, membership = room_join(room_id=case["room"], user=colleague.user)
        handles.add(pseudonym_id(user_id=str(colleague.user_id), room_id=room.id))
    assert len(handles) == 2  # two cases, two unrelated handles
    assert CaseSeen.objects.filter(user=colleague.user, kind="viewer").count() == 2


def test_an_urgent_case_is_private_until_invited_or_published(make_physician):
    poster = _login(make_physician, specialty="emergency-medicine")
    case = _post(poster, urgency="urgent", audience="network")
    assert case["audience"] == "private"
    other = _login(make_physician, specialty="cardiology")
    assert other.get(f"/api/v1/cases/{case['id']}").status_code == 404
    with pytest.raises(NotFound):
        room_join(room_id=case["room"], user=other.physician.user)
    # The poster invites the colleague by their pseudonym in a lounge both are in.
    room_join(room_id="lounge-cardiology", user=poster.physician.user)
    room_join(room_id="lounge-cardiology", user=other.physician.user)
    handle = pseudonym_id(user_id=str(other.physician.user_id), room_id="lounge-cardiology")
    stranger = _login(make_physician, specialty="cardiology")
    assert stranger.post(f"/api/v1/cases/{case['id']}/invite",
                         {"room": "lounge-cardiology", "pseudonym": handle},
                         content_type="application/json").status_code == 404
    invited = poster.post(f"/api/v1/cases/{case['id']}/invite",
                          {"room": "lounge-cardiology", "pseudonym": handle},
                          content_type="application/json")
    assert invited.status_code == 200, invited.json()
    assert other.get(f"/api/v1/cases/{case['id']}").status_code == 200
    assert stranger.get(f"/api/v1/cases/{case['id']}").status_code == 404
    # Resolved, then published as a teaching case: open like a routine one.
    assert poster.post(f"/api/v1/cases/{case['id']}/publish",
                       content_type="application/json").status_code == 409
    poster.post(f"/api/v1/cases/{case['id']}/resolve",
                {"outcome": {"diagnosis": "SVT", "done": "adenosine", "notes": ""}},
                content_type="application/json")
    assert poster.post(f"/api/v1/cases/{case['id']}/publish",
                       content_type="application/json").json()["status"] == "resolved"
    opened = stranger.get(f"/api/v1/cases/{case['id']}").json()["case"]
    assert opened["published"] is True and opened["outcome"]["diagnosis"] == "SVT"


def test_the_template_requires_question_specialty_and_urgency_and_guards_every_text(
        make_physician):
    poster = _login(make_physician)
    bad = poster.post("/api/v1/cases", {"specialty": "cardiology", "title": "x"},
                      content_type="application/json")
    assert bad.status_code == 400 and "question" in bad.json()["error"]["fields"]
    bad = poster.post("/api/v1/cases", {"specialty": "cardiology", "question": "?"},
                      content_type="application/json")
    assert bad.status_code == 400 and "urgency" in bad.json()["error"]["fields"]
    bad = poster.post("/api/v1/cases", {"question": "?", "urgency": "routine",
                                        "specialty": "cardiology", "age_band": "42",
                                        "sex": "x"}, content_type="application/json")
    assert set(bad.json()["error"]["fields"]) == {"age_band", "sex"}
    phi = poster.post("/api/v1/cases", {"question": "?", "urgency": "routine",
                                        "specialty": "cardiology",
                                        "history": "Seen by me, MRN 12345678, DOB 03/04/1961"},
                      content_type="application/json")
    assert phi.status_code == 422 and phi.json()["error"]["details"]["field"] == "history"
    assert not Case.objects.exists()


def test_images_go_through_the_attachment_path_and_are_referenced(make_physician):
    poster = _login(make_physician)
    case = _post(poster)
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(buf, "JPEG", exif=b"Exif\x00\x00MM\x00*")
    r = poster.post(f"/api/v1/cases/{case['id']}/images", buf.getvalue(),
                    content_type="image/jpeg")
    assert r.status_code == 201, r.json()
    attachment = r.json()["attachment"]
    detail = poster.get(f"/api/v1/cases/{case['id']}").json()["case"]
    assert detail["images"] == [attachment]
    colleague = _login(make_physician, specialty="neurology")
    colleague.get(f"/api/v1/cases/{case['id']}")  # opening it joins the room
    image = colleague.get(f"/api/v1/attachments/{attachment}")
    assert image.status_code == 200 and b"Exif" not in image.content
    assert colleague.post(f"/api/v1/cases/{case['id']}/images", buf.getvalue(),
                          content_type="image/jpeg").status_code == 404


def test_the_feed_pages_filters_and_shows_only_what_the_caller_may_open(make_physician):
    poster = _login(make_physician, specialty="family-medicine")
    routine = [_post(poster, question=f"routine {i}?") for i in range(5)]
    urgent = _post(poster, urgency="urgent", question="urgent?")
    neuro_only = _post(poster, specialty="neurology", audience="specialty",
                       question="neuro only?")
    reader = _login(make_physician, specialty="cardiology")
    ids, cursor = [], None
    while True:
        page = reader.get("/api/v1/cases", {"limit": 2, **({"cursor": cursor} if cursor
                                                            else {})}).json()
        ids += [c["id"] for c in page["cases"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert ids == [c["id"] for c in reversed(routine)]
    assert urgent["id"] not in ids and neuro_only["id"] not in ids
    mine = poster.get("/api/v1/cases", {"mine": 1, "limit": 50}).json()["cases"]
    assert {c["id"] for c in mine} == {c["id"] for c in [*routine, urgent, neuro_only]}
    assert reader.get("/api/v1/cases", {"mine": 1}).json()["cases"] == []
    neuro = poster.get("/api/v1/cases", {"specialty": "neurology"}).json()["cases"]
    assert [c["id"] for c in neuro] == [neuro_only["id"]]
    assert poster.get("/api/v1/cases", {"urgency": "urgent"}).json()["cases"][0]["id"] == (
        urgent["id"])
    assert reader.get("/api/v1/cases", {"cursor": "nonsense"}).status_code == 400
    # Nothing in the feed says who posted: no user id, no pseudonym of the poster.
    text = json.dumps(reader.get("/api/v1/cases").json())
    assert str(poster.physician.user_id) not in text
    for c in routine:
        assert pseudonym_id(user_id=str(poster.physician.user_id), room_id=c["room"]) not in text


def test_the_dashboard_puts_the_network_beside_sermo(make_physician):
    poster = _login(make_physician)
    _post(poster)
    board = poster.get("/api/v1/dashboard").json()
    assert board["sermo"]["first_response_avg_s"] == 5400
    assert board["sermo"]["resolution_within_s"] == 86400 and "SERMO" in board["sermo"]["source"]
    [row] = board["rows"]
    assert row["specialty"] == "cardiology" and row["cases"] == 1
    assert row["median_first_response_s"] is None and row["urgent"] == 0
    assert poster.get("/api/v1/dashboard", {"weeks": 0}).status_code == 400
