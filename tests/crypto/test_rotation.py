"""Key rotation end to end: rotate, rewrap (crypto's keys and another app's), retire."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crypto import aead, envelope, keys, personal, rotation
from crypto.envelope import message_open, message_seal
from crypto.models import AuthorKey, RoomKey

pytestmark = pytest.mark.django_db


def seal_some() -> list[tuple[str, str, int, str, envelope.Sealed, bytes]]:
    out = []
    for room in ("r1", "r2"):
        for i, author in enumerate(["a" * 32, "b" * 32, "a" * 32]):
            body = f"{room} message {i}".encode()
            sealed = message_seal(room_id=room, message_id=f"m{i}", seq=i, author=author, body=body)
            out.append((room, f"m{i}", i, author, sealed, body))
    return out


def open_all(items) -> None:
    for room, mid, seq, author, sealed, body in items:
        assert message_open(room_id=room, message_id=mid, seq=seq, author=author, sealed=sealed) == body


@pytest.fixture
def personal_keys_of_another_app():
    """Stands in for physicians.User.personal_key: wrapped with crypto.personal, stored elsewhere."""
    store: dict[str, bytes] = {}
    plain: dict[str, bytes] = {}
    for owner in ("u1", "u2", "u3"):
        plain[owner], store[owner] = personal.new_personal_key(owner)

    def rewrap(owner: str) -> bool:
        active, _ = keys.keyring().active("personal")
        if aead.wrapped_version(store[owner]) == active:
            return False
        store[owner] = personal.rewrap_personal_key(owner, store[owner])
        return True

    rotation.register_wrapped_keys(
        "test.personal_key",
        purpose="personal",
        iter_fn=lambda: list(store),
        rewrap_fn=rewrap,
        count_by_version_fn=lambda: rotation.count_versions(store.values()),
    )
    yield store, plain
    rotation.unregister_wrapped_keys("test.personal_key")


def test_rotate_rewrap_retire_end_to_end(isolated_keys, capsys, personal_keys_of_another_app):
    store, plain = personal_keys_of_another_app
    items = seal_some()
    assert set(RoomKey.objects.values_list("kek_version", flat=True)) == {1}

    call_command("keys", "rotate", "--purpose", "messages")
    call_command("keys", "rotate", "--purpose", "personal")
    assert keys.keyring().active("messages")[0] == 2
    # Old rows still open before the rewrap (v1 is still in the keyring) ...
    envelope.cache_clear()
    open_all(items)
    # ... and retiring v1 now is refused: keys still depend on it.
    with pytest.raises(CommandError, match="still depend"):
        call_command("keys", "retire", "--purpose", "messages", "--version", "1")
    with pytest.raises(CommandError, match="still depend"):
        call_command("keys", "retire", "--purpose", "personal", "--version", "1")

    bodies_before = {(r.room_id, r.epoch): r.message_count for r in RoomKey.objects.all()}
    capsys.readouterr()
    call_command("keys", "rewrap")
    out = capsys.readouterr().out
    assert "crypto.room_key: rewrapped 2" in out
    assert "crypto.author_key: rewrapped 4" in out
    assert "test.personal_key: rewrapped 3" in out
    assert set(RoomKey.objects.values_list("kek_version", flat=True)) == {2}
    assert set(AuthorKey.objects.values_list("kek_version", flat=True)) == {2}
    assert {r.room_id: r.message_count for r in RoomKey.objects.all()} == {
        room: n for (room, _), n in bodies_before.items()
    }

    call_command("keys", "retire", "--purpose", "messages", "--version", "1")
    call_command("keys", "retire", "--purpose", "personal", "--version", "1")
    ring = json.loads(isolated_keys.read_text())
    assert list(ring["purposes"]["messages"]["keys"]) == ["2"]
    assert ring["purposes"]["messages"]["retired"] == [1]

    # A fresh process (no cached keys) with only v2 in the keyring reads everything.
    keys.reset()
    envelope.cache_clear()
    open_all(items)
    for owner, wrapped in store.items():
        assert aead.wrapped_version(wrapped) == 2
        assert personal.unwrap_personal_key(owner, wrapped) == plain[owner]
    # New material goes under v2.
    message_seal(room_id="r3", message_id="x", seq=1, author="c" * 32, body=b"new")
    assert RoomKey.objects.get(room_id="r3").kek_version == 2

    capsys.readouterr()
    call_command("keys", "status")
    status = capsys.readouterr().out
    assert "messages  crypto.room_key: v2=3" in status
    assert "v1=" not in status


def test_rewrap_is_idempotent(capsys):
    seal_some()
    call_command("keys", "rotate", "--purpose", "messages")
    call_command("keys", "rewrap")
    capsys.readouterr()
    call_command("keys", "rewrap")
    assert "crypto.room_key: rewrapped 0" in capsys.readouterr().out


def test_deterministic_keys_are_not_rotatable():
    for purpose in ("pseudonym", "index"):
        with pytest.raises(CommandError, match="not rotatable"):
            call_command("keys", "rotate", "--purpose", purpose)


def test_active_version_cannot_be_retired():
    with pytest.raises(CommandError, match="active"):
        call_command("keys", "retire", "--purpose", "messages", "--version", "1")


def test_generate_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "new-keyring.json"
    call_command("keys", "generate", "--out", str(target))
    first = target.read_text()
    assert json.loads(first)["format"] == "curbside-keyring/1"
    with pytest.raises(CommandError, match="--force"):
        call_command("keys", "generate", "--out", str(target))
    assert target.read_text() == first
    call_command("keys", "generate", "--out", str(target), "--force")
    assert target.read_text() != first


def test_rotate_refuses_an_inline_keyring(settings):
    settings.CURBSIDE_KEYRING = keys.keyring().to_json()
    with pytest.raises(CommandError, match="CURBSIDE_KEYRING"):
        call_command("keys", "rotate", "--purpose", "messages")


def test_register_wrapped_field_rewraps_physicians_user_personal_keys(capsys):
    # Tests may import consult even though the crypto library itself never does.
    from physicians.models import User

    users = []
    for i in range(3):
        user = User(email_index=f"idx-{i}")
        plain, user.personal_key = personal.new_personal_key(str(user.pk))
        user.save()
        users.append((user.pk, plain))
    User.objects.create(email_index="erased", personal_key=None)

    # consult's AppConfig.ready() registered the field; rotation must cover it.
    call_command("keys", "rotate", "--purpose", "personal")
    with pytest.raises(CommandError, match="3 key"):
        call_command("keys", "retire", "--purpose", "personal", "--version", "1")
    capsys.readouterr()
    call_command("keys", "rewrap")
    assert "physicians.user.personal_key: rewrapped 3" in capsys.readouterr().out
    call_command("keys", "retire", "--purpose", "personal", "--version", "1")
    keys.reset()
    for pk, plain in users:
        wrapped = bytes(User.objects.get(pk=pk).personal_key)
        assert aead.wrapped_version(wrapped) == 2
        assert personal.unwrap_personal_key(str(pk), wrapped) == plain
