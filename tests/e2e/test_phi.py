"""The PHI guard over real sockets and real HTTP on a real daphne (PostgreSQL, Redis).

Images too: the text an uploaded image shows goes through OCR and the same guard; an image
with a burned-in name is held back (not stored) until the author confirms or crops it.

A message or case summary that carries a patient identifier is refused with ``phi_detected``
and the spans, before anything is stored; the author can confirm a false positive, which is
stored and audited (who, where, the kinds; never the text). Clinical text full of numbers
passes untouched.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from io import BytesIO

import pytest
from asgiref.sync import sync_to_async

from bus import protocol
from tests.support.clients import Http, connect, recv_json, request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOUNGE = "lounge-cardiology"
PHONE = "(555) 123-4567"
WITH_PHONE = f"Her daughter asks to be called on {PHONE} after the echo."
CLINICAL = ("72M, BP 128/82, HR 104, SpO2 93% on RA, 3 days of dyspnoea. Furosemide 40 mg IV, "
            "K 3.4, Cr 1.9, BNP 1200, EF 35% in 2023. Diurese more or add metolazone 2.5 mg?")


async def _socket(server, make_physician):
    physician, email, password = await sync_to_async(make_physician)()
    client = Http(server.http)
    await sync_to_async(client.login)(email, password)
    ws = await connect(server.ws, await sync_to_async(client.ticket)())
    assert (await recv_json(ws))["type"] == "session.welcome"
    ws.events = []
    ws.http = client
    return ws


async def _send(ws, body: str, **kw) -> dict:
    return await request(ws, "message.send", room=LOUNGE, body=body, client_id=uuid.uuid4().hex,
                         **kw)


def _audit(subject: str) -> list[dict]:
    from crypto.models import AuditEntry

    return [{"actor": e.actor, "details": e.details}
            for e in AuditEntry.objects.filter(action="phi.confirm", subject=subject)]


async def test_a_message_with_an_identifier_is_refused_with_spans_and_never_stored(
        daphne_server, make_physician):
    author = await _socket(daphne_server, make_physician)
    me = (await request(author, "room.join", room=LOUNGE))["data"]["me"]

    refused = await _send(author, WITH_PHONE)
    assert refused["ok"] is False and refused["error"]["code"] == "phi_detected"
    details = protocol.validate_error(json.dumps(refused))
    assert details.field == "body"
    assert [(f.kind, WITH_PHONE[f.start:f.end]) for f in details.findings] == [("phone", PHONE)]
    assert PHONE not in json.dumps(refused)  # spans only: the reply never echoes the text

    # Nothing was stored: a physician joining now sees no such message.
    newcomer = await _socket(daphne_server, make_physician)
    joined = await request(newcomer, "room.join", room=LOUNGE)
    assert joined["ok"], joined
    assert all(PHONE not in m["body"] for m in joined["data"]["messages"])

    # The author says it is not patient data: stored, delivered, audited.
    confirmed = await _send(author, WITH_PHONE, confirm_phi=True)
    assert confirmed["ok"], confirmed
    seq = confirmed["data"]["seq"]
    later = await _socket(daphne_server, make_physician)
    history = (await request(later, "room.join", room=LOUNGE))["data"]["messages"]
    assert [m["body"] for m in history if m["seq"] == seq] == [WITH_PHONE]
    [entry] = await sync_to_async(_audit)(f"room:{LOUNGE}/seq:{seq}")
    assert entry["details"] == {"op": "message.send", "kinds": ["phone"], "count": 1}
    assert entry["actor"] == me["pseudonym"]  # who: the author's pseudonym in the room
    assert PHONE not in json.dumps(entry)
    assert PHONE not in daphne_server.log_path.read_text(errors="replace")

    for ws in (author, newcomer, later):
        await ws.close()


async def test_clinical_numbers_pass_untouched(daphne_server, make_physician):
    ws = await _socket(daphne_server, make_physician)
    assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    sent = await _send(ws, CLINICAL)
    assert sent["ok"], sent
    seq = sent["data"]["seq"]
    assert await sync_to_async(_audit)(f"room:{LOUNGE}/seq:{seq}") == []
    spanish = "Mujer de 84 años, TA 95/60, FC 120 lpm, lactato 4,2; 30 ml/kg de cristaloides en 3 h."
    assert (await _send(ws, spanish))["ok"]
    await ws.close()


async def test_an_edit_that_adds_an_identifier_is_refused_until_confirmed(daphne_server,
                                                                          make_physician):
    ws = await _socket(daphne_server, make_physician)
    assert (await request(ws, "room.join", room=LOUNGE))["ok"]
    seq = (await _send(ws, CLINICAL))["data"]["seq"]
    edited_body = "Seen 03/04/2024, MRN 00123456: " + CLINICAL

    refused = await request(ws, "message.edit", room=LOUNGE, seq=seq, body=edited_body)
    assert refused["error"]["code"] == "phi_detected"
    spans = {(f.kind, edited_body[f.start:f.end])
             for f in protocol.validate_error(json.dumps(refused)).findings}
    assert spans == {("date", "03/04/2024"), ("record_number", "00123456")}
    page = await request(ws, "room.history", room=LOUNGE, before=seq + 1, limit=1)
    assert page["data"]["messages"][0]["body"] == CLINICAL  # unchanged

    ok = await request(ws, "message.edit", room=LOUNGE, seq=seq, body=edited_body,
                       confirm_phi=True)
    assert ok["ok"], ok
    [entry] = await sync_to_async(_audit)(f"room:{LOUNGE}/seq:{seq}")
    assert entry["details"] == {"op": "message.edit", "kinds": ["date", "record_number"],
                                "count": 2}
    await ws.close()


async def test_the_case_api_refuses_a_summary_with_an_mrn(daphne_server, make_physician,
                                                          fresh_presence):
    from consult.models import Case

    _, email, password = await sync_to_async(make_physician)(specialty="emergency-medicine")
    client = Http(daphne_server.http)
    await sync_to_async(client.login)(email, password)
    summary = "58F, MRN 00123456, new LBBB and chest pain for 2 h; troponin 0.8. Cath now?"
    before = await sync_to_async(Case.objects.count)()

    status, body = await sync_to_async(client.call)(
        "POST", "/api/v1/cases", {"specialty": "cardiology", "summary": summary})
    assert status == 422, body
    assert body["error"]["code"] == "phi_detected"
    details = body["error"]["details"]
    assert details["field"] == "summary"
    assert [(f["kind"], summary[f["start"]:f["end"]]) for f in details["findings"]] == [
        ("record_number", "00123456")]
    assert "00123456" not in body["error"]["message"]
    assert await sync_to_async(Case.objects.count)() == before  # no case, no room

    status, body = await sync_to_async(client.call)(
        "POST", "/api/v1/cases", {"specialty": "cardiology", "summary": summary,
                                  "confirm_phi": True})
    assert status == 201, body
    [entry] = await sync_to_async(_audit)(f"case:{body['case']['id']}")
    assert entry["details"] == {"op": "case.post", "kinds": ["record_number"], "count": 1}

    status, body = await sync_to_async(client.call)(
        "POST", "/api/v1/cases", {"specialty": "cardiology", "summary": summary,
                                  "confirm_phi": "yes"})
    assert status == 400 and "confirm_phi" in body["error"]["fields"]


# --- images: text burned into the pixels (issue 17) ------------------------------------------

BURNED_NAME = "Margaret Ellis"


def _image_with_text(lines: list[str]) -> bytes:
    """A photo-sized PNG with ``lines`` drawn on a label, the way a wristband or a scan shows a
    patient's details (made here with Pillow, read by the server's OCR)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (1200, 700), (196, 160, 140))
    draw = ImageDraw.Draw(img)
    draw.rectangle((120, 180, 1080, 520), fill="white")
    font = ImageFont.load_default(size=48)
    for i, line in enumerate(lines):
        draw.text((160, 220 + 90 * i), line, fill="black", font=font)
    out = BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _upload_image(http: Http, data: bytes, query: str = "") -> tuple[int, dict]:
    req = urllib.request.Request(f"{http.base}/api/v1/rooms/{LOUNGE}/attachments{query}",
                                 data=data, method="POST",
                                 headers={"Content-Type": "image/png",
                                          "X-CSRFToken": http.cookie("csrftoken") or ""})
    try:
        with http.opener.open(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _attachment_count() -> int:
    from rooms.models import Attachment

    return Attachment.objects.count()


async def test_an_image_with_a_burned_in_name_is_held_back_until_confirmed(daphne_server,
                                                                         make_physician):
    ws = await _socket(daphne_server, make_physician)
    me = (await request(ws, "room.join", room=LOUNGE))["data"]["me"]
    before = await sync_to_async(_attachment_count)()
    labelled = _image_with_text([f"Patient: {BURNED_NAME}", "Ward 7, bed 12"])

    status, body = await sync_to_async(_upload_image)(ws.http, labelled)
    assert status == 422, body
    assert body["error"]["code"] == "phi_detected"
    assert body["error"]["details"] == {"field": "image", "findings": [{"kind": "name"}]}
    assert BURNED_NAME not in json.dumps(body)  # kinds only: the text read is never echoed
    assert await sync_to_async(_attachment_count)() == before  # held back: nothing stored

    # The cropped version (the label cut off) goes through, with no audit entry.
    status, body = await sync_to_async(_upload_image)(
        ws.http, _image_with_text(["Rash day 3, left forearm"]))
    assert status == 201, body
    cropped_id = body["attachment"]["id"]
    assert await sync_to_async(_audit)(f"room:{LOUNGE}/attachment:{cropped_id}") == []

    # The author confirms it is not patient data: stored, and audited without the text.
    status, body = await sync_to_async(_upload_image)(ws.http, labelled, "?confirm_phi=1")
    assert status == 201, body
    attachment_id = body["attachment"]["id"]
    assert await sync_to_async(_attachment_count)() == before + 2
    [entry] = await sync_to_async(_audit)(f"room:{LOUNGE}/attachment:{attachment_id}")
    assert entry["details"] == {"op": "attachment.upload", "kinds": ["name"], "count": 1}
    assert entry["actor"] == me["pseudonym"]
    assert BURNED_NAME not in json.dumps(entry)
    assert BURNED_NAME not in daphne_server.log_path.read_text(errors="replace")
    await ws.close()
