"""A request body never reaches the disk in clear. Twisted, under daphne, writes any body of
100,000 bytes or more — or of unknown length (chunked) — to ``tempfile.TemporaryFile()``
the moment the headers are in, before daphne or Django sees a byte: an attachment (up to
10 MiB of a patient's image) sat unencrypted in the temporary directory while it arrived
(issue 11, finding 8; Django's own spooling was closed by FILE_UPLOAD_MAX_MEMORY_SIZE, this
one is Twisted's). Observed from outside: the open files of a real daphne, whose TMPDIR is
a directory of the test's own, once the server has answered ``100 Continue`` — which
Twisted sends right after it chose where the body goes."""

from __future__ import annotations

import io
import json
import os
import random
import socket
import urllib.request
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from PIL import Image

from tests.support.clients import Http
from tests.support.servers import Daphne, free_port, server_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/<pid>/fd"),
]

BODY = b"\xff\xd8\xff\xe0" + b"x" * 300_000  # well past Twisted's 100,000-byte threshold


# daphne (Twisted spools bodies past 100,000 bytes; patch 6) and uvicorn (the default).
@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def server(request, live_database_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("bodies")
    tmp = root / "tmp"
    tmp.mkdir()
    daphne = Daphne(port=free_port(), env=server_env(live_database_url, TMPDIR=str(tmp)),
                    log_path=root / "daphne.log", extra_args=["--server", request.param]).start()
    yield daphne, tmp
    daphne.stop()


def _open_under(pid: int, directory: Path) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def _read_until(conn: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_large_request_body_is_never_written_to_a_temporary_file(server, framing):
    daphne, tmp = server
    head = ("POST /api/v1/rooms/lounge-cardiology/attachments HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{daphne.port}\r\nContent-Type: image/jpeg\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n")
    head += (f"Content-Length: {len(BODY)}\r\n" if framing == "content-length"
             else "Transfer-Encoding: chunked\r\n")
    with socket.create_connection(("127.0.0.1", daphne.port), timeout=15) as conn:
        conn.sendall(head.encode() + b"\r\n")
        # Twisted answers 100 Continue only after it has chosen the body's file.
        assert _read_until(conn, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue")
        conn.sendall(BODY[:150_000] if framing == "content-length"
                     else b"%x\r\n%s\r\n" % (150_000, BODY[:150_000]))
        assert _open_under(daphne.proc.pid, tmp) == []
        rest = BODY[150_000:]
        conn.sendall(rest if framing == "content-length"
                     else b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        reply = _read_until(conn, b"\r\n\r\n")
    # Refused (no session), as JSON: the body reached the application and nothing else.
    status = reply.split(b"\r\n", 1)[0]
    assert status in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 403 Forbidden"), reply[:200]
    assert list(tmp.iterdir()) == []


async def test_a_large_upload_still_arrives_whole(server, make_physician):
    """The same path with a session: a 300×300 image of noise (a PNG of ~270 KB, past
    Twisted's threshold) is stored at its size, and nothing was written under TMPDIR."""
    from rooms import services

    daphne, tmp = server
    physician, email, password = await sync_to_async(make_physician)()
    await sync_to_async(services.room_join)(room_id="lounge-cardiology", user=physician.user)
    http = Http(daphne.http)
    await sync_to_async(http.login)(email, password)
    rng = random.Random(11)
    image = Image.frombytes("RGB", (300, 300), bytes(rng.randrange(256) for _ in range(270_000)))
    data = io.BytesIO()
    image.save(data, "PNG")
    assert len(data.getvalue()) > 200_000

    def upload() -> tuple[int, dict]:
        req = urllib.request.Request(
            f"{http.base}/api/v1/rooms/lounge-cardiology/attachments?confirm_phi=1",
            data=data.getvalue(), method="POST",
            headers={"Content-Type": "image/png", "X-CSRFToken": http.cookie("csrftoken") or ""})
        with http.opener.open(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())

    status, body = await sync_to_async(upload)()
    assert status == 201, body
    assert (body["attachment"]["width"], body["attachment"]["height"]) == (300, 300)
    assert list(tmp.iterdir()) == []
