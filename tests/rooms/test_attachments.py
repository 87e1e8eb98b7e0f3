"""Image attachments over HTTP: type from the content, metadata stripped, sealed at rest,
served only to members of the room (rooms/attachments.py, rooms/attachment_views.py).

Images are made with Pillow and read back with Pillow, as a client would see them.
"""

from __future__ import annotations

import uuid
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageOps, PngImagePlugin

from crypto import envelope
from rooms import attachments
from rooms.attachments import image_clean, metadata_blocks
from rooms.models import Attachment, Membership, Room

pytestmark = pytest.mark.django_db

ROOM = "lounge-cardiology"
UPLOAD = f"/api/v1/rooms/{ROOM}/attachments"
GPS_IFD = 0x8825
ORIENTATION = 0x0112
# Lake Placid-ish coordinates: what a phone photo of a patient's chart would leak.
GPS = {1: "N", 2: (40.0, 26.0, 46.0), 3: "W", 4: (79.0, 58.0, 56.0)}


# --- image makers ----------------------------------------------------------------------------


def two_tone(size=(64, 32), mode="RGB") -> Image.Image:
    """Left half red, right half blue: orientation mistakes show up as wrong colours."""
    img = Image.new(mode, size, (220, 20, 20) + ((255,) if mode == "RGBA" else ()))
    img.paste((20, 20, 220) + ((255,) if mode == "RGBA" else ()), (size[0] // 2, 0, size[0], size[1]))
    return img


def jpeg_with_gps(size=(64, 32), orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = GPS
    if orientation:
        exif[ORIENTATION] = orientation
    out = BytesIO()
    two_tone(size).save(out, "JPEG", exif=exif, quality=95, comment=b"patient: J. Doe")
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr. Real Name")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>GPS</x:xmpmeta>")
    exif = Image.Exif()
    exif[GPS_IFD] = GPS
    out = BytesIO()
    two_tone(mode="RGBA").save(out, "PNG", pnginfo=info, exif=exif)
    return out.getvalue()


def webp_with_exif() -> bytes:
    exif = Image.Exif()
    exif[GPS_IFD] = GPS
    out = BytesIO()
    two_tone().save(out, "WEBP", exif=exif, xmp=b"<x:xmpmeta>GPS</x:xmpmeta>", quality=95)
    return out.getvalue()


def gif() -> bytes:
    out = BytesIO()
    two_tone().save(out, "GIF")
    return out.getvalue()


def noise_jpeg(side: int) -> bytes:
    out = BytesIO()
    Image.frombytes("RGB", (side, side), bytes(range(256)) * (side * side * 3 // 256 + 1)).save(
        out, "JPEG", quality=100
    )
    return out.getvalue()


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_key_cache():
    envelope.cache_clear()
    yield
    envelope.cache_clear()


@pytest.fixture
def login(make_physician):
    """A logged-in client for a new physician; ``member=True`` also joins ROOM."""

    def make(*, member: bool = True, role: str = "physician", **membership) -> Client:
        physician, _, _ = make_physician(role=role)
        if member:
            Membership.objects.create(room=Room.objects.get(pk=ROOM), user=physician.user, **membership)
        client = Client()
        client.force_login(physician.user)
        client.user = physician.user
        return client

    return make


def upload(client: Client, data: bytes, content_type: str = "image/jpeg"):
    return client.post(UPLOAD, data, content_type=content_type)


def upload_form(client: Client, data: bytes, name: str):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, data, content_type="image/jpeg")})


def download(client: Client, attachment_id: str):
    return client.get(f"/api/v1/attachments/{attachment_id}")


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def round_trip(client: Client, data: bytes, content_type: str = "image/jpeg") -> tuple[dict, bytes]:
    response = upload(client, data, content_type)
    assert response.status_code == 201, response.content
    meta = response.json()["attachment"]
    got = download(client, meta["id"])
    assert got.status_code == 200, got.content
    assert got["Content-Type"] == meta["content_type"]
    return meta, got.content


# --- metadata is gone ------------------------------------------------------------------------


def test_jpeg_with_gps_comes_back_without_any_exif(login):
    client = login()
    original = jpeg_with_gps()
    before = Image.open(BytesIO(original))
    assert before.getexif().get_ifd(GPS_IFD), "the test image must carry GPS to begin with"

    meta, body = round_trip(client, original)

    after = Image.open(BytesIO(body))
    assert after.format == "JPEG"
    assert meta["content_type"] == "image/jpeg"
    assert (meta["width"], meta["height"]) == after.size == before.size == (64, 32)
    assert meta["size"] == len(body)
    assert len(after.getexif()) == 0
    assert not after.getexif().get_ifd(GPS_IFD)
    assert "exif" not in after.info and "comment" not in after.info and "icc_profile" not in after.info
    assert metadata_blocks(body, "JPEG") == []
    assert b"PhoneMaker" not in body and b"J. Doe" not in body


def test_the_response_is_private_inline_and_not_sniffed(login):
    client = login()
    response = upload(client, jpeg_with_gps())
    got = download(client, response.json()["attachment"]["id"])
    assert got["Content-Type"] == "image/jpeg"
    assert got["Cache-Control"] == "private, no-store"
    assert got["X-Content-Type-Options"] == "nosniff"
    assert got["Content-Disposition"] == "inline"


def test_orientation_is_applied_before_the_tag_is_dropped(login):
    client = login()
    original = jpeg_with_gps(size=(64, 32), orientation=6)  # "rotate 90° clockwise to view"
    expected = ImageOps.exif_transpose(Image.open(BytesIO(original))).convert("RGB")

    _, body = round_trip(client, original)

    after = Image.open(BytesIO(body)).convert("RGB")
    assert after.size == expected.size == (32, 64)
    assert ORIENTATION not in after.getexif()
    for xy in [(4, 4), (27, 4), (4, 59), (27, 59)]:
        got, want = after.getpixel(xy), expected.getpixel(xy)
        assert all(abs(a - b) < 40 for a, b in zip(got, want, strict=True)), (xy, got, want)


def test_png_text_and_exif_chunks_are_stripped_and_pixels_kept(login):
    client = login()
    original = png_with_text()
    assert {"tEXt", "iTXt", "eXIf"} <= set(metadata_blocks(original, "PNG"))

    meta, body = round_trip(client, original)

    after = Image.open(BytesIO(body))
    assert meta["content_type"] == "image/png" and after.format == "PNG"
    assert metadata_blocks(body, "PNG") == []
    assert "Author" not in after.info and len(after.getexif()) == 0
    assert after.tobytes() == Image.open(BytesIO(original)).tobytes()  # lossless


def test_webp_exif_and_xmp_are_stripped(login):
    client = login()
    original = webp_with_exif()
    assert {"EXIF", "XMP"} <= set(metadata_blocks(original, "WEBP"))

    meta, body = round_trip(client, original)

    after = Image.open(BytesIO(body))
    assert meta["content_type"] == "image/webp" and after.format == "WEBP"
    assert after.size == (64, 32)
    assert metadata_blocks(body, "WEBP") == []
    assert len(after.getexif()) == 0 and "xmp" not in after.info


def test_multipart_upload_is_typed_by_content_not_name(login):
    client = login()
    response = upload_form(client, png_with_text(), "scan.jpg")
    assert response.status_code == 201, response.content
    assert response.json()["attachment"]["content_type"] == "image/png"


def test_metadata_checker_sees_what_pillow_writes():
    assert set(metadata_blocks(jpeg_with_gps(), "JPEG")) == {"APP1", "COM"}
    assert metadata_blocks(b"not an image", "JPEG") == ["unparseable"]


# --- refusals --------------------------------------------------------------------------------


def test_a_text_file_renamed_jpg_is_refused(login):
    client = login()
    text = b"Patient: John Doe, DOB 1970-01-01\n" * 20
    assert_error(upload_form(client, text, "photo.jpg"), 415, "bad_request")
    assert_error(upload(client, text, "image/jpeg"), 415, "bad_request")
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "data",
    [gif(), jpeg_with_gps()[:300], b"\xff\xd8\xff\xe0" + b"\x00" * 100, b""],
    ids=["gif", "truncated-jpeg", "jpeg-magic-only", "empty"],
)
def test_other_or_broken_images_are_refused(login, data):
    client = login()
    assert_error(upload(client, data), 415, "bad_request")
    assert not Attachment.objects.exists()


def test_a_non_image_content_type_is_refused(login):
    assert_error(upload(login(), jpeg_with_gps(), "text/plain"), 415, "bad_request")


def test_oversize_upload_is_too_large(login, settings):
    client = login()
    data = noise_jpeg(64)
    settings.CURBSIDE_LIMITS = {**settings.CURBSIDE_LIMITS, "attachment_bytes": len(data) - 1}
    assert_error(upload(client, data), 413, "too_large")
    assert_error(upload_form(client, data, "x.jpg"), 413, "too_large")
    settings.CURBSIDE_LIMITS = {**settings.CURBSIDE_LIMITS, "attachment_bytes": len(data)}
    assert upload(client, data).status_code == 201


def test_too_many_pixels_is_too_large_before_decoding(login, monkeypatch):
    client = login()
    monkeypatch.setattr(attachments, "MAX_PIXELS", 64 * 32 - 1)
    assert_error(upload(client, jpeg_with_gps(size=(64, 32))), 413, "too_large")
    with pytest.raises(attachments.TooLarge):
        image_clean(jpeg_with_gps(size=(64, 32)), max_pixels=100)


def test_an_upload_with_the_session_cookie_needs_the_csrf_token_form_or_raw(login):
    client = login()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(client.user)
    token = strict.get("/").cookies["csrftoken"].value  # the page hands it out
    form = {"file": SimpleUploadedFile("a.jpg", jpeg_with_gps())}
    assert_error(strict.post(UPLOAD, form), 403, "forbidden")
    assert_error(upload(strict, jpeg_with_gps()), 403, "forbidden")
    form = {"file": SimpleUploadedFile("a.jpg", jpeg_with_gps()), "csrfmiddlewaretoken": token}
    assert strict.post(UPLOAD, form).status_code == 201
    assert strict.post(UPLOAD, jpeg_with_gps(), content_type="image/jpeg",
                       HTTP_X_CSRFTOKEN=token).status_code == 201


# --- who may upload and read -----------------------------------------------------------------


def test_non_members_can_neither_upload_nor_read(login):
    owner = login()
    meta, _ = round_trip(owner, jpeg_with_gps())
    outsiders = {
        "stranger": login(member=False),
        "left": login(active=False),
        "banned": login(banned=True),
    }
    for name, client in outsiders.items():
        assert download(client, meta["id"]).status_code == 404, name
        assert_error(download(client, meta["id"]), 404, "not_found")
        assert_error(upload(client, jpeg_with_gps()), 404, "not_found")
    assert Attachment.objects.count() == 1


def test_another_member_and_a_moderator_can_read(login):
    meta, body = round_trip(login(), jpeg_with_gps())
    for reader in (login(), login(member=False, role="moderator")):
        got = download(reader, meta["id"])
        assert got.status_code == 200 and got.content == body


def test_anonymous_gets_401_and_unknown_ids_404(login):
    meta, _ = round_trip(login(), jpeg_with_gps())
    anonymous = Client()
    assert_error(download(anonymous, meta["id"]), 401, "unauthorized")
    assert_error(upload(anonymous, jpeg_with_gps()), 401, "unauthorized")
    assert_error(download(login(), str(uuid.uuid4())), 404, "not_found")
    response = login().post("/api/v1/rooms/case-doesnotexist/attachments", jpeg_with_gps(),
                            content_type="image/jpeg")
    assert_error(response, 404, "not_found")


# --- at rest ---------------------------------------------------------------------------------


def test_the_stored_row_is_encrypted(login):
    client = login()
    original = jpeg_with_gps()
    meta, body = round_trip(client, original)
    row = Attachment.objects.get(pk=meta["id"])
    sealed = bytes(row.data_sealed)
    assert original not in sealed and body not in sealed
    assert b"\xff\xd8\xff" not in sealed and b"JFIF" not in sealed
    assert len(sealed) > len(body)  # the whole image is in there, just not readable
    assert row.author and row.author != str(client.user.pk)


def test_a_flipped_byte_at_rest_fails_cleanly(login):
    client = login()
    meta, _ = round_trip(client, jpeg_with_gps())
    row = Attachment.objects.get(pk=meta["id"])
    sealed = bytearray(row.data_sealed)
    sealed[len(sealed) // 2] ^= 0x01
    Attachment.objects.filter(pk=row.pk).update(data_sealed=bytes(sealed))
    response = download(client, meta["id"])
    assert_error(response, 500, "internal")
    assert b"Traceback" not in response.content


def test_erasing_the_author_erases_the_file(login):
    client = login()
    meta, _ = round_trip(client, jpeg_with_gps())
    row = Attachment.objects.get(pk=meta["id"])
    envelope.author_keys_destroy(authors=[(ROOM, row.author)])
    assert_error(download(login(), meta["id"]), 404, "not_found")


def test_an_image_that_would_keep_metadata_is_refused_not_stored(login, monkeypatch):
    # Stand-in for a Pillow change that starts carrying a block over: the upload fails closed.
    monkeypatch.setattr(attachments, "metadata_blocks", lambda data, fmt: ["APP1"])
    assert_error(upload(login(), jpeg_with_gps()), 415, "bad_request")
    assert not Attachment.objects.exists()
