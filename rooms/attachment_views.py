"""HTTP endpoints for image attachments (rooms/attachments.py does the work).

``POST /api/v1/rooms/<room_id>/attachments`` takes the image either as the raw body with any
``image/*`` Content-Type, or as the field ``file`` of a ``multipart/form-data`` form, and
answers 201 ``{"attachment": {"id", "content_type", "width", "height", "size"}}``. An image
whose text carries patient identifiers answers 422 ``phi_detected`` with the kinds found
(``details.findings[].kind``) and is not stored; ``?confirm_phi=1`` (or the form field
``confirm_phi``) stores it anyway, with an audit entry (rooms/attachments.py, step 5).

CSRF: as for the JSON API (core/http.py ``csrf_refusal``), a request with the session cookie
needs Django's CSRF token (the ``X-CSRFToken`` header, or ``csrfmiddlewaretoken`` in a form).

``GET /api/v1/attachments/<id>`` returns the cleaned bytes for members of the room, never
cached by shared caches, never sniffed as another type. Errors use the usual
``{"error": {"code", "message", "fields"}}`` shape (core/http.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from core.errors import DomainError, Forbidden, ValidationFailed
from core.http import api, csrf_refusal, error
from core.text import room_id_ok
from rooms.attachments import TooLarge, UnsupportedImage, attachment_json, attachment_read, attachment_store

# Room for the multipart boundaries and part headers around the file itself.
MULTIPART_OVERHEAD = 16 * 1024


class _InMemoryUpload(MemoryFileUploadHandler):
    """Keep the uploaded file in memory whatever its size (the Content-Length was already
    capped): the default handler spills big files to a plaintext temporary file on disk."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.activated = True


@csrf_exempt
def attachment_upload(request: HttpRequest, room_id: str) -> HttpResponse:
    """Store an uploaded image. Every answer, refusals too, is ``no-store``: it names an
    attachment of a private room (the JSON API's views get this from ``core.http.api``)."""
    response = _upload(request, room_id)
    add_never_cache_headers(response)
    return response


def _upload(request: HttpRequest, room_id: str) -> HttpResponse:
    if request.method != "POST":
        return error(405, "bad_request", "Use POST.")
    if not request.user.is_authenticated:
        return error(401, "unauthorized", "Log in first.")
    if not room_id_ok(room_id):  # outside the room-id alphabet (core/text.py): no such room
        return error(404, "not_found", "No such room.")
    try:
        data, name = upload_body(request)
        attachment = attachment_store(room_id=room_id, user=request.user, data=data,
                                      declared_name=name, confirm_phi=confirm_phi_requested(request))
    except DomainError as exc:
        return error(exc.http_status, exc.code, exc.message, exc.fields, exc.details)
    return JsonResponse({"attachment": attachment_json(attachment)}, status=201)


@api(("GET",), auth="user")
def attachment_download(request: HttpRequest, attachment_id) -> HttpResponse:
    body, content_type = attachment_read(attachment_id=str(attachment_id), user=request.user)
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response


def confirm_phi_requested(request: HttpRequest) -> bool:
    """``?confirm_phi=1`` (or ``true``), or the form field of that name: the author says the
    text the image shows is not patient data (audited, phi/audit.py)."""
    value = request.GET.get("confirm_phi") or (
        request.POST.get("confirm_phi") if request.content_type == "multipart/form-data" else None)
    return (value or "").lower() in ("1", "true", "yes")


def upload_body(request: HttpRequest) -> tuple[bytes, str]:
    """The uploaded bytes and the client's file name (possibly empty). consult's case images
    are read the same way.

    Raises:
        TooLarge: the body is over the attachment limit (checked before reading it).
        Forbidden: the session cookie without a valid CSRF token (core.http.csrf_refusal).
        ValidationFailed: a multipart form without a ``file`` field, or a bad Content-Length.
        UnsupportedImage: neither ``image/*`` nor ``multipart/form-data`` (HTTP 415).
    """
    limit = settings.CURBSIDE_LIMITS["attachment_bytes"]
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValidationFailed("Bad Content-Length.") from None
    too_large = TooLarge(f"An attachment may be at most {limit} bytes.")
    if request.content_type == "multipart/form-data":
        # Before the CSRF check, which parses the form: the file stays in memory.
        request.upload_handlers = [_InMemoryUpload(request)]
    refusal = csrf_refusal(request)
    if refusal is not None and refusal.status_code == 400:  # a malformed form
        raise ValidationFailed("The body is not a well-formed form.")
    if refusal is not None:
        raise Forbidden("Missing or wrong CSRF token: reload the page.", details={"reason": "csrf"})
    if request.content_type.startswith("image/"):
        if length > limit:
            raise too_large
        # read(), not .body: .body is capped at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
        data = request.read(limit + 1)
        if len(data) > limit:
            raise too_large
        return data, ""
    if request.content_type == "multipart/form-data":
        if length > limit + MULTIPART_OVERHEAD:
            raise too_large
        try:
            upload = request.FILES.get("file")
        except MultiPartParserError:
            raise ValidationFailed("The body is not a well-formed form.") from None
        if upload is None:
            raise ValidationFailed("Attach the image as 'file'.", fields={"file": "This field is required."})
        if upload.size > limit:
            raise too_large
        return upload.read(), upload.name or ""
    raise UnsupportedImage("Send the image as image/* or as multipart/form-data field 'file'.")
