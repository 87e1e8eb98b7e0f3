"""The runtime patches of third-party internals (gateway/patches.py) still fit what is
installed: each patched name exists, the installed version is one the patch was written for,
``apply()`` skips nothing and is idempotent, and what each patch promises holds afterwards.
An upgrade that moves or renames a patched internal fails here, not in production."""

from __future__ import annotations

import functools
from importlib.metadata import version

import autobahn.websocket.protocol as autobahn_protocol
import daphne.server
import pytest
from twisted.web import http as twisted_http

from gateway import patches


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_the_patched_name_exists_in_the_installed_package(patch):
    assert hasattr(patch.module, patch.attribute), (
        f"{patch.package} {version(patch.package)} has no {patch.attribute}")


@pytest.mark.parametrize("patch", patches.PATCHES, ids=lambda p: p.name)
def test_the_installed_version_is_one_the_patch_was_written_for(patch):
    assert patch.installed_major() in patch.majors, (
        f"{patch.package} {version(patch.package)} is not in {patch.majors}: measure the "
        f"patch {patch.name} again and widen its majors (or drop it)")
    assert patch.applicable()


def test_every_patch_has_an_apply_branch_and_a_unique_name():
    assert len({p.name for p in patches.PATCHES}) == len(patches.PATCHES)
    assert {p.name for p in patches.PATCHES} == {
        "autobahn-lazy-pformat", "autobahn-timings-str", "twisted-content-type-lru",
        "daphne-close-frame", "autobahn-send-limit", "twisted-form-bodies-unparsed"}


def test_apply_skips_nothing_and_is_idempotent():
    assert patches.apply() == []
    first = (autobahn_protocol.pformat, autobahn_protocol.Timings.__str__,
             twisted_http._parseContentType, daphne.server.WebSocketFactory)
    assert patches.apply() == []
    assert patches.apply() == []
    again = (autobahn_protocol.pformat, autobahn_protocol.Timings.__str__,
             twisted_http._parseContentType, daphne.server.WebSocketFactory)
    assert again == first  # nothing re-wrapped
    assert {p.name for p in patches.PATCHES} <= patches._applied


def test_the_content_type_parser_is_memoized_once():
    patches.apply()
    parse = twisted_http._parseContentType
    assert isinstance(parse, functools._lru_cache_wrapper)
    # Wrapped exactly once: the original underneath is the plain function.
    assert not isinstance(parse.__wrapped__, functools._lru_cache_wrapper)
    assert parse(b"text/html; charset=utf-8") == parse.__wrapped__(b"text/html; charset=utf-8")


def test_autobahn_pformat_is_deferred_and_still_formats():
    patches.apply()
    lazy = autobahn_protocol.pformat({"b": 2, "a": 1})
    assert isinstance(lazy, patches._LazyPformat)
    assert str(lazy) == "{'a': 1, 'b': 2}"
    assert f"{lazy}" == "{'a': 1, 'b': 2}"


def test_autobahn_timings_str_returns_a_str_after_apply():
    # It used to return the lazy pformat object (the module-level name it used was
    # patched), and str() raised TypeError: __str__ returned non-string.
    patches.apply()
    timings = autobahn_protocol.Timings()
    timings.track("onOpen")
    text = str(timings)
    assert isinstance(text, str)
    assert "onOpen" in text


def test_daphne_server_builds_the_closing_factory():
    patches.apply()
    assert daphne.server.WebSocketFactory is patches.ClosingWebSocketFactory

    class _Server:
        pass

    # What daphne.server.Server does: WebSocketFactory(self, server=self.server_name).
    factory = daphne.server.WebSocketFactory(_Server(), server="daphne")
    assert isinstance(factory, patches.ClosingWebSocketFactory)
    assert factory.failByDrop is False  # the 1009 close frame is sent before the TCP close


def test_a_patch_for_another_version_or_a_missing_name_is_skipped(monkeypatch):
    applied = []
    monkeypatch.setattr(patches, "_apply_one", applied.append)
    wrong_major = patches.Patch("wrong-major", "daphne", (999,), daphne.server, "WebSocketFactory")
    gone = patches.Patch("gone", "daphne", (int(version("daphne").split(".")[0]),),
                         daphne.server, "NoSuchName")
    monkeypatch.setattr(patches, "PATCHES", (wrong_major, gone))
    assert patches.apply() == ["wrong-major", "gone"]
    assert applied == []
    assert not wrong_major.applicable() and not gone.applicable()


def test_twisted_leaves_form_bodies_to_the_application():
    """Patch 5: daphne's requests are built with Twisted's form parsing off (a malformed
    multipart body is the application's to refuse, in JSON: tests/e2e/test_fuzz_regressions.py)."""
    import inspect

    import daphne.http_protocol

    patches.apply()
    assert daphne.http_protocol.WebRequest is patches.FormsUnparsedWebRequest
    assert "parsePOSTFormSubmission" in inspect.signature(twisted_http.Request.__init__).parameters


def test_request_bodies_stay_in_memory_and_an_oversized_one_still_reads_as_too_large(settings):
    """Patch 6: Twisted's ``gotLength`` is where a body's file is chosen (a temporary file
    from 100,000 bytes, tests/e2e/test_request_bodies.py): ours is in memory, and keeps one
    byte past the cap so a reader still sees a body over every limit."""
    assert "gotLength" in vars(twisted_http.Request)
    request = patches.FormsUnparsedWebRequest.__new__(patches.FormsUnparsedWebRequest)
    for length in (None, 0, 99_999, 100_000, 50 * 1024 * 1024):
        request.gotLength(length)
        assert isinstance(request.content, patches.BoundedBody)
    cap = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    body = patches.BoundedBody(cap)
    for _ in range(3):
        body.write(memoryview(b"x" * (cap // 2 + 7)))
    body.seek(0)
    assert len(body.read()) == cap + 1
    exact = patches.BoundedBody(cap)
    exact.write(b"y" * cap)
    exact.seek(0)
    assert exact.read() == b"y" * cap
