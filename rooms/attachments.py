"""Image attachments: accept, clean, seal, and hand back only to members of the room.

What an upload goes through, in order (each step refuses before the next, costlier one):

1. size: more than ``CURBSIDE_LIMITS["attachment_bytes"]`` is refused unread (``too_large``);
2. access: an active, non-banned member of the room, or a moderator — anyone else gets
   ``not_found``, so case rooms do not reveal that they exist;
3. type, from the bytes only: Pillow may try just the JPEG, PNG and WebP decoders; anything
   else — a text file named ``x.jpg``, a GIF, a truncated JPEG — is ``unsupported_image``
   (HTTP 415, code ``bad_request``). The declared file name is never trusted, stored or logged
   (names of clinical images often carry a patient's name);
4. re-encoding: the pixels are decoded, turned upright per the EXIF orientation (so dropping
   the tag does not rotate the picture), copied into a brand-new image with no ``info`` and
   saved in the same format with no metadata arguments. ``metadata_blocks`` then walks the
   output and the upload fails closed if any metadata block survived (EXIF, XMP, IPTC, ICC,
   comments, text chunks);
5. text in the picture (issue 17): the clean image is read by OCR (phi/ocr.py, Tesseract,
   English and Spanish) and the text goes through the PHI guard. Findings refuse the upload
   with ``phi_detected`` (HTTP 422, details ``{"field": "image", "findings": [{"kind"}]}``):
   nothing is stored — the image is held back on the author's side until they upload a
   cropped version or send it again with ``confirm_phi``, which stores it and appends an
   audit entry (who, where, the kinds; never the text). OCR unavailable fails closed
   (``unavailable``, 503);
6. sealing: ``crypto.envelope.blob_seal`` with the author's pseudonym mixed in, so erasing the
   author (``author_keys_destroy``) erases their files too.

Errors (core/errors.py codes): ``too_large`` 413, ``bad_request`` 415 for a refused type,
``not_found`` 404 (no such room/attachment, not a member, or erased), ``internal`` 500 when a
stored blob fails authentication (tampered or corrupted; logged, never a traceback).
"""

from __future__ import annotations

import logging
import struct
import uuid
from dataclasses import dataclass
from io import BytesIO

from django.conf import settings
from django.db import transaction
from PIL import Image, ImageOps

from core.errors import DomainError, NotFound, TooLarge
from crypto.aead import DecryptError
from crypto.envelope import KeysDestroyed, Sealed, blob_open, blob_seal
from crypto.pseudonyms import pseudonym_id
from phi.audit import phi_confirmation_record
from phi.ocr import image_guard
from physicians.services import physician_require_verified
from rooms.models import Attachment, Membership, Room

log = logging.getLogger(__name__)

# Pillow format name -> the Content-Type we store and serve.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Decompression-bomb guard, checked on the header's dimensions before any pixel is decoded.
# 40 Mpx covers every phone and most DSLR photos; decoded as RGBA it is ~160 MB, and the
# clean copy doubles that, which is the most one upload may cost a worker. (Pillow's own
# MAX_IMAGE_PIXELS, ~89 Mpx, is process-wide and only warns below twice that.)
MAX_PIXELS = 40_000_000
# Modes each format is re-encoded in; anything else is converted first (CMYK, palette,
# 16-bit…): a palette image's transparency lives in ``info``, which the clean copy drops.
_MODES = {"JPEG": ("L", "RGB"), "PNG": ("L", "LA", "RGB", "RGBA"), "WEBP": ("RGB", "RGBA")}
# Lossy re-encoding quality: visually lossless for clinical photos, much smaller than 100.
QUALITY = 90


class UnsupportedImage(DomainError):
    """Not a JPEG, PNG or WebP image Pillow can decode completely."""

    code = "bad_request"
    http_status = 415


class AttachmentUnreadable(DomainError):
    """The stored blob failed authentication: tampered or corrupted at rest."""

    code = "internal"
    http_status = 500


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    width: int
    height: int


# --- services --------------------------------------------------------------------------------


def attachment_store(*, room_id: str, user, data: bytes, declared_name: str = "",
                     confirm_phi: bool = False) -> Attachment:
    """Clean, seal and store an uploaded image for ``room_id``.

    ``declared_name`` is accepted for the record of what the client sent but deliberately
    ignored: the type comes from the content, and the name is neither stored nor logged.

    Raises:
        TooLarge: more than the configured attachment size, or more than ``MAX_PIXELS``.
        NotFound: no such room, or ``user`` may not post in it.
        Forbidden: ``user`` is not an active physician with a verified licence.
        UnsupportedImage: not a complete JPEG, PNG or WebP image.
        PhiDetected: the image shows text with patient identifiers and ``confirm_phi`` is
            not set (details: the kinds only).
        OcrUnavailable: the image could not be read for text (fails closed).
    """
    del declared_name  # never trusted (see module docstring)
    physician_require_verified(user=user)
    limit = settings.CURBSIDE_LIMITS["attachment_bytes"]
    if len(data) > limit:
        raise TooLarge(f"An attachment may be at most {limit} bytes.")
    room = _room_for(room_id=room_id, user=user)
    clean = image_clean(data)
    with Image.open(BytesIO(clean.data)) as img:
        findings = image_guard(img, confirmed=confirm_phi)
    author = pseudonym_id(user_id=str(user.pk), room_id=room.id)
    attachment_id = uuid.uuid4()
    with transaction.atomic():
        if findings:
            phi_confirmation_record(actor=author, subject=f"room:{room.id}/attachment:{attachment_id}",
                                    op="attachment.upload", findings=findings)
        # The id is bound into the associated data, so it is chosen before sealing.
        sealed = blob_seal(room_id=room.id, attachment_id=str(attachment_id), body=clean.data,
                           author=author)
        return Attachment.objects.create(
            id=attachment_id, room=room, author=author, content_type=clean.content_type,
            width=clean.width, height=clean.height, size=len(clean.data), epoch=sealed.epoch,
            key_id=sealed.key_id, data_sealed=sealed.blob,
        )


def attachment_read(*, attachment_id: str, user) -> tuple[bytes, str]:
    """The cleaned image bytes and their Content-Type, for a member of its room.

    Raises:
        NotFound: no such attachment, ``user`` may not read its room, or it was erased.
        AttachmentUnreadable: the stored blob failed authentication.
    """
    try:
        key = uuid.UUID(str(attachment_id))
    except ValueError:
        raise NotFound("No such attachment.") from None
    row = Attachment.objects.filter(pk=key).first()
    if row is None:
        raise NotFound("No such attachment.")
    _room_for(room_id=row.room_id, user=user, missing="No such attachment.")
    sealed = Sealed(epoch=row.epoch, key_id=row.key_id, blob=bytes(row.data_sealed))
    try:
        body = blob_open(room_id=row.room_id, attachment_id=str(row.pk), sealed=sealed,
                         author=row.author)
    except KeysDestroyed:
        raise NotFound("This attachment was erased.") from None
    except DecryptError:
        # Logged with the id only: the operator needs to know a row was altered at rest.
        log.error("attachment %s failed authentication (tampered or corrupted)", row.pk)
        raise AttachmentUnreadable("This attachment cannot be read.") from None
    return body, row.content_type


def attachment_json(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.pk),
        "content_type": attachment.content_type,
        "width": attachment.width,
        "height": attachment.height,
        "size": attachment.size,
    }


def _room_for(*, room_id: str, user, missing: str = "No such room.") -> Room:
    """The room, if ``user`` is an active, non-banned member or a moderator.

    Raises:
        NotFound: otherwise — the same answer whether or not the room exists.
    """
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise NotFound(missing)
    if getattr(user, "is_moderator", False):
        return room
    if not Membership.objects.filter(room=room, user=user, active=True, banned=False).exists():
        raise NotFound(missing)
    return room


# --- pure image handling ---------------------------------------------------------------------


def image_clean(data: bytes, *, max_pixels: int | None = None) -> CleanImage:
    """Decode ``data`` as JPEG, PNG or WebP and re-encode it with no metadata at all.

    Raises:
        UnsupportedImage: another format, or undecodable (truncated, corrupt).
        TooLarge: more than ``max_pixels`` (default ``MAX_PIXELS``) pixels.
    """
    fmt, img = _decode(data, MAX_PIXELS if max_pixels is None else max_pixels)
    # Orientation first: the tag is about to be dropped with the rest of the EXIF block.
    upright = ImageOps.exif_transpose(img)
    if upright.mode not in _MODES[fmt]:
        has_alpha = "A" in upright.getbands() or "transparency" in upright.info
        target = "RGBA" if has_alpha and "RGBA" in _MODES[fmt] else "RGB"
        if upright.mode in ("L", "I", "I;16", "F", "1") and "L" in _MODES[fmt] and not has_alpha:
            target = "L"
        upright = upright.convert(target)
    # A brand-new image holding only the pixels: empty ``info``, no EXIF/XMP/ICC to carry over.
    clean = Image.new(upright.mode, upright.size)
    clean.paste(upright)
    out = BytesIO()
    options = {"quality": QUALITY} if fmt in ("JPEG", "WEBP") else {}
    clean.save(out, format=fmt, **options)
    encoded = out.getvalue()
    leaked = metadata_blocks(encoded, fmt)
    if leaked:
        # Fail closed: never store a file we could not strip (a Pillow change, say).
        log.error("re-encoded %s still carries %s; refusing", fmt, ", ".join(leaked))
        raise UnsupportedImage("This image could not be cleaned of its metadata.")
    return CleanImage(encoded, FORMATS[fmt], clean.width, clean.height)


def _decode(data: bytes, max_pixels: int) -> tuple[str, Image.Image]:
    try:
        # Only these decoders may even look at the bytes; the name plays no part.
        with Image.open(BytesIO(data), formats=list(FORMATS)) as probe:
            fmt = probe.format
            width, height = probe.size
            probe.verify()  # structure (PNG CRCs and the like) without decoding pixels
    except Image.DecompressionBombError:
        raise TooLarge("The image has too many pixels.") from None
    except Exception:  # any failure to parse untrusted bytes is a refusal
        raise UnsupportedImage("Send a JPEG, PNG or WebP image.") from None
    if fmt not in FORMATS:
        raise UnsupportedImage("Send a JPEG, PNG or WebP image.")
    if width * height > max_pixels:
        raise TooLarge(f"The image has more than {max_pixels} pixels.")
    try:
        # verify() leaves the image unusable: reopen and decode every pixel of frame 0
        # (an animated PNG or WebP keeps its first frame). Truncation fails here.
        img = Image.open(BytesIO(data), formats=[fmt])
        img.load()
    except Exception:  # as above
        raise UnsupportedImage("The image is truncated or corrupt.") from None
    return fmt, img


# Blocks a re-encoded file may contain; everything else counts as metadata.
_JPEG_APP_OK = {0xE0, 0xEE}  # APP0 JFIF, APP14 Adobe (colour transform flag)
_PNG_OK = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
_WEBP_OK = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}


def metadata_blocks(data: bytes, fmt: str) -> list[str]:
    """Names of the blocks in an encoded image that are not pure image data.

    JPEG: APPn segments other than JFIF/Adobe (APP1 = EXIF/XMP, APP2 = ICC, APP13 = IPTC) and
    COM; PNG: every chunk but IHDR/PLTE/tRNS/IDAT/IEND (eXIf, tEXt, iTXt, zTXt, iCCP, tIME…);
    WebP: every RIFF chunk but VP8/VP8L/VP8X/ALPH (EXIF, XMP, ICCP, ANIM…). A file too
    malformed to walk reports ``"unparseable"``.
    """
    try:
        if fmt == "JPEG":
            return _jpeg_blocks(data)
        if fmt == "PNG":
            return _png_blocks(data)
        if fmt == "WEBP":
            return _webp_blocks(data)
    except (IndexError, struct.error):
        return ["unparseable"]
    return ["unknown format"]


def _jpeg_blocks(data: bytes) -> list[str]:
    if data[:2] != b"\xff\xd8":
        return ["unparseable"]
    found, pos = [], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            return found + ["unparseable"]
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: entropy-coded data follows, no more headers
            return found
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if (0xE0 <= marker <= 0xEF and marker not in _JPEG_APP_OK) or marker == 0xFE:
            found.append("COM" if marker == 0xFE else f"APP{marker - 0xE0}")
        pos += 2 + length
    return found + ["unparseable"]


def _png_blocks(data: bytes) -> list[str]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return ["unparseable"]
    found, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind not in _PNG_OK:
            found.append(kind.decode("latin-1"))
        pos += 12 + length
    return found


def _webp_blocks(data: bytes) -> list[str]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return ["unparseable"]
    found, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if kind not in _WEBP_OK:
            found.append(kind.decode("latin-1").strip())
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
    return found
